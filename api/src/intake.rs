//! The one way into the pipeline, shared by uploads and jobs: the list is stored in S3 by the
//! caller, then recorded PENDING and announced on SNS.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use common::metrics::{self, ApiPhase};
use entity::{FileType, files};
use store::files::{InsertError, NewFile, count_in_flight, insert_pending};
use uuid::Uuid;

use crate::{
    error::ApiError,
    publish,
    state::AppState,
    upload::{content_type, object_key},
};

/// What a client refused for having too many files in flight is told to wait: files take
/// seconds to minutes, so there is no exact time to give.
pub const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(5);

fn too_many_in_flight(limit: u64) -> ApiError {
    ApiError::TooManyFilesInFlight {
        limit,
        retry_after: IN_FLIGHT_RETRY_AFTER,
    }
}

/// Refuses early, before anything is received or stored, when the client already has
/// `MAX_FILES_IN_FLIGHT` files PENDING or PROCESSING. [`accept`] checks again, exactly.
pub async fn ensure_room_for_another(state: &AppState, client_id: Uuid) -> Result<(), ApiError> {
    let limit = state.settings.api.max_files_in_flight;
    let started = Instant::now();
    let in_flight = count_in_flight(&state.db, client_id).await?;
    metrics::api_phase(ApiPhase::InFlightCount, started.elapsed());
    if in_flight >= limit {
        return Err(too_many_in_flight(limit));
    }
    Ok(())
}

/// Records a stored file PENDING and announces it. If the announcement fails the file is still
/// accepted: the re-publisher sends it later. If it cannot be recorded (the client reached its
/// in-flight cap meanwhile, or the database failed) the stored object is deleted.
pub async fn accept(state: &AppState, new_file: NewFile) -> Result<files::Model, ApiError> {
    let (bucket, key) = (new_file.s3_bucket.clone(), new_file.s3_key.clone());
    let started = Instant::now();
    let inserted =
        insert_pending(&state.db, new_file, state.settings.api.max_files_in_flight).await;
    metrics::api_phase(ApiPhase::Record, started.elapsed());
    let file = match inserted {
        Ok(file) => file,
        Err(error) => {
            discard_object(state, &bucket, &key).await;
            return Err(match error {
                InsertError::TooManyInFlight { limit } => too_many_in_flight(limit),
                InsertError::Database(error) => error.into(),
            });
        }
    };
    tracing::info!(file.id = %file.id, file.size = file.size_bytes, "accepted file {}", file.id);
    publish::announce(state, &file).await;
    Ok(file)
}

/// Stores a job's domains in S3 as `{"domains": [...]}`, the JSON shape the worker reads.
pub async fn store_job_domains(
    state: &AppState,
    client_id: Uuid,
    domains: &[String],
    callback_url: Option<String>,
) -> Result<NewFile, ApiError> {
    let body = serde_json::to_vec(&serde_json::json!({ "domains": domains }))
        .context("failed to encode the job")?;
    let id = Uuid::now_v7();
    let name = "job.json";
    let s3_key = object_key(id, name);
    let size_bytes = i64::try_from(body.len()).unwrap_or(i64::MAX);
    state
        .aws
        .s3
        .put_object()
        .bucket(&state.settings.aws.bucket)
        .key(&s3_key)
        .content_type(content_type(FileType::Json))
        .body(ByteStream::from(body))
        .send()
        .await
        .context("failed to store the job in S3")
        .map_err(ApiError::storage)?;
    Ok(NewFile {
        id,
        client_id,
        original_name: name.to_owned(),
        s3_bucket: state.settings.aws.bucket.clone(),
        s3_key,
        file_type: FileType::Json,
        size_bytes,
        callback_url,
    })
}

/// Deletes an object that will never be recorded; a failure is only logged (nothing refers to
/// the object, so it is merely garbage).
async fn discard_object(state: &AppState, bucket: &str, key: &str) {
    let deleted = state
        .aws
        .s3
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await;
    if let Err(error) = deleted {
        tracing::warn!(s3.key = %key, error.message = %error, "failed to delete the unrecorded object {key}");
    }
}
