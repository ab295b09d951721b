//! Announcing stored files on SNS, and re-announcing those whose first publish failed, so
//! that no accepted file is ever lost; and announcing retries of a file's failed results.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sns::types::MessageAttributeValue;
use chrono::Utc;
use common::event::{FILE_RETRY_REQUESTED, FILE_UPLOADED, FileEvent};
use common::metrics::{self, ApiPhase};
use entity::files;
use store::announcements::{self, Unannounced};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Files re-published per sweep of the re-publisher.
const REPUBLISH_BATCH: u64 = 50;

/// Publishes the event of `file` to the topic, with `eventType` and `fileId` attributes.
pub async fn publish_file_event(state: &AppState, file: &files::Model) -> anyhow::Result<()> {
    publish(state, file, FILE_UPLOADED, event_of(file).to_json()).await
}

/// Asks the workers, through the same topic and queue as uploads, to resolve again the failed
/// results of `file` that a retry marked ([`store::retries::begin`]).
pub async fn publish_retry(state: &AppState, file: &files::Model) -> anyhow::Result<()> {
    publish(
        state,
        file,
        FILE_RETRY_REQUESTED,
        event_of(file).to_retry_json(),
    )
    .await
}

fn event_of(file: &files::Model) -> FileEvent {
    FileEvent {
        file_id: file.id,
        s3_bucket: file.s3_bucket.clone(),
        s3_key: file.s3_key.clone(),
    }
}

/// Publishes `body` about `file` to the topic, with `eventType` and `fileId` attributes.
async fn publish(
    state: &AppState,
    file: &files::Model,
    event_type: &str,
    body: String,
) -> anyhow::Result<()> {
    let attribute = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    };
    state
        .aws
        .sns
        .publish()
        .topic_arn(&state.settings.aws.topic_arn)
        .message(body)
        .message_attributes("eventType", attribute(event_type)?)
        .message_attributes("fileId", attribute(&file.id.to_string())?)
        .send()
        .await
        .with_context(|| format!("failed to publish the {event_type} event to SNS"))?;
    Ok(())
}

/// Publishes the event of a new file and records that it was sent. A failure is logged and
/// left to the re-publisher: the file is stored and will be processed later.
pub async fn announce(state: &AppState, file: &files::Model) {
    let started = Instant::now();
    let published = publish_file_event(state, file).await;
    metrics::api_phase(ApiPhase::Publish, started.elapsed());
    let outcome = match published {
        Ok(()) => {
            let started = Instant::now();
            let marked = announcements::mark_published(&state.db, file.id)
                .await
                .context("failed to record the publish");
            metrics::api_phase(ApiPhase::MarkPublished, started.elapsed());
            marked
        }
        Err(error) => Err(error),
    };
    if let Err(error) = outcome {
        tracing::warn!(
            file.id = %file.id,
            error.message = %format!("{error:#}"),
            "file {} stored but not announced; the re-publisher will retry", file.id
        );
    }
}

/// Publishes once more every PENDING file that has waited longer than `republish_after`
/// without a recorded publish. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several
/// api instances share the work. Returns how many were published.
pub async fn republish_stale(state: &AppState) -> anyhow::Result<usize> {
    let cutoff = Utc::now()
        - chrono::Duration::from_std(state.settings.api.republish_after).unwrap_or_default();
    let stale = Unannounced::take(&state.db, cutoff, REPUBLISH_BATCH).await?;
    let mut published = 0;
    for file in &stale.files {
        publish_file_event(state, file).await?;
        stale.mark_published(file.id).await?;
        tracing::info!(file.id = %file.id, "re-published file {}", file.id);
        published += 1;
    }
    stale.commit().await?;
    Ok(published)
}

/// Runs [`republish_stale`] every `interval` until `shutdown` is cancelled.
pub async fn run_republisher(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {
                if let Err(error) = republish_stale(&state).await {
                    tracing::warn!(error.message = %format!("{error:#}"), "re-publishing stale files failed");
                }
            }
        }
    }
}
