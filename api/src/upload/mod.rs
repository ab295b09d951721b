//! Receiving an uploaded domain file: recognising it as CSV, TSV, JSON or NDJSON, naming it safely and
//! streaming it to S3 within the size limit.

mod capacity;
mod detect;
mod receive;
mod s3_stream;
mod sanitize;

pub use capacity::{UploadCapacity, UploadSlot, buffer_needed};
pub use detect::detect_file_type;
pub use receive::{content_type, receive_upload};
pub use s3_stream::S3StreamWriter;
pub use sanitize::{
    display_name, download_disposition, download_disposition_as, last_component,
    sanitize_file_name, visible,
};

use uuid::Uuid;

/// The S3 key of an upload: `uploads/{file_id}/{sanitised name}`.
pub fn object_key(file_id: Uuid, sanitized_name: &str) -> String {
    format!("uploads/{file_id}/{sanitized_name}")
}
