//! Reading from S3: an uploaded file streamed through the parser, and small objects (a
//! chunk's entries) whole. A missing object is permanent; S3 trouble, also mid-stream, is
//! transient. Icons are written to the same bucket as the file, under `icons/sha256/`
//! ([`icon_storage`]).

use anyhow::Context as _;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use common::icon_storage::IconStorage;
use domain_lists::{
    entries::{DistinctEntries, Entry},
    parse::{ReadError, read_entries},
};
use entity::files;
use tokio_util::io::SyncIoBridge;

use crate::{process::ProcessError, state::WorkerState};

/// The distinct entries of an uploaded file, read as it streams from S3. More than
/// `MAX_DOMAINS_PER_FILE` of them, or a malformed file, is permanent.
pub async fn distinct_entries(
    state: &WorkerState,
    file: &files::Model,
) -> Result<Vec<Entry>, ProcessError> {
    let (bucket, key) = (&file.s3_bucket, &file.s3_key);
    let object = get_object(state, bucket, key).await?;
    let body = SyncIoBridge::new(object.body.into_async_read());
    let (file_type, limit) = (file.file_type, state.settings.limits.max_domains_per_file);
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
pub async fn object_bytes(
    state: &WorkerState,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, ProcessError> {
    let object = get_object(state, bucket, key).await?;
    let body = object
        .body
        .collect()
        .await
        .with_context(|| format!("failed to read s3://{bucket}/{key}"))?;
    Ok(body.into_bytes().to_vec())
}

/// Starts reading an object; a missing object is permanent, anything else transient.
async fn get_object(
    state: &WorkerState,
    bucket: &str,
    key: &str,
) -> Result<GetObjectOutput, ProcessError> {
    match state.s3.get_object().bucket(bucket).key(key).send().await {
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

/// Where the icons found for a file (or a chunk) stored in `bucket` are kept: the same bucket,
/// under `icons/sha256/`, shared by every file and client.
pub fn icon_storage(state: &WorkerState, bucket: &str) -> IconStorage {
    IconStorage::new(state.s3.clone(), bucket)
}
