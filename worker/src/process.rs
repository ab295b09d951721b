//! Turning one file event into results: claim the file, stream it from S3, normalise its
//! entries, resolve what is not recorded yet, write results in batches, complete it.

use std::{collections::HashSet, sync::Arc};

use anyhow::Context as _;
use aws_sdk_s3::operation::get_object::GetObjectError;
use common::event::FileEvent;
use entity::files;
use futures::StreamExt;
use tokio_util::{io::SyncIoBridge, sync::CancellationToken};
use uuid::Uuid;

use crate::{
    context::Context,
    domain::Domain,
    parse::{ReadError, read_entries},
    store::{self, Claim, NewResult},
};

/// How handling a message ended, when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The file is terminal now (or was already): delete the message.
    Done,
    /// Another worker holds the file: leave the message for later.
    HeldElsewhere,
    /// Shutdown interrupted the work: release the message for another worker.
    Interrupted,
}

/// Why handling a message failed. The variant decides what happens to the message.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Retrying cannot help (malformed file, object gone): the file becomes FAILED with this
    /// reason and the message is deleted.
    #[error("{0}")]
    Permanent(String),
    /// Infrastructure trouble (S3, database): the message stays for SQS to deliver again,
    /// and reaches the DLQ after the maximum receives.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ProcessError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Transient(anyhow::Error::new(error).context("database error"))
    }
}

/// One distinct entry of a file.
#[derive(Debug)]
struct Entry {
    position: i32,
    key: String,
    domain: Result<Domain, String>,
}

/// Longest invalid entry kept as a result's domain.
const MAX_RAW_ENTRY_CHARS: usize = 255;

/// Distinct entries in order of first appearance: valid ones by normalised name, invalid ones
/// by their trimmed text.
#[derive(Debug, Default)]
struct DistinctEntries {
    seen: HashSet<String>,
    entries: Vec<Entry>,
}

impl DistinctEntries {
    fn push(&mut self, raw: &str) {
        let (key, domain) = match Domain::parse(raw) {
            Ok(domain) => (domain.as_str().to_owned(), Ok(domain)),
            Err(error) => {
                let text: String = raw.trim().chars().take(MAX_RAW_ENTRY_CHARS).collect();
                (text, Err(format!("invalid_domain: {error}")))
            }
        };
        if self.seen.contains(&key) {
            return;
        }
        self.seen.insert(key.clone());
        self.entries.push(Entry {
            position: i32::try_from(self.entries.len()).unwrap_or(i32::MAX),
            key,
            domain,
        });
    }
}

/// Handles one file event for worker `owner`. `stop` asks it to give the file back.
pub async fn process_file(
    ctx: &Arc<Context>,
    event: &FileEvent,
    owner: Uuid,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    let file = match store::claim(&ctx.db, event.file_id, owner, ctx.lease()).await? {
        Claim::Claimed(file) => file,
        Claim::Terminal => return Ok(Outcome::Done),
        Claim::HeldElsewhere => return Ok(Outcome::HeldElsewhere),
        Claim::Missing => {
            tracing::warn!(file.id = %event.file_id, "no file {} in the database; dropping its event", event.file_id);
            return Ok(Outcome::Done);
        }
    };
    let entries = read_distinct_entries(ctx, &file).await?;
    store::set_total(
        &ctx.db,
        file.id,
        owner,
        i32::try_from(entries.len()).unwrap_or(i32::MAX),
    )
    .await?;
    let recorded = store::recorded_domains(&ctx.db, file.id).await?;
    let todo: Vec<Entry> = entries
        .into_iter()
        .filter(|entry| !recorded.contains(&entry.key))
        .collect();
    tracing::info!(
        file.id = %file.id, entries.todo = todo.len(), entries.recorded = recorded.len(),
        "processing file {}", file.id
    );

    let batch_size = ctx.settings.worker.result_batch_size;
    let mut results = futures::stream::iter(todo)
        .map(|entry| resolve_entry(ctx, entry))
        .buffer_unordered(ctx.settings.worker.domain_concurrency);
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => {
                store::record_results(&ctx.db, file.id, std::mem::take(&mut batch)).await?;
                return Ok(Outcome::Interrupted);
            }
            next = results.next() => next,
        };
        match next {
            Some(result) => {
                batch.push(result);
                if batch.len() >= batch_size {
                    store::record_results(&ctx.db, file.id, std::mem::take(&mut batch)).await?;
                }
            }
            None => break,
        }
    }
    store::record_results(&ctx.db, file.id, batch).await?;
    if !store::complete(&ctx.db, file.id, owner).await? {
        return Err(
            anyhow::anyhow!("lost the lease on file {} before completing it", file.id).into(),
        );
    }
    tracing::info!(file.id = %file.id, "completed file {}", file.id);
    Ok(Outcome::Done)
}

async fn resolve_entry(ctx: &Context, entry: Entry) -> NewResult {
    let (outcome, tries) = match &entry.domain {
        Ok(domain) => {
            let resolution = ctx.resolver.resolve(domain).await;
            (
                resolution
                    .outcome
                    .map(|icon| icon.url)
                    .map_err(|failure| failure.to_string()),
                i32::try_from(resolution.tries).unwrap_or(i32::MAX),
            )
        }
        Err(reason) => (Err(reason.clone()), 0),
    };
    NewResult {
        position: entry.position,
        domain: entry.key,
        outcome,
        tries,
    }
}

/// Streams the uploaded object from S3 through the parser. A missing object or a malformed
/// file is permanent; S3 trouble, also mid-stream, is transient.
async fn read_distinct_entries(
    ctx: &Context,
    file: &files::Model,
) -> Result<Vec<Entry>, ProcessError> {
    let (bucket, key) = (&file.s3_bucket, &file.s3_key);
    let object = match ctx.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(error) => {
            if matches!(error.as_service_error(), Some(GetObjectError::NoSuchKey(_))) {
                return Err(ProcessError::Permanent(format!(
                    "the uploaded object s3://{bucket}/{key} no longer exists"
                )));
            }
            return Err(anyhow::Error::new(error)
                .context(format!("failed to read s3://{bucket}/{key}"))
                .into());
        }
    };
    let body = SyncIoBridge::new(object.body.into_async_read());
    let file_type = file.file_type;
    let read = tokio::task::spawn_blocking(move || {
        let mut distinct = DistinctEntries::default();
        read_entries(file_type, body, |raw| distinct.push(&raw)).map(|()| distinct.entries)
    })
    .await
    .context("the file reader panicked")?;
    match read {
        Ok(entries) => Ok(entries),
        Err(ReadError::Parse(error)) => Err(ProcessError::Permanent(error.to_string())),
        Err(ReadError::Io(error)) => Err(anyhow::Error::new(error)
            .context(format!("failed to read s3://{bucket}/{key}"))
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_count_once_and_keep_first_position() {
        let raw = [
            "A.com",
            "https://a.com/x",
            "b.com",
            "not a domain",
            "not a domain",
            "b.com.",
        ];
        let mut distinct = DistinctEntries::default();
        for raw in raw {
            distinct.push(raw);
        }
        let entries = distinct.entries;
        let keys: Vec<_> = entries
            .iter()
            .map(|e| (e.position, e.key.as_str()))
            .collect();
        assert_eq!(keys, [(0, "a.com"), (1, "b.com"), (2, "not a domain")]);
        assert!(
            entries[2]
                .domain
                .as_ref()
                .is_err_and(|e| e.starts_with("invalid_domain: "))
        );
    }
}
