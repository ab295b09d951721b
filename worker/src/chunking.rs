//! Splitting a large file so that several workers share it: invalid entries are recorded at
//! once; valid ones are written to S3 in chunks of `WORKER_CHUNK_DOMAINS`, recorded in
//! `file_chunks` and announced on the queue, one [`ChunkMessage`] each. Every step is
//! idempotent, so a worker that dies while planning leaves nothing a redelivery cannot redo.

use anyhow::Context as _;
use domain_lists::entries::Entry;
use entity::files;
use futures::{StreamExt, TryStreamExt};
use store::{Lease, Work, chunks::NewChunk, results::NewResult};

use crate::{
    answers,
    message::{ChunkMessage, WorkerMessage},
    process::{ProcessError, record},
    queue::Queue,
    source,
    state::WorkerState,
};

/// Chunk objects written to S3 at once.
const CONCURRENT_WRITES: usize = 8;

/// Whether `entries` are worth sharing out: more domains to resolve than one chunk holds
/// (invalid entries are answered at once, so they do not count).
pub fn worth_splitting(state: &WorkerState, entries: &[Entry]) -> bool {
    let chunk_domains = state.settings.worker.chunk_domains;
    let valid = entries.iter().filter(|entry| entry.domain.is_ok()).count();
    chunk_domains > 0 && valid > chunk_domains
}

/// Splits `file`, which `lease` holds, into chunks and hands the file's lease on to them.
pub async fn split(
    state: &WorkerState,
    queue: &dyn Queue,
    file: &files::Model,
    lease: &Lease,
    entries: Vec<Entry>,
) -> Result<(), ProcessError> {
    // One pass that moves each entry's key where it goes (no copies, no second list of the
    // valid entries) and drops its parsed domain at once: a file of 500,000 is held once.
    let chunk_domains = state.settings.worker.chunk_domains.max(1);
    let mut invalid_results: Vec<NewResult> = Vec::new();
    let mut chunks: Vec<NewChunk> = Vec::new();
    let capacity = chunk_domains.min(entries.len());
    let mut current: Vec<(i32, String)> = Vec::with_capacity(capacity);
    for entry in entries {
        match entry.domain {
            Err(failure) => {
                invalid_results.push(answers::invalid(entry.position, entry.key, failure));
            }
            Ok(_) => {
                current.push((entry.position, entry.key));
                if current.len() >= chunk_domains {
                    let full = std::mem::replace(&mut current, Vec::with_capacity(capacity));
                    chunks.push(new_chunk(file, chunks.len(), full));
                }
            }
        }
    }
    if !current.is_empty() {
        chunks.push(new_chunk(file, chunks.len(), current));
    }
    for batch in invalid_results.chunks(state.settings.worker.result_batch_size) {
        record(state, Work::File(file.id), batch.to_vec()).await?;
    }
    drop(invalid_results);

    let writes: Vec<_> = chunks
        .iter()
        .map(|chunk| write_chunk(state, &file.s3_bucket, chunk))
        .collect();
    futures::stream::iter(writes)
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<Vec<()>>()
        .await?;
    store::chunks::insert_chunks(&state.db, file.id, &chunks).await?;
    let messages = chunks
        .iter()
        .map(|chunk| {
            WorkerMessage::Chunk(ChunkMessage {
                file_id: file.id,
                number: chunk.number,
                s3_bucket: file.s3_bucket.clone(),
                s3_key: chunk.s3_key.clone(),
            })
            .to_json()
        })
        .collect();
    queue.send(messages).await?;
    let chunk_count = i32::try_from(chunks.len()).unwrap_or(i32::MAX);
    store::chunks::mark_planned(&state.db, lease, chunk_count).await?;
    tracing::info!(file.id = %file.id, chunks = chunks.len(), "split file {} into {} chunks", file.id, chunks.len());
    Ok(())
}

/// The `number`th chunk of `file`, holding `entries`.
fn new_chunk(file: &files::Model, number: usize, entries: Vec<(i32, String)>) -> NewChunk {
    NewChunk {
        number: i32::try_from(number).unwrap_or(i32::MAX),
        s3_key: common::event::chunk_object_key(file.id, number),
        entries,
    }
}

async fn write_chunk(
    state: &WorkerState,
    bucket: &str,
    chunk: &NewChunk,
) -> Result<(), ProcessError> {
    let body = serde_json::to_vec(&chunk.entries).context("failed to encode a chunk")?;
    state
        .s3
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

/// The entries of the chunk `message` names, read back from S3; corrupt is permanent.
pub async fn entries(
    state: &WorkerState,
    message: &ChunkMessage,
) -> Result<Vec<Entry>, ProcessError> {
    let bytes = source::object_bytes(state, &message.s3_bucket, &message.s3_key).await?;
    let pairs: Vec<(i32, String)> = serde_json::from_slice(&bytes).map_err(|error| {
        ProcessError::permanent(format!(
            "chunk {} of the file is corrupt: {error}",
            message.number
        ))
    })?;
    Ok(pairs
        .into_iter()
        .map(|(position, key)| Entry::from_key(position, key))
        .collect())
}
