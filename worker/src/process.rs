//! Turning one message into results. A file event claims the file and streams it from S3;
//! a small file is processed whole, a large one is split into chunk messages that any worker
//! can take. Entries are normalised, domains recorded earlier are skipped, the rest are
//! answered from the cache or resolved, and results are written in batches.

use std::{collections::HashMap, sync::Arc};

use anyhow::Context as _;
use aws_sdk_s3::operation::get_object::GetObjectError;
use chrono::Utc;
use common::event::FileEvent;
use entity::files;
use futures::{StreamExt, TryStreamExt};
use sea_orm::DbErr;
use tokio_util::{io::SyncIoBridge, sync::CancellationToken};
use uuid::Uuid;

use crate::{
    cache::CacheClass,
    context::Context,
    entries::{DistinctEntries, Entry},
    parse::{ReadError, read_entries},
    queue::Queue,
    store::{
        self, ChunkClaim, Claim, ErrorClass, FailureRecord, IconRecord, NewChunk, NewResult,
        Refusal,
    },
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
    /// Retrying cannot help (malformed file, object gone, data the database refuses): the
    /// file becomes FAILED with `reason` and the message is deleted.
    #[error("{reason}")]
    Permanent {
        /// Why, for users: it becomes the file's `error_message`.
        reason: String,
        /// What went wrong inside, for the logs only.
        detail: Option<anyhow::Error>,
    },
    /// An outage (S3, SQS, the database unreachable): the message stays for SQS to deliver
    /// again, and reaches the DLQ after the maximum receives.
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

impl ProcessError {
    /// A permanent failure whose reason says everything.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
            detail: None,
        }
    }

    /// A database error: permanent with `reason` (plus the kind of refusal) when it is about
    /// the data, transient when it is an outage.
    fn database(error: DbErr, reason: &str) -> Self {
        match ErrorClass::of(&error) {
            ErrorClass::Permanent => Self::Permanent {
                reason: format!("{reason}: {}", Refusal(&error)),
                detail: Some(anyhow::Error::new(error)),
            },
            ErrorClass::Transient => {
                Self::Transient(anyhow::Error::new(error).context("database error"))
            }
        }
    }

    /// What users may see of a transient error: which kind of service failed, never the
    /// error's message (it may quote internals, data, source lines; it is logged).
    pub fn interruption(error: &anyhow::Error) -> String {
        let what = if error.chain().any(|cause| cause.is::<DbErr>()) {
            "the database could not be reached"
        } else if error.chain().any(|cause| cause.is::<LostLease>()) {
            "another worker took the work over"
        } else {
            "S3 or SQS could not be reached"
        };
        format!("processing was interrupted ({what}); it is retried automatically")
    }
}

impl From<DbErr> for ProcessError {
    fn from(error: DbErr) -> Self {
        Self::database(error, "the file could not be processed")
    }
}

/// The worker no longer holds what it was working on: another took it over after its lease
/// lapsed.
#[derive(Debug, thiserror::Error)]
#[error("lost the lease on {0} before finishing it")]
pub struct LostLease(String);

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
    // Only domains to resolve are worth sharing out: invalid entries are answered at once.
    let chunk_domains = ctx.settings.worker.chunk_domains;
    let valid = entries.iter().filter(|entry| entry.domain.is_ok()).count();
    if chunk_domains > 0 && valid > chunk_domains {
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
    if !resolve_and_record(ctx, file.id, None, todo, stop).await? {
        return Ok(Outcome::Interrupted);
    }
    if !store::retrying("completing the file", || {
        store::complete(&ctx.db, file.id, owner)
    })
    .await?
    {
        return Err(anyhow::Error::new(LostLease(format!("file {}", file.id))).into());
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
    for batch in invalid_results.chunks(ctx.settings.worker.result_batch_size) {
        record(ctx, file.id, None, batch.to_vec()).await?;
    }

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
        return Err(anyhow::Error::new(LostLease(format!("file {}", file.id))).into());
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
        ProcessError::permanent(format!("chunk {number} of the file is corrupt: {error}"))
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
        .map(|(position, key)| Entry::from_key(position, key))
        .collect();
    tracing::info!(file.id = %file_id, chunk = number, entries.todo = todo.len(), "processing chunk {number} of file {file_id}");
    if !resolve_and_record(ctx, file_id, Some(number), todo, stop).await? {
        return Ok(Outcome::Interrupted);
    }
    match store::retrying("finishing the chunk", || {
        store::finish_chunk(&ctx.db, file_id, number, owner)
    })
    .await?
    {
        None => {
            Err(anyhow::Error::new(LostLease(format!("chunk {number} of file {file_id}"))).into())
        }
        Some(completed) => {
            if completed {
                tracing::info!(file.id = %file_id, "completed file {file_id}");
            }
            Ok(Outcome::Done)
        }
    }
}

/// Resolves `todo` (answering from the cache where possible) and writes the results of
/// `file_id` (its chunk `chunk`, when given) in batches. False when `stop` interrupted it;
/// what was finished is written either way.
async fn resolve_and_record(
    ctx: &Arc<Context>,
    file_id: Uuid,
    chunk: Option<i32>,
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
                record(ctx, file_id, chunk, batch).await?;
                return Ok(false);
            }
            next = results.next() => next,
        };
        let Some(result) = next else { break };
        batch.push(result);
        if batch.len() >= batch_size {
            record(ctx, file_id, chunk, std::mem::take(&mut batch)).await?;
        }
    }
    record(ctx, file_id, chunk, batch).await?;
    Ok(true)
}

/// Writes a batch of results ([`store::record_results`]: outages retried, a refused entry
/// turned into a failed result); a refusal of the whole write fails the file at once.
async fn record(
    ctx: &Context,
    file_id: Uuid,
    chunk: Option<i32>,
    batch: Vec<NewResult>,
) -> Result<u64, ProcessError> {
    store::record_results(&ctx.db, file_id, chunk, batch)
        .await
        .map_err(|error| ProcessError::database(error, "the results could not be stored"))
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
    let now = Utc::now();
    let fresh: Vec<_> = CacheClass::ALL
        .into_iter()
        .map(|class| (class, class.ttl(&ctx.settings.resolver)))
        .filter(|(_, ttl)| !ttl.is_zero())
        .map(|(class, ttl)| {
            let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
            (
                class,
                now.checked_sub_signed(ttl)
                    .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC),
            )
        })
        .collect();
    let mut cached = HashMap::new();
    if !fresh.is_empty() {
        let domains = entries
            .iter()
            .filter(|entry| entry.domain.is_ok())
            .map(|entry| entry.key.clone())
            .collect();
        match store::recent_outcomes(&ctx.db, domains, &fresh).await {
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
    let domain = match entry.domain {
        Err(failure) => return NewResult::invalid(entry.position, entry.key, failure),
        Ok(domain) => domain,
    };
    let (outcome, tries, from_cache, cache_class) = match cached {
        Some(outcome) => (outcome, 0, true, None),
        None => {
            let _permit = ctx.domain_permits.acquire().await;
            let resolution = ctx.resolver.resolve(&domain).await;
            let cache_class = CacheClass::of(&resolution.outcome);
            (
                resolution.outcome.map(Into::into).map_err(Into::into),
                i32::try_from(resolution.tries).unwrap_or(i32::MAX),
                false,
                cache_class,
            )
        }
    };
    NewResult {
        position: entry.position,
        domain: entry.key,
        outcome,
        tries,
        from_cache,
        cache_class,
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
    let (file_type, limit) = (file.file_type, ctx.settings.limits.max_domains_per_file);
    let read = tokio::task::spawn_blocking(move || {
        let mut distinct = DistinctEntries::new(limit);
        read_entries(file_type, body, |raw| distinct.push(&raw)).map(|()| distinct)
    })
    .await
    .context("the file reader panicked")?;
    match read {
        Ok(distinct) if distinct.too_many() => Err(ProcessError::permanent(format!(
            "too_many_domains: the file holds {} entries; at most {limit} are allowed \
             (MAX_DOMAINS_PER_FILE)",
            distinct.read()
        ))),
        Ok(distinct) => Ok(distinct.into_entries()),
        Err(ReadError::Parse(error)) => Err(ProcessError::permanent(error.to_string())),
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
                return Err(ProcessError::permanent(format!(
                    "the object s3://{bucket}/{key} no longer exists"
                )));
            }
            Err(anyhow::Error::new(error)
                .context(format!("failed to read s3://{bucket}/{key}"))
                .into())
        }
    }
}
