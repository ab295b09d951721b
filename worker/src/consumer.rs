//! The receive loop: long-polls the queue while permits for files are free, handles each
//! message in its own task with a heartbeat, and on shutdown stops polling, then finishes or
//! releases what is in flight within the grace period.

use std::{sync::Arc, time::Duration};

use common::metrics;
use entity::FileStatus;
use store::Lease;
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    message::WorkerMessage,
    process::{Outcome, ProcessError, process_message},
    queue::{Message, Queue},
    state::WorkerState,
};

/// Consumes `queue` until `shutdown` is cancelled.
pub async fn run(
    ctx: Arc<WorkerState>,
    queue: Arc<dyn Queue>,
    owner: Uuid,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(ctx.settings.worker.file_concurrency));
    let stop_work = CancellationToken::new();
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let wanted = 1 + i32::try_from(permits.available_permits().min(9)).unwrap_or(0);
        let received = tokio::select! {
            () = shutdown.cancelled() => break,
            received = queue.receive(wanted) => received,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(error.message = %format!("{error:#}"), "receiving messages failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (ctx, queue, stop) = (ctx.clone(), queue.clone(), stop_work.clone());
            let span = tracing::info_span!("message", message.id = %message.id, file.id = tracing::field::Empty);
            tasks.spawn(
                async move {
                    handle_message(&ctx, &queue, message, owner, &stop).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
    }
    drain(tasks, stop_work, ctx.settings.worker.shutdown_grace).await;
}

/// Waits up to `grace` for tasks, then asks the rest to release their files and waits for
/// them to do so.
async fn drain(mut tasks: JoinSet<()>, stop_work: CancellationToken, grace: Duration) {
    if tasks.is_empty() {
        return;
    }
    tracing::info!(tasks = tasks.len(), "waiting for files in flight");
    let finished =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            tasks = tasks.len(),
            "grace period over; releasing files in flight"
        );
        stop_work.cancel();
        while tasks.join_next().await.is_some() {}
    }
}

/// Handles one message: parse, process with a heartbeat, then delete, release or leave it.
async fn handle_message(
    ctx: &Arc<WorkerState>,
    queue: &Arc<dyn Queue>,
    message: Message,
    owner: Uuid,
    stop: &CancellationToken,
) {
    let event = match WorkerMessage::from_sqs_body(&message.body) {
        Ok(event) => event,
        Err(error) => {
            // Not ours to drop: after the maximum receives SQS moves it to the DLQ, where
            // an operator can look at it.
            tracing::error!(error.message = %error, receive_count = message.receive_count, "message {} is not a file event; leaving it for the DLQ", message.id);
            set_visibility(
                queue.as_ref(),
                &message,
                ctx.settings.worker.retry_delay_secs,
            )
            .await;
            return;
        }
    };
    tracing::Span::current().record("file.id", tracing::field::display(event.file_id()));
    let lease = ctx.lease(event.work(), owner);
    let heartbeat = CancellationToken::new();
    let beating = tokio::spawn(heartbeat_loop(
        ctx.clone(),
        queue.clone(),
        message.receipt_handle.clone(),
        lease,
        heartbeat.clone(),
    ));
    let result = process_message(ctx, queue.as_ref(), &event, owner, stop).await;
    heartbeat.cancel();
    let _ = beating.await;
    let queue = queue.as_ref();
    match result {
        Ok(Outcome::Done) => delete(queue, &message).await,
        Ok(Outcome::HeldElsewhere) => {
            tracing::info!(
                "file {} is held by another worker; leaving the message",
                event.file_id()
            );
            set_visibility(queue, &message, ctx.settings.worker.retry_delay_secs).await;
        }
        Ok(Outcome::Interrupted) => {
            if let Err(error) = lease.release(&ctx.db).await {
                tracing::warn!(error.message = %error, "failed to release file {}", event.file_id());
            }
            set_visibility(queue, &message, 0).await;
            tracing::info!("released file {} for another worker", event.file_id());
        }
        Err(ProcessError::Permanent { reason, detail }) => {
            let detail = detail.map(|detail| format!("{detail:#}"));
            tracing::warn!(error.message = %reason, error.detail = detail.as_deref(), "file {} failed", event.file_id());
            match store::files::fail(&ctx.db, event.file_id(), &reason).await {
                Ok(failed) => {
                    if failed {
                        metrics::file_finished(FileStatus::Failed);
                    }
                    delete(queue, &message).await
                }
                Err(error) => {
                    tracing::error!(error.message = %error, "failed to mark file {} FAILED; SQS will redeliver", event.file_id())
                }
            }
        }
        Err(ProcessError::Transient(error)) => {
            tracing::warn!(error.message = %format!("{error:#}"), receive_count = message.receive_count, "file {} hit a transient error; SQS will redeliver", event.file_id());
            // Users see which service failed; the error itself is for the logs.
            let reason = ProcessError::interruption(&error);
            let _ = store::files::note_error(&ctx.db, event.file_id(), &reason).await;
            let _ = lease.release(&ctx.db).await;
            let delay = ctx
                .settings
                .worker
                .retry_delay_secs
                .saturating_mul(i32::try_from(message.receive_count).unwrap_or(1));
            set_visibility(
                queue,
                &message,
                delay.min(ctx.settings.worker.visibility_timeout_secs),
            )
            .await;
        }
    }
}

async fn heartbeat_loop(
    ctx: Arc<WorkerState>,
    queue: Arc<dyn Queue>,
    receipt_handle: String,
    lease: Lease,
    done: CancellationToken,
) {
    let every = Duration::from_secs(
        u64::try_from(ctx.settings.worker.visibility_timeout_secs / 3)
            .unwrap_or(1)
            .max(1),
    );
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match queue
            .set_visibility(&receipt_handle, ctx.settings.worker.visibility_timeout_secs)
            .await
        {
            Ok(()) => metrics::visibility_extended(),
            Err(error) => {
                tracing::warn!(error.message = %format!("{error:#}"), "heartbeat failed to extend the message")
            }
        }
        match lease.renew(&ctx.db).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("lost the lease on {}", lease.work),
            Err(error) => {
                tracing::warn!(error.message = %error, "heartbeat failed to renew the lease")
            }
        }
    }
}

async fn set_visibility(queue: &dyn Queue, message: &Message, seconds: i32) {
    if let Err(error) = queue.set_visibility(&message.receipt_handle, seconds).await {
        tracing::warn!(error.message = %format!("{error:#}"), "failed to change the visibility of message {}", message.id);
    }
}

async fn delete(queue: &dyn Queue, message: &Message) {
    if let Err(error) = queue.delete(&message.receipt_handle).await {
        tracing::warn!(error.message = %format!("{error:#}"), "failed to delete message {}", message.id);
    }
}
