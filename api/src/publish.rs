//! Announcing stored files on SNS (new files in batches, through the
//! [`Announcer`](crate::announcer::Announcer)), and re-announcing those whose first publish
//! failed, so that no accepted file is ever lost; and announcing retries of a file's failed
//! results.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use chrono::Utc;
use common::event::{FILE_RETRY_REQUESTED, FILE_UPLOADED, FileEvent};
use common::metrics::{self, ApiPhase};
use entity::files;
use sea_orm::DatabaseConnection;
use store::announcements::{self, Unannounced};
use tokio_util::sync::CancellationToken;

use crate::{announcer::SendBatch, state::AppState};

/// `PublishBatch` calls of new files' events in flight at once, per api instance. While all
/// are, the events of other uploads wait and leave together in the next ones (up to 10 each).
pub const BATCHES_IN_FLIGHT: usize = 4;

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

fn attribute(value: &str) -> anyhow::Result<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .context("failed to build a message attribute")
}

/// Publishes `body` about `file` to the topic, with `eventType` and `fileId` attributes.
async fn publish(
    state: &AppState,
    file: &files::Model,
    event_type: &str,
    body: String,
) -> anyhow::Result<()> {
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

/// Publishes the event of a new file, with those of other uploads finishing at the same time,
/// and records that it was sent. A failure is logged and left to the re-publisher: the file
/// is stored and will be processed later.
pub async fn announce(state: &AppState, file: &files::Model) {
    let started = Instant::now();
    let outcome = state.announcer.announce(file.clone()).await;
    metrics::api_phase(ApiPhase::Publish, started.elapsed());
    if let Err(reason) = outcome {
        tracing::warn!(
            file.id = %file.id,
            error.message = %reason,
            "file {} stored but not announced; the re-publisher will retry", file.id
        );
    }
}

/// Sends the [`Announcer`](crate::announcer::Announcer)'s batches: one `PublishBatch` of
/// `FileUploaded` events, then one update recording those SNS took.
#[derive(Debug, Clone)]
pub struct SnsBatches {
    /// The SNS client.
    pub sns: aws_sdk_sns::Client,
    /// The file-event topic.
    pub topic_arn: String,
    /// Where the publishes are recorded.
    pub db: DatabaseConnection,
}

impl SendBatch<files::Model> for SnsBatches {
    async fn send(&self, files: Vec<files::Model>) -> Vec<Result<(), String>> {
        let mut outcomes = match self.publish_batch(&files).await {
            Ok(outcomes) => outcomes,
            Err(error) => vec![Err(format!("{error:#}")); files.len()],
        };
        metrics::publish_batch(outcomes.iter().filter(|outcome| outcome.is_ok()).count());
        let published: Vec<_> = files
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(file, _)| file.id)
            .collect();
        if published.is_empty() {
            return outcomes;
        }
        let started = Instant::now();
        let marked = announcements::mark_all_published(&self.db, &published).await;
        metrics::api_phase(ApiPhase::MarkPublished, started.elapsed());
        if let Err(error) = marked {
            let reason = format!("failed to record the publish: {error}");
            for outcome in outcomes.iter_mut().filter(|outcome| outcome.is_ok()) {
                *outcome = Err(reason.clone());
            }
        }
        outcomes
    }
}

impl SnsBatches {
    /// One `PublishBatch` call; what SNS said of each event, in order.
    async fn publish_batch(
        &self,
        files: &[files::Model],
    ) -> anyhow::Result<Vec<Result<(), String>>> {
        let entries = files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                PublishBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message(event_of(file).to_json())
                    .message_attributes("eventType", attribute(FILE_UPLOADED)?)
                    .message_attributes("fileId", attribute(&file.id.to_string())?)
                    .build()
                    .context("failed to build a batch entry")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let output = self
            .sns
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .context("failed to publish a batch of FileUploaded events to SNS")?;
        let mut outcomes =
            vec![Err("SNS did not say whether it took the event".to_owned()); files.len()];
        let index = |id: &str| {
            id.parse::<usize>()
                .ok()
                .filter(|&index| index < files.len())
        };
        for taken in output.successful() {
            if let Some(index) = taken.id().and_then(index) {
                outcomes[index] = Ok(());
            }
        }
        for refused in output.failed() {
            if let Some(index) = index(refused.id()) {
                outcomes[index] = Err(format!(
                    "SNS refused the event: {} {}",
                    refused.code(),
                    refused.message().unwrap_or_default()
                ));
            }
        }
        Ok(outcomes)
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
