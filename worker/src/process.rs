//! Turning one message into results. A file event claims the file and streams it from S3;
//! a small file is processed whole, a large one is split into chunk messages that any worker
//! can take. Entries are normalised, domains recorded earlier are skipped, the rest are
//! answered from the cache or resolved, and results are written in batches.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use anyhow::Context as _;
use aws_sdk_s3::operation::get_object::GetObjectError;
use chrono::Utc;
use common::event::FileEvent;
use entity::files;
use futures::{StreamExt, TryStreamExt};
use tokio_util::{io::SyncIoBridge, sync::CancellationToken};
use uuid::Uuid;

use crate::{
    context::Context,
    domain::Domain,
    parse::{ReadError, read_entries},
    queue::Queue,
    resolver::{Failure, FailureCategory},
    store::{self, ChunkClaim, Claim, FailureRecord, IconRecord, NewChunk, NewResult},
};

/// How handling a message ended, when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The work is done (or was already, or was handed on as chunks): delete the message.
    Done,
    /// Another worker holds the work: leave the message for later.
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
    /// Infrastructure trouble (S3, SQS, database): the message stays for SQS to deliver
    /// again, and reaches the DLQ after the maximum receives.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ProcessError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Transient(anyhow::Error::new(error).context("database error"))
    }
}

/// What a message stands for: a whole file, or one chunk of a large file. Leases are taken,
/// renewed and released on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A file event from the api.
    File(Uuid),
    /// Chunk `number` of a file, sent by the worker that split it.
    Chunk(Uuid, i32),
}

impl Work {
    /// The work `event` asks for.
    pub fn of(event: &FileEvent) -> Self {
        match event.chunk {
            None => Self::File(event.file_id),
            Some(number) => Self::Chunk(event.file_id, number),
        }
    }

    /// Extends `owner`'s lease; false when it no longer holds the work.
    pub async fn renew(self, ctx: &Context, owner: Uuid) -> Result<bool, sea_orm::DbErr> {
        match self {
            Self::File(file_id) => store::renew_lease(&ctx.db, file_id, owner, ctx.lease()).await,
            Self::Chunk(file_id, number) => {
                store::renew_chunk(&ctx.db, file_id, number, owner, ctx.lease()).await
            }
        }
    }

    /// Gives the work up at once, for another worker to resume.
    pub async fn release(self, ctx: &Context, owner: Uuid) -> Result<(), sea_orm::DbErr> {
        match self {
            Self::File(file_id) => store::release(&ctx.db, file_id, owner).await,
            Self::Chunk(file_id, number) => {
                store::release_chunk(&ctx.db, file_id, number, owner).await
            }
        }
    }
}

/// One distinct entry of a file.
#[derive(Debug)]
struct Entry {
    position: i32,
    key: String,
    domain: Result<Domain, Failure>,
}

/// Longest invalid entry kept as a result's domain.
const MAX_RAW_ENTRY_CHARS: usize = 255;

/// Distinct entries in order of first appearance: valid ones by normalised name, invalid ones
/// by their trimmed text. Stops collecting past `limit` entries (duplicates counted, as the
/// api counts a job's list), so an oversized file costs no more memory than the limit.
#[derive(Debug)]
struct DistinctEntries {
    seen: HashSet<String>,
    entries: Vec<Entry>,
    read: usize,
    limit: usize,
}

impl DistinctEntries {
    fn new(limit: usize) -> Self {
        Self {
            seen: HashSet::new(),
            entries: Vec::new(),
            read: 0,
            limit,
        }
    }

    fn too_many(&self) -> bool {
        self.read > self.limit
    }

    fn push(&mut self, raw: &str) {
        self.read += 1;
        if self.too_many() {
            return;
        }
        let (key, domain) = match Domain::parse(raw) {
            Ok(domain) => (domain.as_str().to_owned(), Ok(domain)),
            Err(error) => {
                let text: String = raw.trim().chars().take(MAX_RAW_ENTRY_CHARS).collect();
                (
                    text,
                    Err(Failure::new(
                        FailureCategory::InvalidDomain,
                        error.to_string(),
                    )),
                )
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

/// Handles one message for worker `owner`. `stop` asks it to give the work back; `queue`
/// receives the chunk messages of a large file.
pub async fn process(
    ctx: &Arc<Context>,
    queue: &dyn Queue,
    event: &FileEvent,
    owner: Uuid,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    match Work::of(event) {
        Work::File(_) => process_file(ctx, queue, event, owner, stop).await,
        Work::Chunk(file_id, number) => {
            process_chunk(ctx, event, file_id, number, owner, stop).await
        }
    }
}

async fn process_file(
    ctx: &Arc<Context>,
    queue: &dyn Queue,
    event: &FileEvent,
    owner: Uuid,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    let file = match store::retrying("claiming the file", || {
        store::claim(&ctx.db, event.file_id, owner, ctx.lease())
    })
    .await?
    {
        Claim::Claimed(file) => file,
        Claim::Terminal | Claim::Planned => return Ok(Outcome::Done),
        Claim::HeldElsewhere => return Ok(Outcome::HeldElsewhere),
        Claim::Missing => {
            tracing::warn!(file.id = %event.file_id, "no file {} in the database; dropping its event", event.file_id);
            return Ok(Outcome::Done);
        }
    };
    let entries = read_distinct_entries(ctx, &file).await?;
    let total = count(entries.len());
    store::retrying("recording the total", || {
        store::set_total(&ctx.db, file.id, owner, total)
    })
    .await?;
    let chunk_domains = ctx.settings.worker.chunk_domains;
    if chunk_domains > 0 && entries.len() > chunk_domains {
        plan_chunks(ctx, queue, &file, owner, entries).await?;
        return Ok(Outcome::Done);
    }
    let recorded = store::retrying("reading recorded domains", || {
        store::recorded_domains(&ctx.db, file.id, None)
    })
    .await?;
    let todo: Vec<Entry> = entries
        .into_iter()
        .filter(|entry| !recorded.contains(&entry.key))
        .collect();
    tracing::info!(
        file.id = %file.id, entries.todo = todo.len(), entries.recorded = recorded.len(),
        "processing file {}", file.id
    );
    if !resolve_and_record(ctx, file.id, todo, stop).await? {
        return Ok(Outcome::Interrupted);
    }
    if !store::retrying("completing the file", || {
        store::complete(&ctx.db, file.id, owner)
    })
    .await?
    {
        return Err(
            anyhow::anyhow!("lost the lease on file {} before completing it", file.id).into(),
        );
    }
    tracing::info!(file.id = %file.id, "completed file {}", file.id);
    Ok(Outcome::Done)
}

/// Splits a large file: invalid entries are recorded at once; valid ones are written to S3
/// in chunks of `chunk_domains`, recorded in `file_chunks` and announced on the queue. Every
/// step is idempotent, so a worker that dies while planning leaves nothing a redelivery
/// cannot redo.
async fn plan_chunks(
    ctx: &Context,
    queue: &dyn Queue,
    file: &files::Model,
    owner: Uuid,
    entries: Vec<Entry>,
) -> Result<(), ProcessError> {
    let (valid, invalid): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|entry| entry.domain.is_ok());
    // An invalid entry's result needs no fetching: resolve_entry answers it at once.
    let mut invalid_results = Vec::with_capacity(invalid.len());
    for entry in invalid {
        invalid_results.push(resolve_entry(ctx, entry, None).await);
    }
    record(ctx, file.id, invalid_results).await?;

    let chunks: Vec<NewChunk> = valid
        .chunks(ctx.settings.worker.chunk_domains)
        .enumerate()
        .map(|(number, entries)| NewChunk {
            number: count(number),
            s3_key: format!("chunks/{}/{number:05}.json", file.id),
            entries: entries
                .iter()
                .map(|entry| (entry.position, entry.key.clone()))
                .collect(),
        })
        .collect();
    let writes: Vec<_> = chunks
        .iter()
        .map(|chunk| write_chunk(ctx, &file.s3_bucket, chunk))
        .collect();
    futures::stream::iter(writes)
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    store::retrying("recording the chunks", || {
        store::insert_chunks(&ctx.db, file.id, &chunks)
    })
    .await?;
    let events = chunks
        .iter()
        .map(|chunk| {
            FileEvent {
                file_id: file.id,
                s3_bucket: file.s3_bucket.clone(),
                s3_key: chunk.s3_key.clone(),
                chunk: Some(chunk.number),
            }
            .to_json()
        })
        .collect();
    queue.send(events).await?;
    let chunk_count = count(chunks.len());
    if !store::retrying("recording the plan", || {
        store::mark_planned(&ctx.db, file.id, owner, chunk_count)
    })
    .await?
    {
        return Err(
            anyhow::anyhow!("lost the lease on file {} while splitting it", file.id).into(),
        );
    }
    tracing::info!(file.id = %file.id, chunks = chunks.len(), "split file {} into {} chunks", file.id, chunks.len());
    Ok(())
}

async fn write_chunk(ctx: &Context, bucket: &str, chunk: &NewChunk) -> Result<(), ProcessError> {
    let body = serde_json::to_vec(&chunk.entries).context("failed to encode a chunk")?;
    ctx.s3
        .put_object()
        .bucket(bucket)
        .key(&chunk.s3_key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .with_context(|| format!("failed to write s3://{bucket}/{}", chunk.s3_key))?;
    Ok(())
}

async fn process_chunk(
    ctx: &Arc<Context>,
    event: &FileEvent,
    file_id: Uuid,
    number: i32,
    owner: Uuid,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    match store::retrying("claiming the chunk", || {
        store::claim_chunk(&ctx.db, file_id, number, owner, ctx.lease())
    })
    .await?
    {
        ChunkClaim::Claimed => {}
        ChunkClaim::Done => return Ok(Outcome::Done),
        ChunkClaim::HeldElsewhere => return Ok(Outcome::HeldElsewhere),
    }
    let bytes = read_object(ctx, &event.s3_bucket, &event.s3_key).await?;
    let pairs: Vec<(i32, String)> = serde_json::from_slice(&bytes).map_err(|error| {
        ProcessError::Permanent(format!("chunk {number} of the file is corrupt: {error}"))
    })?;
    let (first, last) = (
        pairs.iter().map(|(p, _)| *p).min().unwrap_or(0),
        pairs.iter().map(|(p, _)| *p).max().unwrap_or(0),
    );
    let recorded = store::retrying("reading recorded domains", || {
        store::recorded_domains(&ctx.db, file_id, Some((first, last)))
    })
    .await?;
    let todo: Vec<Entry> = pairs
        .into_iter()
        .filter(|(_, key)| !recorded.contains(key))
        .map(|(position, key)| Entry {
            position,
            domain: Domain::parse(&key)
                .map_err(|error| Failure::new(FailureCategory::InvalidDomain, error.to_string())),
            key,
        })
        .collect();
    tracing::info!(file.id = %file_id, chunk = number, entries.todo = todo.len(), "processing chunk {number} of file {file_id}");
    if !resolve_and_record(ctx, file_id, todo, stop).await? {
        return Ok(Outcome::Interrupted);
    }
    match store::retrying("finishing the chunk", || {
        store::finish_chunk(&ctx.db, file_id, number, owner)
    })
    .await?
    {
        None => Err(anyhow::anyhow!(
            "lost the lease on chunk {number} of file {file_id} before finishing it"
        )
        .into()),
        Some(completed) => {
            if completed {
                tracing::info!(file.id = %file_id, "completed file {file_id}");
            }
            Ok(Outcome::Done)
        }
    }
}

/// Resolves `todo` (answering from the cache where possible) and writes the results in
/// batches. False when `stop` interrupted it; what was finished is written either way.
async fn resolve_and_record(
    ctx: &Arc<Context>,
    file_id: Uuid,
    todo: Vec<Entry>,
    stop: &CancellationToken,
) -> Result<bool, ProcessError> {
    let batch_size = ctx.settings.worker.result_batch_size;
    let (lookup_ctx, resolve_ctx) = (ctx.clone(), ctx.clone());
    let results = futures::stream::iter(todo)
        .chunks(CACHE_LOOKUP_BATCH)
        .then(move |entries| {
            let ctx = lookup_ctx.clone();
            async move { with_cached_outcomes(&ctx, entries).await }
        })
        .flat_map(futures::stream::iter)
        .map(move |(entry, cached)| {
            let ctx = resolve_ctx.clone();
            async move { resolve_entry(&ctx, entry, cached).await }
        })
        .buffer_unordered(ctx.settings.worker.domain_concurrency);
    let mut results = std::pin::pin!(results);
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => {
                record(ctx, file_id, batch).await?;
                return Ok(false);
            }
            next = results.next() => next,
        };
        let Some(result) = next else { break };
        batch.push(result);
        if batch.len() >= batch_size {
            record(ctx, file_id, std::mem::take(&mut batch)).await?;
        }
    }
    record(ctx, file_id, batch).await?;
    Ok(true)
}

/// Writes a batch of results, trying again when the database connection fails.
async fn record(
    ctx: &Context,
    file_id: Uuid,
    batch: Vec<NewResult>,
) -> Result<u64, sea_orm::DbErr> {
    store::retrying("writing results", || {
        store::record_results(&ctx.db, file_id, batch.clone())
    })
    .await
}

/// Domains looked up in the cache with one query.
const CACHE_LOOKUP_BATCH: usize = 500;

type CachedOutcome = Result<IconRecord, FailureRecord>;

/// `entries`, each with its cached outcome when the cache has a recent one. A failed lookup
/// only costs the fetches it would have saved.
async fn with_cached_outcomes(
    ctx: &Context,
    entries: Vec<Entry>,
) -> Vec<(Entry, Option<CachedOutcome>)> {
    let ttl = ctx.settings.resolver.cache_ttl;
    let mut cached = HashMap::new();
    if !ttl.is_zero() {
        let domains = entries
            .iter()
            .filter(|entry| entry.domain.is_ok())
            .map(|entry| entry.key.clone())
            .collect();
        let since = Utc::now() - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        match store::recent_outcomes(&ctx.db, domains, since).await {
            Ok(found) => cached = found,
            Err(error) => {
                tracing::warn!(error.message = %error, "cache lookup failed; resolving instead");
            }
        }
    }
    entries
        .into_iter()
        .map(|entry| {
            let hit = cached.remove(&entry.key);
            (entry, hit)
        })
        .collect()
}

async fn resolve_entry(ctx: &Context, entry: Entry, cached: Option<CachedOutcome>) -> NewResult {
    let (outcome, tries, from_cache) = match (entry.domain, cached) {
        (Err(failure), _) => (Err(failure.into()), 0, false),
        (Ok(_), Some(outcome)) => (outcome, 0, true),
        (Ok(domain), None) => {
            let _permit = ctx.domain_permits.acquire().await;
            let resolution = ctx.resolver.resolve(&domain).await;
            (
                resolution.outcome.map(Into::into).map_err(Into::into),
                i32::try_from(resolution.tries).unwrap_or(i32::MAX),
                false,
            )
        }
    };
    NewResult {
        position: entry.position,
        domain: entry.key,
        outcome,
        tries,
        from_cache,
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Streams the uploaded object from S3 through the parser. A missing object or a malformed
/// file is permanent; S3 trouble, also mid-stream, is transient.
async fn read_distinct_entries(
    ctx: &Context,
    file: &files::Model,
) -> Result<Vec<Entry>, ProcessError> {
    let (bucket, key) = (&file.s3_bucket, &file.s3_key);
    let object = get_object(ctx, bucket, key).await?;
    let body = SyncIoBridge::new(object.body.into_async_read());
    let (file_type, limit) = (file.file_type, ctx.settings.api.max_domains_per_file);
    let read = tokio::task::spawn_blocking(move || {
        let mut distinct = DistinctEntries::new(limit);
        read_entries(file_type, body, |raw| distinct.push(&raw)).map(|()| distinct)
    })
    .await
    .context("the file reader panicked")?;
    match read {
        Ok(distinct) if distinct.too_many() => Err(ProcessError::Permanent(format!(
            "too_many_domains: the file holds {} entries; at most {limit} are allowed \
             (MAX_DOMAINS_PER_FILE)",
            distinct.read
        ))),
        Ok(distinct) => Ok(distinct.entries),
        Err(ReadError::Parse(error)) => Err(ProcessError::Permanent(error.to_string())),
        Err(ReadError::Io(error)) => Err(anyhow::Error::new(error)
            .context(format!("failed to read s3://{bucket}/{key}"))
            .into()),
    }
}

/// A small object's bytes (a chunk's entries).
async fn read_object(ctx: &Context, bucket: &str, key: &str) -> Result<Vec<u8>, ProcessError> {
    let object = get_object(ctx, bucket, key).await?;
    let body = object
        .body
        .collect()
        .await
        .with_context(|| format!("failed to read s3://{bucket}/{key}"))?;
    Ok(body.into_bytes().to_vec())
}

/// Starts reading an object; a missing object is permanent, anything else transient.
async fn get_object(
    ctx: &Context,
    bucket: &str,
    key: &str,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, ProcessError> {
    match ctx.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => Ok(object),
        Err(error) => {
            if matches!(error.as_service_error(), Some(GetObjectError::NoSuchKey(_))) {
                return Err(ProcessError::Permanent(format!(
                    "the object s3://{bucket}/{key} no longer exists"
                )));
            }
            Err(anyhow::Error::new(error)
                .context(format!("failed to read s3://{bucket}/{key}"))
                .into())
        }
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
        let mut distinct = DistinctEntries::new(usize::MAX);
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
                .is_err_and(|e| e.category == FailureCategory::InvalidDomain)
        );
    }

    #[test]
    fn entries_past_the_limit_are_counted_not_kept() {
        let mut distinct = DistinctEntries::new(2);
        for raw in ["a.com", "a.com", "b.com", "c.com"] {
            distinct.push(raw);
        }
        assert!(distinct.too_many());
        assert_eq!(distinct.read, 4);
        assert_eq!(distinct.entries.len(), 1, "stopped collecting at the limit");
    }
}
