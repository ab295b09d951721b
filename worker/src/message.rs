//! What arrives on the worker's queue: a file the api announced, a retry of a file's failed
//! results the api asked for, or a chunk of a large file that a worker split. The api sends
//! the first two ([`FileEvent`], with `"retry": true` for a retry); chunk messages are the
//! worker's own.
//!
//! On the wire a chunk message is a file event naming the chunk's object plus `"chunk": n`,
//! the body workers have always sent, so messages in flight during a deploy are read by old
//! and new workers alike.

use common::event::{FileEvent, InvalidEvent};
use serde::{Deserialize, Serialize};
use store::Work;
use uuid::Uuid;

/// One message of the worker's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerMessage {
    /// An uploaded file, announced by the api.
    File(FileEvent),
    /// A chunk of a large file, sent by the worker that split it.
    Chunk(ChunkMessage),
    /// Resolve again the failed results of a file its owner retried
    /// (`store::retries`).
    Retry(FileEvent),
}

/// "Chunk `number` of file `file_id` has its entries at `s3://s3_bucket/s3_key`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkMessage {
    /// The file the chunk belongs to.
    pub file_id: Uuid,
    /// From 0.
    pub number: i32,
    /// Bucket of the chunk's entries.
    pub s3_bucket: String,
    /// Key of the chunk's entries.
    pub s3_key: String,
}

/// The body as sent: a file event, with `chunk` set on chunk messages.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    file_id: Uuid,
    s3_bucket: String,
    s3_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunk: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    retry: bool,
}

impl WorkerMessage {
    /// Parses an SQS body, raw or wrapped in an SNS notification envelope.
    pub fn from_sqs_body(body: &str) -> Result<Self, InvalidEvent> {
        let Body {
            file_id,
            s3_bucket,
            s3_key,
            chunk,
            retry,
        } = common::event::from_sqs_body(body)?;
        let event = FileEvent {
            file_id,
            s3_bucket,
            s3_key,
        };
        Ok(match chunk {
            None if retry => Self::Retry(event),
            None => Self::File(event),
            Some(number) => Self::Chunk(ChunkMessage {
                file_id,
                number,
                s3_bucket: event.s3_bucket,
                s3_key: event.s3_key,
            }),
        })
    }

    /// The JSON body sent to the queue.
    pub fn to_json(&self) -> String {
        let body = match self.clone() {
            Self::File(event) | Self::Retry(event) => Body {
                retry: matches!(self, Self::Retry(_)),
                file_id: event.file_id,
                s3_bucket: event.s3_bucket,
                s3_key: event.s3_key,
                chunk: None,
            },
            Self::Chunk(ChunkMessage {
                file_id,
                number,
                s3_bucket,
                s3_key,
            }) => Body {
                file_id,
                s3_bucket,
                s3_key,
                chunk: Some(number),
                retry: false,
            },
        };
        // Serialising strings, a UUID and a number cannot fail.
        serde_json::to_string(&body).unwrap_or_default()
    }

    /// What the message asks a worker to do, and to hold a lease on.
    pub fn work(&self) -> Work {
        match self {
            Self::File(event) => Work::File(event.file_id),
            Self::Retry(event) => Work::Retry(event.file_id),
            Self::Chunk(chunk) => Work::Chunk {
                file_id: chunk.file_id,
                number: chunk.number,
            },
        }
    }

    /// The file the message is about.
    pub fn file_id(&self) -> Uuid {
        self.work().file_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> WorkerMessage {
        WorkerMessage::Chunk(ChunkMessage {
            file_id: Uuid::nil(),
            number: 3,
            s3_bucket: "bucket".into(),
            s3_key: "chunks/x/00003.json".into(),
        })
    }

    #[test]
    fn a_file_event_from_the_api_is_a_file_message() {
        let event = FileEvent {
            file_id: Uuid::nil(),
            s3_bucket: "bucket".into(),
            s3_key: "uploads/x/a.csv".into(),
        };
        let message = WorkerMessage::from_sqs_body(&event.to_json()).unwrap();
        assert_eq!(message, WorkerMessage::File(event));
        assert_eq!(message.work(), Work::File(Uuid::nil()));
    }

    #[test]
    fn chunk_messages_round_trip() {
        let message = chunk();
        assert_eq!(
            WorkerMessage::from_sqs_body(&message.to_json()).unwrap(),
            message
        );
        assert_eq!(
            message.work(),
            Work::Chunk {
                file_id: Uuid::nil(),
                number: 3
            }
        );
    }

    /// The body workers sent before chunk messages had a type of their own: a file event with
    /// `chunk` set. Messages in flight during a deploy still carry it.
    #[test]
    fn the_legacy_chunk_body_is_still_read() {
        let legacy = r#"{"fileId":"00000000-0000-0000-0000-000000000000","s3Bucket":"bucket","s3Key":"chunks/x/00003.json","chunk":3}"#;
        assert_eq!(WorkerMessage::from_sqs_body(legacy).unwrap(), chunk());
        assert_eq!(chunk().to_json(), legacy, "and is what is sent");
        let wrapped = serde_json::json!({"Type": "Notification", "Message": legacy}).to_string();
        assert_eq!(WorkerMessage::from_sqs_body(&wrapped).unwrap(), chunk());
    }

    #[test]
    fn a_retry_request_from_the_api_is_a_retry_message() {
        let event = FileEvent {
            file_id: Uuid::nil(),
            s3_bucket: "bucket".into(),
            s3_key: "uploads/x/a.csv".into(),
        };
        let message = WorkerMessage::from_sqs_body(&event.to_retry_json()).unwrap();
        assert_eq!(message, WorkerMessage::Retry(event));
        assert_eq!(message.work(), Work::Retry(Uuid::nil()));
        assert_eq!(
            WorkerMessage::from_sqs_body(&message.to_json()).unwrap(),
            message
        );
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(WorkerMessage::from_sqs_body("hello").is_err());
        assert!(WorkerMessage::from_sqs_body(r#"{"fileId":"nope"}"#).is_err());
    }
}
