//! The event that announces an uploaded file: published to SNS by the api, delivered raw to
//! SQS, consumed by the worker. The worker's own messages (the chunks of a large file) are
//! the worker's business: see its `message` module.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The `eventType` message attribute of a [`FileEvent`].
pub const FILE_UPLOADED: &str = "file.uploaded";

/// The `eventType` message attribute of a retry request ([`FileEvent::to_retry_json`]).
pub const FILE_RETRY_REQUESTED: &str = "file.retry_requested";

/// Where the worker writes chunk `number` of a large file `file_id`, in the file's bucket.
pub fn chunk_object_key(file_id: Uuid, number: usize) -> String {
    format!("{}{number:05}.json", chunk_objects_prefix(file_id))
}

/// The prefix of every chunk object of file `file_id`: what deleting the file removes.
pub fn chunk_objects_prefix(file_id: Uuid) -> String {
    format!("chunks/{file_id}/")
}

/// "File `file_id` is stored at `s3://s3_bucket/s3_key` and waits to be processed."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEvent {
    /// The `files` row.
    pub file_id: Uuid,
    /// Bucket of the uploaded object.
    pub s3_bucket: String,
    /// Key of the uploaded object.
    pub s3_key: String,
}

/// A message body that is not a [`FileEvent`].
#[derive(Debug, thiserror::Error)]
#[error("not a file event: {0}")]
pub struct InvalidEvent(#[from] serde_json::Error);

/// The SNS notification envelope, present when a subscription does not use raw delivery.
#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

impl FileEvent {
    /// The JSON body published to SNS.
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings and a UUID cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses an SQS body, raw or wrapped in an SNS notification envelope.
    pub fn from_sqs_body(body: &str) -> Result<Self, InvalidEvent> {
        from_sqs_body(body)
    }

    /// The JSON body of a retry request of the file's failed results: the file's event with
    /// `"retry": true`, which workers read as a retry and workers of before read as the file
    /// again (harmless: it has no entry without a result).
    pub fn to_retry_json(&self) -> String {
        #[derive(Serialize)]
        struct Retry<'a> {
            #[serde(flatten)]
            event: &'a FileEvent,
            retry: bool,
        }
        serde_json::to_string(&Retry {
            event: self,
            retry: true,
        })
        .unwrap_or_default()
    }
}

/// Parses an SQS body as a `T`, raw or wrapped in an SNS notification envelope: how every
/// message of the pipeline's queue is read.
pub fn from_sqs_body<T: DeserializeOwned>(body: &str) -> Result<T, InvalidEvent> {
    if let Ok(envelope) = serde_json::from_str::<SnsEnvelope>(body)
        && envelope.kind == "Notification"
    {
        return Ok(serde_json::from_str(&envelope.message)?);
    }
    Ok(serde_json::from_str(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> FileEvent {
        FileEvent {
            file_id: Uuid::nil(),
            s3_bucket: "bucket".into(),
            s3_key: "uploads/x/a.csv".into(),
        }
    }

    #[test]
    fn raw_body_round_trips_in_camel_case() {
        let json = event().to_json();
        assert!(
            json.contains("\"fileId\"")
                && json.contains("\"s3Bucket\"")
                && json.contains("\"s3Key\"")
        );
        assert_eq!(FileEvent::from_sqs_body(&json).unwrap(), event());
    }

    #[test]
    fn sns_envelope_is_unwrapped() {
        let body = serde_json::json!({
            "Type": "Notification",
            "MessageId": "1",
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
            "Message": event().to_json(),
        })
        .to_string();
        assert_eq!(FileEvent::from_sqs_body(&body).unwrap(), event());
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(FileEvent::from_sqs_body("hello").is_err());
        assert!(FileEvent::from_sqs_body("{\"fileId\":\"nope\"}").is_err());
    }
}
