//! The story of one message. A file: claim it, read its distinct entries from S3, record the
//! total, split it into chunks when it is large ([`chunking`]), else answer the entries not
//! recorded yet (the cache or the resolver, [`answers`]) and record them in batches, then
//! complete it. A chunk: claim it, read its entries, answer and record them the same way,
//! then finish it (the last chunk completes the file). A retry: claim the file, read the
//! failed results its owner asked to retry, resolve them again (never from the cache) and
//! record each in place of the old one, then complete the file. Between two batches the
//! worker looks whether the file is still PROCESSING: a file cancelled or deleted meanwhile is
//! dropped there, its message deleted. Every step's database work is one call into the
//! [`store`] data layer, which retries outages itself.

use std::sync::Arc;

use common::{
    icon_storage::IconStorage,
    metrics::{self, LeaseOn},
};
use domain_lists::entries::Entry;
use entity::FileStatus;
use futures::StreamExt;
use sea_orm::DbErr;
use store::{
    Claim, Lease, TransitionError, Work,
    errors::{ErrorClass, Refusal},
    results::NewResult,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    answers, chunking,
    message::{ChunkMessage, WorkerMessage},
    queue::Queue,
    source,
    state::WorkerState,
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
    /// the data, transient when it is an outage ([`ErrorClass`] decides).
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

/// A status change or lease write that did not happen: the database failed, or the lease was
/// lost (another worker took the work over, or the file was failed meanwhile).
impl From<TransitionError> for ProcessError {
    fn from(error: TransitionError) -> Self {
        match error {
            TransitionError::Database(error) => error.into(),
            lost => anyhow::Error::new(LostLease(lost.to_string())).into(),
        }
    }
}

/// The worker no longer holds what it was working on: another took it over after its lease
/// lapsed.
#[derive(Debug, thiserror::Error)]
#[error("lost the lease before finishing: {0}")]
pub struct LostLease(String);

/// Handles one message for worker `owner`. `stop` asks it to give the work back; `queue`
/// receives the chunk messages of a large file.
pub async fn process_message(
    state: &Arc<WorkerState>,
    queue: &dyn Queue,
    message: &WorkerMessage,
    owner: Uuid,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    let lease = state.lease(message.work(), owner);
    let lease_on = match message {
        WorkerMessage::File(_) | WorkerMessage::Retry(_) => LeaseOn::File,
        WorkerMessage::Chunk(_) => LeaseOn::Chunk,
    };
    let file = match lease.claim(&state.db).await? {
        Claim::Claimed(file) => {
            metrics::lease_taken(lease_on);
            file
        }
        Claim::Finished | Claim::Planned => return Ok(Outcome::Done),
        Claim::HeldElsewhere => return Ok(Outcome::HeldElsewhere),
        Claim::Missing => {
            tracing::warn!(file.id = %lease.work.file_id(), "no file {} in the database; dropping its event", lease.work.file_id());
            return Ok(Outcome::Done);
        }
    };
    let outcome = match message {
        WorkerMessage::File(_) => process_file(state, queue, &file, &lease, stop).await,
        WorkerMessage::Chunk(chunk) => process_chunk(state, chunk, &lease, stop).await,
        WorkerMessage::Retry(_) => process_retry(state, &file, &lease, stop).await,
    };
    if let Err(ProcessError::Transient(error)) = &outcome
        && error.chain().any(|cause| cause.is::<LostLease>())
    {
        metrics::lease_lost(lease_on);
    }
    outcome
}

/// A whole file, claimed: split it, or answer it and complete it.
async fn process_file(
    state: &Arc<WorkerState>,
    queue: &dyn Queue,
    file: &entity::files::Model,
    lease: &Lease,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    let entries = source::distinct_entries(state, file).await?;
    let total = i32::try_from(entries.len()).unwrap_or(i32::MAX);
    store::files::set_total(&state.db, lease, total).await?;
    if chunking::worth_splitting(state, &entries) {
        chunking::split(state, queue, file, lease, entries).await?;
        return Ok(Outcome::Done);
    }
    let recorded = store::results::recorded_domains(&state.db, file.id, None).await?;
    let todo = not_recorded(entries, &recorded);
    tracing::info!(
        file.id = %file.id, entries.todo = todo.len(), entries.recorded = recorded.len(),
        "processing file {}", file.id
    );
    let icons = source::icon_storage(state, &file.s3_bucket);
    match answer_and_record(state, Writing::Results(lease.work), icons, todo, stop).await? {
        Run::Finished => {}
        Run::Interrupted => return Ok(Outcome::Interrupted),
        Run::Stopped => return Ok(stopped(file.id)),
    }
    complete(state, lease).await
}

/// Completes the file `lease` holds; a file cancelled or deleted meanwhile is dropped.
async fn complete(state: &WorkerState, lease: &Lease) -> Result<Outcome, ProcessError> {
    let file_id = lease.work.file_id();
    match store::files::complete(&state.db, lease).await {
        Ok(()) => {}
        Err(TransitionError::Refused(refused)) if refused.from == FileStatus::Cancelled => {
            return Ok(stopped(file_id));
        }
        Err(TransitionError::Missing(_)) => return Ok(stopped(file_id)),
        Err(error) => return Err(error.into()),
    }
    metrics::file_finished(FileStatus::Completed);
    tracing::info!(file.id = %file_id, "completed file {file_id}");
    Ok(Outcome::Done)
}

/// The file was cancelled or deleted while this worker processed it: what was recorded
/// stays, the message is deleted.
fn stopped(file_id: Uuid) -> Outcome {
    tracing::info!(file.id = %file_id, "file {file_id} was cancelled or deleted; dropping its message");
    Outcome::Done
}

/// A retry of a COMPLETED file's failed results, claimed: resolve them again, record each in
/// place of the old one, complete the file.
async fn process_retry(
    state: &Arc<WorkerState>,
    file: &entity::files::Model,
    lease: &Lease,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    let pending = store::retries::pending(&state.db, file.id).await?;
    tracing::info!(file.id = %file.id, entries.todo = pending.len(), "retrying {} failed results of file {}", pending.len(), file.id);
    let todo = pending
        .into_iter()
        .map(|(position, key)| Entry::from_key(position, key))
        .collect();
    let icons = source::icon_storage(state, &file.s3_bucket);
    match answer_and_record(state, Writing::Retried(file.id), icons, todo, stop).await? {
        Run::Finished => {}
        Run::Interrupted => return Ok(Outcome::Interrupted),
        Run::Stopped => return Ok(stopped(file.id)),
    }
    complete(state, lease).await
}

/// A chunk of a large file, claimed: answer it and finish it.
async fn process_chunk(
    state: &Arc<WorkerState>,
    chunk: &ChunkMessage,
    lease: &Lease,
    stop: &CancellationToken,
) -> Result<Outcome, ProcessError> {
    let (file_id, number) = (chunk.file_id, chunk.number);
    let entries = chunking::entries(state, chunk).await?;
    let positions = entries.iter().map(|entry| entry.position);
    let range = (
        positions.clone().min().unwrap_or(0),
        positions.max().unwrap_or(0),
    );
    let recorded = store::results::recorded_domains(&state.db, file_id, Some(range)).await?;
    let todo = not_recorded(entries, &recorded);
    tracing::info!(file.id = %file_id, chunk = number, entries.todo = todo.len(), "processing chunk {number} of file {file_id}");
    let icons = source::icon_storage(state, &chunk.s3_bucket);
    match answer_and_record(state, Writing::Results(lease.work), icons, todo, stop).await? {
        Run::Finished => {}
        Run::Interrupted => return Ok(Outcome::Interrupted),
        Run::Stopped => return Ok(stopped(file_id)),
    }
    if store::chunks::finish_chunk(&state.db, lease).await? {
        metrics::file_finished(FileStatus::Completed);
        tracing::info!(file.id = %file_id, "completed file {file_id}");
    }
    Ok(Outcome::Done)
}

/// The entries whose domain has no result yet (an interrupted run recorded the others).
fn not_recorded(entries: Vec<Entry>, recorded: &std::collections::HashSet<String>) -> Vec<Entry> {
    entries
        .into_iter()
        .filter(|entry| !recorded.contains(&entry.key))
        .collect()
}

/// Where the answers of a run go.
#[derive(Debug, Clone, Copy)]
enum Writing {
    /// New results of a file or a chunk; the cache may answer.
    Results(Work),
    /// New outcomes of the failed results of a retried file, in place of the old ones; the
    /// cache never answers (it could copy the very failure being retried).
    Retried(Uuid),
}

impl Writing {
    fn file_id(self) -> Uuid {
        match self {
            Self::Results(work) => work.file_id(),
            Self::Retried(file_id) => file_id,
        }
    }
}

/// How a run of [`answer_and_record`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Run {
    /// Everything was answered and written.
    Finished,
    /// `stop` interrupted it.
    Interrupted,
    /// The file is no longer PROCESSING (cancelled or deleted).
    Stopped,
}

/// Most bytes of fetched images a batch holds before it is written, whatever its length: a
/// batch of large icons is written early rather than held in memory.
const MAX_BATCH_IMAGE_BYTES: usize = 32 * 1024 * 1024;

/// Answers `todo` and writes them in batches (their icons stored in `icons` first, the whole
/// batch at once), looking after each batch whether the file is still PROCESSING. What was
/// finished is written whatever ends the run.
async fn answer_and_record(
    state: &Arc<WorkerState>,
    writing: Writing,
    icons: IconStorage,
    todo: Vec<Entry>,
    stop: &CancellationToken,
) -> Result<Run, ProcessError> {
    let batch_size = state.settings.worker.result_batch_size;
    let use_cache = matches!(writing, Writing::Results(_));
    let mut results = std::pin::pin!(answers::answer_all(state, todo, use_cache));
    let mut batch = Vec::with_capacity(batch_size);
    let mut image_bytes = 0;
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => {
                write(state, writing, &icons, batch).await?;
                return Ok(Run::Interrupted);
            }
            next = results.next() => next,
        };
        let Some(answered) = next else { break };
        image_bytes += answered.image_bytes();
        batch.push(answered);
        if batch.len() >= batch_size || image_bytes >= MAX_BATCH_IMAGE_BYTES {
            write(state, writing, &icons, std::mem::take(&mut batch)).await?;
            image_bytes = 0;
            if !store::actions::still_processing(&state.db, writing.file_id()).await? {
                return Ok(Run::Stopped);
            }
        }
    }
    write(state, writing, &icons, batch).await?;
    Ok(Run::Finished)
}

/// Stores the icons of a batch, then writes its results where `writing` says.
async fn write(
    state: &WorkerState,
    writing: Writing,
    icons: &IconStorage,
    batch: Vec<answers::Answered>,
) -> Result<u64, ProcessError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let batch = answers::store_icons(state, icons, batch).await;
    match writing {
        Writing::Results(work) => record(state, work, batch).await,
        Writing::Retried(file_id) => store::retries::record_retried(&state.db, file_id, batch)
            .await
            .inspect(|written| metrics::results_written(*written))
            .map_err(|error| ProcessError::database(error, "the results could not be stored")),
    }
}

/// Writes a batch of results ([`store::results::record_results`]: outages retried, a refused
/// entry turned into a failed result); a refusal of the whole write fails the file at once.
pub async fn record(
    state: &WorkerState,
    work: Work,
    batch: Vec<NewResult>,
) -> Result<u64, ProcessError> {
    store::results::record_results(&state.db, work, batch)
        .await
        .inspect(|written| metrics::results_written(*written))
        .map_err(|error| ProcessError::database(error, "the results could not be stored"))
}
