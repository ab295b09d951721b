//! Reading the `file` field of a multipart upload into S3.

use axum::extract::{
    Multipart,
    multipart::{Field, MultipartError},
};
use axum::http::StatusCode;
use entity::FileType;
use uuid::Uuid;

use super::{
    S3StreamWriter, detect::SNIFF_BYTES, detect_file_type, object_key, sanitize_file_name,
};
use crate::{error::ApiError, files::NewFile, state::AppState};

/// Finds the `file` field, recognises its type, streams it to S3 under a new file id and
/// returns the row to insert. Nothing is written to S3 for a rejected upload, and a partly
/// written one is aborted. At most `max_buffer` bytes are held in memory at a time (the
/// upload's reservation, see [`super::capacity`]).
pub async fn receive_upload(
    state: &AppState,
    client_id: Uuid,
    mut multipart: Multipart,
    max_buffer: u32,
) -> Result<NewFile, ApiError> {
    let limit = state.settings.api.max_upload_bytes;
    let multipart_error = |error: MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::from(error)
        }
    };
    let mut field = loop {
        match multipart.next_field().await.map_err(multipart_error)? {
            Some(field) if field.name() == Some("file") => break field,
            Some(_) => continue,
            None => {
                return Err(ApiError::bad_request(
                    "missing_file",
                    "the multipart field `file` is required",
                ));
            }
        }
    };
    let original_name: String = field
        .file_name()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let media_type = field.content_type().map(str::to_owned);

    let mut head = Vec::with_capacity(SNIFF_BYTES);
    while head.len() < SNIFF_BYTES {
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    let file_type = detect_file_type(Some(&original_name), media_type.as_deref(), &head)?;
    let id = Uuid::now_v7();
    let s3_key = object_key(id, &sanitize_file_name(&original_name, file_type));
    let bucket = state.settings.aws.bucket.clone();
    let mut writer = S3StreamWriter::new(
        state.aws.s3.clone(),
        &bucket,
        &s3_key,
        content_type(file_type),
        max_buffer as usize,
    );
    let copied = copy_field(&mut writer, &head, &mut field, limit, multipart_error).await;
    if let Err(error) = copied {
        writer.abort().await;
        return Err(error);
    }
    let size_bytes = i64::try_from(writer.written()).unwrap_or(i64::MAX);
    writer.finish().await?;
    Ok(NewFile {
        id,
        client_id,
        original_name: if original_name.is_empty() {
            format!("upload.{}", file_type.as_str())
        } else {
            original_name
        },
        s3_bucket: bucket,
        s3_key,
        file_type,
        size_bytes,
    })
}

async fn copy_field(
    writer: &mut S3StreamWriter,
    head: &[u8],
    field: &mut Field<'_>,
    limit: u64,
    multipart_error: impl Fn(MultipartError) -> ApiError,
) -> Result<(), ApiError> {
    let too_large = |written: u64, more: usize| written + more as u64 > limit;
    if too_large(0, head.len()) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    writer.write(head).await?;
    while let Some(chunk) = field.chunk().await.map_err(&multipart_error)? {
        if too_large(writer.written(), chunk.len()) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        writer.write(&chunk).await?;
    }
    Ok(())
}

/// The media type stored with the object.
pub fn content_type(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Csv => "text/csv",
        FileType::Tsv => "text/tab-separated-values",
        FileType::Json => "application/json",
        FileType::Ndjson => "application/x-ndjson",
    }
}
