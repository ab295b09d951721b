//! The dead-letter consumer. A file or chunk message lands in the DLQ once SQS has handed it
//! out the maximum number of times, whether the receives were spent by errors or by workers
//! killed while they held it (a crash spends one, sometimes two). So the budget counts
//! progress, not receives:
//!
//! - a message whose work a live worker still holds waits in the DLQ until that lease ends:
//!   the holder may yet finish it;
//! - a file or chunk that recorded results since it was last sent (or ever, the first time)
//!   is sent back to the queue, at most `DLQ_MAX_REDRIVES` times: its crashes got somewhere;
//! - one that made no progress has its file marked FAILED with the last reason recorded, and
//!   the message is removed.
//!
//! Messages that are not file events stay in the DLQ for an operator to inspect.

use std::sync::Arc;

use async_trait::async_trait;
use entity::FileStatus;
use store::redrives::Progress;
use tokio_util::sync::CancellationToken;

use crate::{
    message::WorkerMessage,
    queue::{Message, Queue},
    receive::{self, Batch, Disposition, Handler, LoopSettings},
    state::WorkerState,
};

/// How long after a live lease ends its dead-lettered message is looked at again.
const AFTER_LEASE_SECS: i64 = 2;

/// The longest SQS hides a message (12 hours): how long a DLQ message that is not a file
/// event stays hidden before it is logged again.
const MAX_HIDDEN_SECS: i32 = 12 * 60 * 60;

/// Drains `dlq` until `shutdown` is cancelled, sending work that progressed back to `queue`:
/// the [`receive`](crate::receive) loop, ten messages at a time, handled one after another.
pub async fn run(
    ctx: Arc<WorkerState>,
    dlq: Arc<dyn Queue>,
    queue: Arc<dyn Queue>,
    shutdown: CancellationToken,
) {
    let settings = LoopSettings {
        receiving: "from the DLQ",
        concurrency: 1,
        batch: Batch::Fixed(10),
        heartbeat_secs: None,
        shutdown_grace: ctx.settings.worker.shutdown_grace,
    };
    receive::run(dlq, Arc::new(DlqHandler { ctx, queue }), settings, shutdown).await;
}

/// Decides on dead-lettered messages.
#[derive(Debug)]
struct DlqHandler {
    ctx: Arc<WorkerState>,
    /// Where work that progressed is sent back.
    queue: Arc<dyn Queue>,
}

#[async_trait]
impl Handler for DlqHandler {
    async fn handle(&self, message: &Message, _stop: &CancellationToken) -> Disposition {
        handle(&self.ctx, self.queue.as_ref(), message).await
    }
}

/// What to do with a dead-lettered file event.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// A live worker holds the work: look again after this many seconds.
    Wait(i32),
    /// Nothing is left to do (the file is terminal or gone, the chunk done): remove it.
    Drop,
    /// It made progress since it was last sent: send it back to the queue.
    Redrive(Progress),
    /// It made none, or was sent back too often: fail the file.
    Fail(Progress),
}

/// Decides on a dead-lettered event and carries the decision out; the message is deleted
/// only once that is done, so a consumer that dies midway leaves it to the next.
async fn handle(ctx: &WorkerState, queue: &dyn Queue, message: &Message) -> Disposition {
    let event = match WorkerMessage::from_sqs_body(&message.body) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(message.id = %message.id, error.message = %error, "a DLQ message is not a file event; leaving it there for an operator");
            return Disposition::Hide(MAX_HIDDEN_SECS);
        }
    };
    let file_id = event.file_id();
    let decision = match decide(ctx, &event).await {
        Ok(decision) => decision,
        Err(error) => {
            tracing::warn!(file.id = %file_id, error.message = %error, "reading the progress of dead-lettered file {file_id} failed");
            return Disposition::Leave;
        }
    };
    let done = match decision {
        Decision::Wait(seconds) => {
            tracing::info!(file.id = %file_id, "file {file_id} is dead-lettered but a live worker holds it; looking again in {seconds} s");
            return Disposition::Hide(seconds);
        }
        Decision::Drop => true,
        Decision::Redrive(progress) => redrive(ctx, queue, message, &event, progress).await,
        Decision::Fail(progress) => fail_file(ctx, &event, progress).await,
    };
    if done {
        Disposition::Delete
    } else {
        Disposition::Leave
    }
}

async fn decide(ctx: &WorkerState, event: &WorkerMessage) -> Result<Decision, sea_orm::DbErr> {
    if let Some(expires_at) = store::leases::live_until(&ctx.db, event.work()).await? {
        let wait = (expires_at - chrono::Utc::now()).num_seconds() + AFTER_LEASE_SECS;
        let wait =
            i32::try_from(wait.clamp(1, i64::from(MAX_HIDDEN_SECS))).unwrap_or(MAX_HIDDEN_SECS);
        return Ok(Decision::Wait(wait));
    }
    let Some(progress) = store::redrives::progress(&ctx.db, event.work()).await? else {
        return Ok(Decision::Drop);
    };
    let cap = i32::try_from(ctx.settings.worker.max_redrives).unwrap_or(i32::MAX);
    Ok(if progress.advanced() && progress.redrives < cap {
        Decision::Redrive(progress)
    } else {
        Decision::Fail(progress)
    })
}

/// Sends the message back to the main queue, then notes it. A duplicate (when noting fails
/// and the message is sent again later) is harmless: leases keep one worker on the work.
async fn redrive(
    ctx: &WorkerState,
    queue: &dyn Queue,
    message: &Message,
    event: &WorkerMessage,
    progress: Progress,
) -> bool {
    let (file_id, what) = (event.file_id(), event.work());
    if let Err(error) = queue.send(vec![message.body.clone()]).await {
        tracing::warn!(file.id = %file_id, error.message = %format!("{error:#}"), "failed to send {what} back to the queue");
        return false;
    }
    if let Err(error) = store::redrives::note_redrive(&ctx.db, event.work(), progress).await {
        tracing::warn!(file.id = %file_id, error.message = %error, "failed to note the redrive of {what}");
        return false;
    }
    tracing::info!(
        file.id = %file_id, results = progress.recorded, redrives = progress.redrives + 1,
        "{what} was dead-lettered after recording results ({} since it was last sent); sent it back to the queue",
        progress.recorded - progress.mark
    );
    true
}

/// Why a dead-lettered file fails, for users.
fn failure_reason(progress: Progress, max_redrives: u32, last: Option<&str>) -> String {
    let what = if progress.advanced() {
        format!(
            "processing was interrupted too often: the message was dead-lettered after being \
             sent back {max_redrives} times (DLQ_MAX_REDRIVES)"
        )
    } else if progress.redrives == 0 {
        "processing failed repeatedly without recording any result, and the message was \
         dead-lettered"
            .to_owned()
    } else {
        format!(
            "processing made no progress since the message was last sent back ({} times), and \
             it was dead-lettered again",
            progress.redrives
        )
    };
    match last {
        Some(last) => format!("{what}; last error: {last}"),
        None => format!(
            "{what}; no error was recorded: the workers handling it stopped (crashed or were \
             killed)"
        ),
    }
}

async fn fail_file(ctx: &WorkerState, event: &WorkerMessage, progress: Progress) -> bool {
    let last = store::files::last_error(&ctx.db, event.file_id())
        .await
        .ok()
        .flatten();
    let reason = failure_reason(progress, ctx.settings.worker.max_redrives, last.as_deref());
    match store::files::fail(&ctx.db, event.file_id(), &reason).await {
        Ok(failed) => {
            if failed {
                common::metrics::file_finished(FileStatus::Failed);
            }
            tracing::warn!(file.id = %event.file_id(), "{} dead-lettered without progress; file {} marked FAILED", event.work(), event.file_id());
            true
        }
        Err(error) => {
            tracing::error!(file.id = %event.file_id(), error.message = %error, "failed to mark a dead-lettered file FAILED");
            false
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

    /// A DLQ message that is not a file event stays there for an operator, looked at again
    /// only after SQS's longest hiding time; nothing is sent back to the queue.
    #[tokio::test(start_paused = true)]
    async fn a_message_that_is_not_a_file_event_stays_in_the_dlq() {
        let (dlq, queue) = (
            Arc::new(MemoryQueue::default()),
            Arc::new(MemoryQueue::default()),
        );
        let poison = dlq.push("not json");
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(run(
            context(&[]),
            dlq.clone(),
            queue.clone(),
            shutdown.clone(),
        ));
        until(|| !dlq.visibility_changes(&poison).is_empty()).await;
        shutdown.cancel();
        running.await.unwrap();
        assert_eq!(dlq.visibility_changes(&poison), [MAX_HIDDEN_SECS]);
        assert!(dlq.deleted().is_empty());
        assert!(queue.sent().is_empty());
    }

    #[test]
    fn the_reason_says_why_the_budget_ran_out() {
        let stuck = Progress {
            recorded: 0,
            mark: 0,
            redrives: 0,
        };
        let reason = failure_reason(stuck, 10, None);
        assert!(reason.contains("without recording any result"), "{reason}");
        assert!(reason.contains("crashed or were killed"), "{reason}");
        let stalled = Progress {
            recorded: 40,
            mark: 40,
            redrives: 2,
        };
        let reason = failure_reason(stalled, 10, Some("processing was interrupted"));
        assert!(reason.contains("no progress since"), "{reason}");
        assert!(
            reason.ends_with("last error: processing was interrupted"),
            "{reason}"
        );
        let restless = Progress {
            recorded: 90,
            mark: 40,
            redrives: 10,
        };
        assert!(failure_reason(restless, 10, None).contains("sent back 10 times"));
        for reason in [
            failure_reason(stuck, 10, None),
            failure_reason(stalled, 10, None),
            failure_reason(restless, 10, None),
        ] {
            assert!(reason.contains("dead-lettered"), "{reason}");
        }
    }
}
