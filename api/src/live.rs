//! Live file changes inside one api process: the one `LISTEN` connection
//! ([`store::events::listen`]) fanned out to every open event stream through a tokio broadcast
//! channel, and the per-client bound on open streams (`EVENTS_MAX_STREAMS_PER_CLIENT`).
//!
//! A stream subscribes before it reads what it shows, so a change committed in between is
//! announced to it rather than lost. A stream that falls behind the channel (it holds the last
//! [`CHANNEL_CAPACITY`] announcements) reads again, as after the listener reconnects.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use sea_orm::DatabaseConnection;
use store::events::Announcement;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::ApiError;

/// Announcements kept for slow streams before they are told they lagged.
pub const CHANNEL_CAPACITY: usize = 1024;

/// What a refused stream is told to wait: streams last long; a few seconds is a hint only.
pub const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The changes heard by this process and the streams open on it.
#[derive(Debug)]
pub struct LiveChanges {
    announce: broadcast::Sender<Announcement>,
    /// Cancelled when the api stops: every stream ends, so graceful shutdown is not held
    /// open by connections that would never finish.
    closing: CancellationToken,
    max_streams_per_client: usize,
    streams: Mutex<HashMap<Uuid, usize>>,
    /// The comment interval of idle streams (`EVENTS_HEARTBEAT_SECS`).
    pub heartbeat: Duration,
}

impl LiveChanges {
    /// Room for `max_streams_per_client` streams per client, idle ones sending a heartbeat
    /// every `heartbeat`.
    pub fn new(max_streams_per_client: usize, heartbeat: Duration) -> Self {
        let (announce, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            announce,
            closing: CancellationToken::new(),
            max_streams_per_client,
            streams: Mutex::new(HashMap::new()),
            heartbeat,
        }
    }

    /// Listens for changes until `shutdown`, then ends every stream. Run once per process.
    pub async fn run(self: Arc<Self>, db: DatabaseConnection, shutdown: CancellationToken) {
        let listened =
            store::events::listen(&db, self.announce.clone(), shutdown.cancelled()).await;
        if let Err(error) = listened {
            tracing::error!(error.message = %error, "live file changes are off: {error}");
            shutdown.cancelled().await;
        }
        self.closing.cancel();
    }

    /// Announcements from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Announcement> {
        self.announce.subscribe()
    }

    /// Cancelled when the api stops.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Claims a stream for `client`, or [`ApiError::TooManyStreams`] when it has its maximum
    /// open on this instance.
    pub fn open_stream(self: &Arc<Self>, client: Uuid) -> Result<StreamSlot, ApiError> {
        // The critical section is a map update; a poisoned lock still holds valid counts.
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let open = streams.entry(client).or_default();
        if *open >= self.max_streams_per_client {
            return Err(ApiError::TooManyStreams {
                limit: self.max_streams_per_client,
                retry_after: STREAM_RETRY_AFTER,
            });
        }
        *open += 1;
        common::metrics::event_stream(true);
        Ok(StreamSlot {
            live: Arc::clone(self),
            client,
        })
    }
}

/// One open stream's place in its client's count; given back when the stream is dropped
/// (the client went away, the file finished, the api stops).
#[derive(Debug)]
pub struct StreamSlot {
    live: Arc<LiveChanges>,
    client: Uuid,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self
            .live
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = streams.get_mut(&self.client) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                streams.remove(&self.client);
            }
        }
        common::metrics::event_stream(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_bounded_per_client_and_given_back_when_dropped() {
        let live = Arc::new(LiveChanges::new(2, Duration::from_secs(15)));
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let first = live.open_stream(alice).unwrap();
        let _second = live.open_stream(alice).unwrap();
        assert!(matches!(
            live.open_stream(alice),
            Err(ApiError::TooManyStreams { limit: 2, .. })
        ));
        let _bobs = live.open_stream(bob).unwrap();
        drop(first);
        let _third = live.open_stream(alice).unwrap();
    }
}
