//! Reading the `file` field of a multipart upload into S3.

use axum::extract::{
    Multipart,
    multipart::{Field, MultipartError},
};
use axum::http::StatusCode;
use entity::FileType;
use uuid::Uuid;

use super::{
    S3StreamWriter,
    detect::{self, Detected, Encoding, Sniffer},
    display_name, object_key, sanitize_file_name, visible,
};
use store::files::NewFile;

use common::callback_url::MAX_CALLBACK_URL_LEN;

use crate::{error::ApiError, routes::webhooks::override_callback_url, state::AppState};

/// The media type of an object whose type is not known yet when its first part goes to S3
/// (only when the file starts with more than one part of blank space).
const PROVISIONAL_CONTENT_TYPE: &str = "text/plain";

/// Finds the `file` field, recognises its type, streams it to S3 under a new file id and
/// returns the row to insert. Nothing is written to S3 for a rejected upload, and a partly
/// written one is aborted. At most `max_buffer` bytes are held in memory at a time (the
/// upload's reservation, see [`super::capacity`]).
///
/// The file is written to S3 as it arrives while a [`Sniffer`] looks for its first content
/// past any leading blank space; once the type is known the object is named for it (an
/// upload whose name gives none is stored as `upload.{type}`), which is before anything was
/// sent unless the blank space fills a whole part.
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
    let mut callback_url = None;
    let mut field = loop {
        match multipart.next_field().await.map_err(multipart_error)? {
            Some(field) if field.name() == Some("file") => break field,
            Some(field) if field.name() == Some(CALLBACK_URL_FIELD) => {
                callback_url = Some(callback_url_field(state, client_id, field).await?);
            }
            Some(_) => continue,
            None => {
                return Err(ApiError::bad_request(
                    "missing_file",
                    "the multipart field `file` is required",
                ));
            }
        }
    };
    // Judged by its visible characters, stored and shown capped.
    let visible_name = visible(field.file_name().unwrap_or_default());
    let original_name = display_name(&visible_name);
    let media_type = field.content_type().map(str::to_owned);
    detect::check_declared(Some(&visible_name), media_type.as_deref())?;

    let id = Uuid::now_v7();
    let bucket = state.settings.aws.bucket.clone();
    let mut writer = S3StreamWriter::new(
        state.aws.s3.clone(),
        &bucket,
        &object_key(id, &sanitize_file_name(&visible_name, None)),
        PROVISIONAL_CONTENT_TYPE,
        max_buffer as usize,
    );
    let upload = Upload {
        id,
        name: &visible_name,
        media_type: media_type.as_deref(),
        limit,
    };
    let detected = match upload.copy(&mut writer, &mut field, multipart_error).await {
        Ok(detected) => detected,
        Err(error) => {
            writer.abort().await;
            return Err(error);
        }
    };
    // A `callback_url` sent after the file is read now, before the object is kept (the
    // file's field holds the multipart stream until dropped).
    drop(field);
    if callback_url.is_none() {
        match after_file(state, client_id, &mut multipart, &multipart_error).await {
            Ok(found) => callback_url = found,
            Err(error) => {
                writer.abort().await;
                return Err(error);
            }
        }
    }
    let size_bytes = i64::try_from(writer.written()).unwrap_or(i64::MAX);
    let s3_key = writer.key().to_owned();
    writer.finish().await.map_err(ApiError::storage)?;
    Ok(NewFile {
        id,
        client_id,
        original_name: if original_name.is_empty() {
            format!("upload.{}", detected.file_type.as_str())
        } else {
            original_name
        },
        s3_bucket: bucket,
        s3_key,
        file_type: detected.file_type,
        size_bytes,
        callback_url,
    })
}

/// The multipart field with a per-upload webhook callback URL.
const CALLBACK_URL_FIELD: &str = "callback_url";

/// Reads and checks a `callback_url` field ([`override_callback_url`]).
async fn callback_url_field(
    state: &AppState,
    client_id: Uuid,
    mut field: Field<'_>,
) -> Result<String, ApiError> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_CALLBACK_URL_LEN {
            return Err(ApiError::bad_request(
                "invalid_callback_url",
                format!("invalid callback URL: longer than {MAX_CALLBACK_URL_LEN} characters"),
            ));
        }
    }
    let text = String::from_utf8(text).map_err(|_| {
        ApiError::bad_request("invalid_callback_url", "invalid callback URL: not UTF-8")
    })?;
    override_callback_url(state, client_id, &text).await
}

/// The `callback_url` among the fields after the file, if any; other fields are skipped.
async fn after_file(
    state: &AppState,
    client_id: Uuid,
    multipart: &mut Multipart,
    multipart_error: impl Fn(MultipartError) -> ApiError,
) -> Result<Option<String>, ApiError> {
    while let Some(field) = multipart.next_field().await.map_err(&multipart_error)? {
        if field.name() == Some(CALLBACK_URL_FIELD) {
            return callback_url_field(state, client_id, field).await.map(Some);
        }
    }
    Ok(None)
}

/// What is known of an upload before its content.
struct Upload<'a> {
    id: Uuid,
    name: &'a str,
    media_type: Option<&'a str>,
    limit: u64,
}

impl Upload<'_> {
    /// Streams `field` into `writer` within the size limit, recognising its type on the way,
    /// and names the object for that type (while nothing has been sent yet).
    async fn copy(
        &self,
        writer: &mut S3StreamWriter,
        field: &mut Field<'_>,
        multipart_error: impl Fn(MultipartError) -> ApiError,
    ) -> Result<Detected, ApiError> {
        let mut sniffer = Sniffer::default();
        let mut detected = None;
        while let Some(chunk) = field.chunk().await.map_err(&multipart_error)? {
            if writer.written() + chunk.len() as u64 > self.limit {
                return Err(ApiError::PayloadTooLarge { limit: self.limit });
            }
            if detected.is_none() && sniffer.feed(&chunk) {
                detected = Some(self.decide(&mut sniffer, writer)?);
            }
            writer.write(&chunk).await.map_err(ApiError::storage)?;
        }
        match detected {
            Some(detected) => Ok(detected),
            None => self.decide(&mut sniffer, writer),
        }
    }

    fn decide(
        &self,
        sniffer: &mut Sniffer,
        writer: &mut S3StreamWriter,
    ) -> Result<Detected, ApiError> {
        let detected = sniffer.decide(Some(self.name), self.media_type)?;
        let key = object_key(
            self.id,
            &sanitize_file_name(self.name, Some(detected.file_type)),
        );
        writer.retarget(&key, &stored_content_type(detected));
        Ok(detected)
    }
}

/// The media type stored with an uploaded object, naming UTF-16's byte order.
fn stored_content_type(detected: Detected) -> String {
    let media_type = content_type(detected.file_type);
    match detected.encoding {
        Encoding::Utf8 => media_type.to_owned(),
        Encoding::Utf16Le => format!("{media_type}; charset=utf-16le"),
        Encoding::Utf16Be => format!("{media_type}; charset=utf-16be"),
    }
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
