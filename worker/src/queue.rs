//! The queue seen by the worker: receive, delete, change visibility. A trait so that the
//! receive loop and its handlers can be unit-tested against a queue in memory
//! (`memory::MemoryQueue`, in tests only); [`SqsQueue`] is the real one.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use common::metrics::{self, QueueName};

#[cfg(test)]
pub(crate) mod memory;

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    /// SQS's id, for logs only (redriven messages get new ids).
    pub id: String,
    /// The body: a file event, raw or in an SNS envelope.
    pub body: String,
    /// Handle for delete and visibility changes.
    pub receipt_handle: String,
    /// How many times SQS has handed this message out, this time included.
    pub receive_count: u32,
}

/// A queue the worker consumes.
#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Long-polls for up to `max` (1 to 10) messages.
    async fn receive(&self, max: i32) -> anyhow::Result<Vec<Message>>;
    /// Removes a handled message.
    async fn delete(&self, receipt_handle: &str) -> anyhow::Result<()>;
    /// Hides the message for `seconds` more from now (0 releases it at once).
    async fn set_visibility(&self, receipt_handle: &str, seconds: i32) -> anyhow::Result<()>;
    /// Sends messages with these bodies (the chunks of a large file).
    async fn send(&self, bodies: Vec<String>) -> anyhow::Result<()>;
}

/// An SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    name: QueueName,
    url: String,
    wait_seconds: i32,
    visibility_timeout: i32,
}

impl SqsQueue {
    /// The queue at `url`, long-polled for `wait_seconds`, messages hidden for
    /// `visibility_timeout` seconds once received; its metrics say `name`.
    pub fn new(
        client: aws_sdk_sqs::Client,
        name: QueueName,
        url: &str,
        wait_seconds: i32,
        visibility_timeout: i32,
    ) -> Self {
        Self {
            client,
            name,
            url: url.to_owned(),
            wait_seconds,
            visibility_timeout,
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn receive(&self, max: i32) -> anyhow::Result<Vec<Message>> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(self.wait_seconds)
            .visibility_timeout(self.visibility_timeout)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .with_context(|| format!("failed to receive from {}", self.url))?;
        let messages: Vec<Message> = output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                let receive_count = message
                    .attributes()
                    .and_then(|attributes| {
                        attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                Some(Message {
                    id: message.message_id.unwrap_or_default(),
                    body: message.body.unwrap_or_default(),
                    receipt_handle: message.receipt_handle?,
                    receive_count,
                })
            })
            .collect();
        metrics::messages_received(self.name, messages.len());
        Ok(messages)
    }

    async fn delete(&self, receipt_handle: &str) -> anyhow::Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .context("failed to delete a message")?;
        metrics::message_deleted(self.name);
        Ok(())
    }

    async fn set_visibility(&self, receipt_handle: &str, seconds: i32) -> anyhow::Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .context("failed to change a message's visibility")?;
        Ok(())
    }

    async fn send(&self, bodies: Vec<String>) -> anyhow::Result<()> {
        for batch in bodies.chunks(10) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(index, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .context("failed to build a message batch")?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .with_context(|| format!("failed to send messages to {}", self.url))?;
            if let Some(failed) = output.failed.first() {
                anyhow::bail!(
                    "SQS refused {} of {} messages: {}",
                    output.failed.len(),
                    batch.len(),
                    failed.message.as_deref().unwrap_or(&failed.code)
                );
            }
        }
        Ok(())
    }
}
