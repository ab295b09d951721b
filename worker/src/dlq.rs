//! The dead-letter consumer: a message that failed its maximum receives lands in the DLQ;
//! its file is marked FAILED with the last error recorded, and the message is removed.
//! A message whose file (or chunk) a live worker still holds waits in the DLQ until that
//! lease ends: the holder may yet finish it. Messages that are not file events stay in the
//! DLQ for an operator to inspect.

use std::{sync::Arc, time::Duration};

use common::event::FileEvent;
use tokio_util::sync::CancellationToken;

use crate::{context::Context, queue::Queue, store};

/// How long after a live lease ends its dead-lettered message is looked at again.
const AFTER_LEASE_SECS: i64 = 2;

/// The longest SQS hides a message (12 hours): how long a DLQ message that is not a file
/// event stays hidden before it is logged again.
const MAX_HIDDEN_SECS: i32 = 12 * 60 * 60;

/// Drains `dlq` until `shutdown` is cancelled.
pub async fn run(ctx: Arc<Context>, dlq: Arc<dyn Queue>, shutdown: CancellationToken) {
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            received = dlq.receive(10) => received,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(error.message = %format!("{error:#}"), "receiving from the DLQ failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        for message in messages {
            let event = match FileEvent::from_sqs_body(&message.body) {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!(message.id = %message.id, error.message = %error, "a DLQ message is not a file event; leaving it there for an operator");
                    if let Err(error) = dlq
                        .set_visibility(&message.receipt_handle, MAX_HIDDEN_SECS)
                        .await
                    {
                        tracing::warn!(error.message = %format!("{error:#}"), "failed to hide a foreign DLQ message");
                    }
                    continue;
                }
            };
            match store::live_lease(&ctx.db, event.file_id, event.chunk).await {
                Ok(None) => {}
                Ok(Some(expires_at)) => {
                    let wait = (expires_at - chrono::Utc::now()).num_seconds() + AFTER_LEASE_SECS;
                    let wait = i32::try_from(wait.clamp(1, i64::from(MAX_HIDDEN_SECS)))
                        .unwrap_or(MAX_HIDDEN_SECS);
                    tracing::info!(file.id = %event.file_id, "file {} is dead-lettered but a live worker holds it; looking again in {wait} s", event.file_id);
                    if let Err(error) = dlq.set_visibility(&message.receipt_handle, wait).await {
                        tracing::warn!(error.message = %format!("{error:#}"), "failed to hide a DLQ message");
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(error.message = %error, "reading the lease of a dead-lettered file failed");
                    continue;
                }
            }
            if fail_file(&ctx, &event).await
                && let Err(error) = dlq.delete(&message.receipt_handle).await
            {
                tracing::warn!(error.message = %format!("{error:#}"), "failed to delete a DLQ message");
            }
        }
    }
}

async fn fail_file(ctx: &Context, event: &FileEvent) -> bool {
    let last = store::last_error(&ctx.db, event.file_id)
        .await
        .ok()
        .flatten();
    let reason = match last {
        Some(last) => format!(
            "processing failed repeatedly and the message was dead-lettered; last error: {last}"
        ),
        None => "processing failed repeatedly and the message was dead-lettered".to_owned(),
    };
    match store::fail(&ctx.db, event.file_id, &reason).await {
        Ok(()) => {
            tracing::warn!(file.id = %event.file_id, "file {} dead-lettered and marked FAILED", event.file_id);
            true
        }
        Err(error) => {
            tracing::error!(file.id = %event.file_id, error.message = %error, "failed to mark a dead-lettered file FAILED");
            false
        }
    }
}
