//! A queue in memory, for unit tests of the receive loop and its handlers: it hands out what
//! was pushed, long-polls like SQS (a second, or until a push), and records deletes,
//! visibility changes and sends for the test to read.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Message, Queue};

/// A queue in memory. A message handed out stays out until it is deleted or made visible
/// again with a visibility of 0; visibility timeouts do not run out on their own.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
    pushed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u32,
    visible: VecDeque<Message>,
    /// Messages handed out, by receipt handle.
    out: HashMap<String, Message>,
    deleted: Vec<String>,
    /// Visibility changes, by message id, in order.
    visibility: HashMap<String, Vec<i32>>,
    sent: Vec<String>,
    receives: usize,
}

impl MemoryQueue {
    /// Adds a message with `body` and returns its id.
    pub fn push(&self, body: &str) -> String {
        let id = {
            let mut state = self.lock();
            state.next_id += 1;
            let id = format!("m{}", state.next_id);
            state.visible.push_back(Message {
                id: id.clone(),
                body: body.to_owned(),
                receipt_handle: String::new(),
                receive_count: 0,
            });
            id
        };
        self.pushed.notify_waiters();
        id
    }

    /// Ids of the deleted messages, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.lock().deleted.clone()
    }

    /// The visibility changes of message `id`, in seconds, in order.
    pub fn visibility_changes(&self, id: &str) -> Vec<i32> {
        self.lock().visibility.get(id).cloned().unwrap_or_default()
    }

    /// Bodies sent to the queue with [`Queue::send`].
    pub fn sent(&self) -> Vec<String> {
        self.lock().sent.clone()
    }

    /// Messages waiting to be received.
    pub fn visible(&self) -> usize {
        self.lock().visible.len()
    }

    /// Calls of [`Queue::receive`] so far.
    pub fn receives(&self) -> usize {
        self.lock().receives
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self, max: i32) -> Vec<Message> {
        let mut state = self.lock();
        let count = usize::try_from(max.clamp(1, 10)).unwrap_or(1);
        let mut taken = Vec::new();
        while taken.len() < count {
            let Some(mut message) = state.visible.pop_front() else {
                break;
            };
            message.receive_count += 1;
            message.receipt_handle = format!("{}/{}", message.id, message.receive_count);
            state
                .out
                .insert(message.receipt_handle.clone(), message.clone());
            taken.push(message);
        }
        taken
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn receive(&self, max: i32) -> anyhow::Result<Vec<Message>> {
        self.lock().receives += 1;
        let pushed = self.pushed.notified();
        let messages = self.take(max);
        if !messages.is_empty() {
            return Ok(messages);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), pushed).await;
        Ok(self.take(max))
    }

    async fn delete(&self, receipt_handle: &str) -> anyhow::Result<()> {
        let mut state = self.lock();
        let message = state
            .out
            .remove(receipt_handle)
            .ok_or_else(|| anyhow::anyhow!("no message out with handle {receipt_handle}"))?;
        state.deleted.push(message.id);
        Ok(())
    }

    async fn set_visibility(&self, receipt_handle: &str, seconds: i32) -> anyhow::Result<()> {
        let mut state = self.lock();
        let id = state
            .out
            .get(receipt_handle)
            .map(|message| message.id.clone())
            .ok_or_else(|| anyhow::anyhow!("no message out with handle {receipt_handle}"))?;
        state.visibility.entry(id).or_default().push(seconds);
        if seconds == 0
            && let Some(message) = state.out.remove(receipt_handle)
        {
            state.visible.push_back(message);
        }
        Ok(())
    }

    async fn send(&self, bodies: Vec<String>) -> anyhow::Result<()> {
        for body in &bodies {
            self.push(body);
        }
        self.lock().sent.extend(bodies);
        Ok(())
    }
}
