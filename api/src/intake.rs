//! The one way into the pipeline, shared by uploads and jobs: the list is stored in S3 by the
//! caller, then recorded PENDING and announced on SNS.

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use entity::{FileType, files};
use uuid::Uuid;

use crate::{
    error::ApiError,
    files::{NewFile, insert_pending},
    publish,
    state::AppState,
    upload::{content_type, object_key},
};

/// Records a stored file PENDING and announces it. If the announcement fails the file is still
/// accepted: the re-publisher sends it later.
pub async fn accept(state: &AppState, new_file: NewFile) -> Result<files::Model, ApiError> {
    let file = insert_pending(&state.db, new_file).await?;
    tracing::info!(file.id = %file.id, file.size = file.size_bytes, "accepted file {}", file.id);
    publish::announce(state, &file).await;
    Ok(file)
}

/// Stores a job's domains in S3 as `{"domains": [...]}`, the JSON shape the worker reads.
pub async fn store_job_domains(
    state: &AppState,
    client_id: Uuid,
    domains: &[String],
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
        .context("failed to store the job in S3")?;
    Ok(NewFile {
        id,
        client_id,
        original_name: name.to_owned(),
        s3_bucket: state.settings.aws.bucket.clone(),
        s3_key,
        file_type: FileType::Json,
        size_bytes,
    })
}
