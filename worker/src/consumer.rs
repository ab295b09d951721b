//! The file-event consumer: the [`receive`](crate::receive) loop over the queue with a
//! [`FileHandler`], which parses each message, processes its file (or chunk) while renewing
//! the lease on it, and says whether the message is deleted, retried later or released.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use common::metrics;
use entity::FileStatus;
use store::Lease;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    message::WorkerMessage,
    process::{Outcome, ProcessError, process_message},
    queue::{Message, Queue},
    receive::{self, Batch, Disposition, Handler, LoopSettings},
    state::WorkerState,
};

/// Consumes `queue` until `shutdown` is cancelled, then finishes or releases the files in
/// flight within the grace period.
pub async fn run(
    ctx: Arc<WorkerState>,
    queue: Arc<dyn Queue>,
    owner: Uuid,
    shutdown: CancellationToken,
) {
    let worker = &ctx.settings.worker;
    let settings = LoopSettings {
        receiving: "messages",
        concurrency: worker.file_concurrency,
        batch: Batch::FreeSlots,
        heartbeat_secs: Some(worker.visibility_timeout_secs),
        shutdown_grace: worker.shutdown_grace,
    };
    let handler = Arc::new(FileHandler {
        ctx: ctx.clone(),
        queue: queue.clone(),
        owner,
    });
    receive::run(queue, handler, settings, shutdown).await;
}

/// Handles file events for worker `owner`.
#[derive(Debug)]
pub struct FileHandler {
    ctx: Arc<WorkerState>,
    /// Where chunk messages of a large file are sent.
    queue: Arc<dyn Queue>,
    owner: Uuid,
}

#[async_trait]
impl Handler for FileHandler {
    async fn handle(&self, message: &Message, stop: &CancellationToken) -> Disposition {
        handle_message(&self.ctx, &self.queue, message, self.owner, stop).await
    }
}

/// Handles one message: parse, process while renewing the lease, then say whether to delete,
/// release or leave it.
async fn handle_message(
    ctx: &Arc<WorkerState>,
    queue: &Arc<dyn Queue>,
    message: &Message,
    owner: Uuid,
    stop: &CancellationToken,
) -> Disposition {
    let event = match WorkerMessage::from_sqs_body(&message.body) {
        Ok(event) => event,
        Err(error) => {
            // Not ours to drop: after the maximum receives SQS moves it to the DLQ, where
            // an operator can look at it.
            tracing::error!(error.message = %error, receive_count = message.receive_count, "message {} is not a file event; leaving it for the DLQ", message.id);
            return Disposition::Hide(ctx.settings.worker.retry_delay_secs);
        }
    };
    tracing::Span::current().record("file.id", tracing::field::display(event.file_id()));
    let lease = ctx.lease(event.work(), owner);
    let renewing = CancellationToken::new();
    let renewal = tokio::spawn(renew_lease(ctx.clone(), lease, renewing.clone()));
    let result = process_message(ctx, queue.as_ref(), &event, owner, stop).await;
    renewing.cancel();
    let _ = renewal.await;
    match result {
        Ok(Outcome::Done) => Disposition::Delete,
        Ok(Outcome::HeldElsewhere) => {
            tracing::info!(
                "file {} is held by another worker; leaving the message",
                event.file_id()
            );
            Disposition::Hide(ctx.settings.worker.retry_delay_secs)
        }
        Ok(Outcome::Interrupted) => {
            if let Err(error) = lease.release(&ctx.db).await {
                tracing::warn!(error.message = %error, "failed to release file {}", event.file_id());
            }
            tracing::info!("released file {} for another worker", event.file_id());
            Disposition::Hide(0)
        }
        Err(ProcessError::Permanent { reason, detail }) => {
            let detail = detail.map(|detail| format!("{detail:#}"));
            tracing::warn!(error.message = %reason, error.detail = detail.as_deref(), "file {} failed", event.file_id());
            match store::files::fail(&ctx.db, event.file_id(), &reason).await {
                Ok(failed) => {
                    if failed {
                        metrics::file_finished(FileStatus::Failed);
                    }
                    Disposition::Delete
                }
                Err(error) => {
                    tracing::error!(error.message = %error, "failed to mark file {} FAILED; SQS will redeliver", event.file_id());
                    Disposition::Leave
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
            Disposition::Hide(delay.min(ctx.settings.worker.visibility_timeout_secs))
        }
    }
}

/// Renews `lease` every third of it until `done`, so that no other worker takes a file this
/// one is still working on. (The receive loop keeps the message hidden as long.)
async fn renew_lease(ctx: Arc<WorkerState>, lease: Lease, done: CancellationToken) {
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
        match lease.renew(&ctx.db).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("lost the lease on {}", lease.work),
            Err(error) => {
                tracing::warn!(error.message = %error, "heartbeat failed to renew the lease")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        queue::memory::MemoryQueue,
        testing::{context, until},
    };

    /// A poison message is neither dropped nor retried at once: it is hidden for the retry
    /// delay, and after the maximum receives SQS moves it to the DLQ.
    #[tokio::test(start_paused = true)]
    async fn a_message_that_is_not_a_file_event_is_left_for_the_dlq() {
        let queue = Arc::new(MemoryQueue::default());
        let poison = queue.push("{\"not\": \"a file event\"}");
        let ctx = context(&[("SQS_RETRY_DELAY_SECS", "7")]);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(run(ctx, queue.clone(), Uuid::nil(), shutdown.clone()));
        until(|| !queue.visibility_changes(&poison).is_empty()).await;
        shutdown.cancel();
        running.await.unwrap();
        assert_eq!(queue.visibility_changes(&poison), [7]);
        assert!(queue.deleted().is_empty());
    }
}
