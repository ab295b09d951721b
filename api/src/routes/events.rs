//! `GET /files/{id}/events` and `GET /events`: Server-Sent Events of a file's progress, or of
//! all the caller's files, as they change.
//!
//! Each `file` event carries the file as `GET /files/{id}` shows it, read from the table when a
//! change is announced ([`crate::live`]), and its `change_seq` as the event id. Reads are at
//! least [`MIN_READ_GAP`] apart, so a file changing fast is sent at most four times a second,
//! always in its latest state. A client that reconnects with `Last-Event-ID` is sent every
//! file changed since (its current state): change numbers are given in commit order, so
//! nothing committed before the id it saw can appear later.
//!
//! A stream holds no database connection while it waits; it ends when the client goes away,
//! when the api stops and, for one file, after its `end` event.

use std::{collections::VecDeque, convert::Infallible, future::Future, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use entity::files;
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use store::events::Announcement;
use tokio::{
    sync::broadcast::{Receiver, error::RecvError},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppPath, ErrorBody},
    live::StreamSlot,
    state::AppState,
    views::FileView,
};

/// Shortest time between two reads of one stream: at most four events per second per file.
pub const MIN_READ_GAP: Duration = Duration::from_millis(250);

/// Files sent per read of `GET /events`; when there are more, the next read follows at once.
const READ_BATCH: u64 = 200;

/// The header a reconnecting `EventSource` sends with the id of the last event it received.
const LAST_EVENT_ID: &str = "last-event-id";

/// The event streams.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(client_events))
        .route("/files/{id}/events", get(file_events))
}

/// The data of an `end` event: the file reached a terminal status; the stream closes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndOfFile {
    /// The file.
    pub id: Uuid,
    /// Its terminal status.
    pub status: entity::FileStatus,
}

/// The data of a `deleted` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedFile {
    /// The file that no longer exists.
    pub id: Uuid,
}

/// A file's progress as it happens.
///
/// `text/event-stream` of: `file` events (data: the file as `GET /files/{id}` shows it; id: its
/// change number), sent at once with the file's current state and then whenever its status or
/// counters change, at most four a second; then, once the status is terminal (COMPLETED,
/// FAILED), an `end` event and the stream closes. A `deleted` event ends it if the file is
/// deleted. `:heartbeat` comments every `EVENTS_HEARTBEAT_SECS`. With `Last-Event-ID` (what
/// `EventSource` sends when it reconnects), the current state is sent only if it changed
/// after that event.
#[utoipa::path(get, path = "/files/{id}/events", tag = "files",
    params(
        ("id" = Uuid, Path, description = "File id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received, to resume after it"),
    ),
    responses(
        (status = 200, description = "A stream of `file` events (data: FileView), then `end` (data: EndOfFile); `deleted` (data: DeletedFile) if the file is deleted",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed id, or `invalid_last_event_id`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or another client's", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `too_many_auth_failures`; or `too_many_streams`: the client has `EVENTS_MAX_STREAMS_PER_CLIENT` streams open on this instance",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ),
    security(("api_key" = [])))]
pub async fn file_events(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
) -> Result<Response> {
    let resume_after = last_event_id(&headers)?;
    // Subscribed before reading, so that a change committed in between is announced.
    let changes = state.live.subscribe();
    let file = store::files::find_for_client(&state.db, client.id, id)
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    let slot = state.live.open_stream(client.id)?;
    let mut source = OneFile {
        file_id: id,
        client_id: client.id,
        sent: resume_after.unwrap_or(-1),
    };
    let mut ready = VecDeque::new();
    let read = source.show(file, &mut ready);
    let feed = Feed::new(&state, source, changes, slot, ready, read);
    Ok(respond(&state, feed))
}

/// Changes of all the caller's files as they happen.
///
/// `text/event-stream` of: first a `ready` event (data `{}`) whose id is the stream's starting
/// point: load `GET /files` after it and nothing is missed; then a `file` event (data: the file
/// as `GET /files/{id}` shows it; id: its change number) each time one of the caller's files
/// is created or its status or counters change, at most four a second per file, and a
/// `deleted` event (data: DeletedFile) when one is deleted. `:heartbeat` comments every
/// `EVENTS_HEARTBEAT_SECS`. With `Last-Event-ID`, every file changed after that event is sent
/// first, in its current state, once each.
#[utoipa::path(get, path = "/events", tag = "files",
    params(
        ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received, to resume after it"),
    ),
    responses(
        (status = 200, description = "A `ready` event, then `file` events (data: FileView) and `deleted` events (data: DeletedFile)",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "`rate_limited`, `too_many_auth_failures`; or `too_many_streams`: the client has `EVENTS_MAX_STREAMS_PER_CLIENT` streams open on this instance",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ),
    security(("api_key" = [])))]
pub async fn client_events(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    headers: HeaderMap,
) -> Result<Response> {
    let resume_after = last_event_id(&headers)?;
    let slot = state.live.open_stream(client.id)?;
    // Subscribed before reading, so that a change committed in between is announced.
    let changes = state.live.subscribe();
    let (position, read) = match resume_after {
        Some(position) => (position, Read::More),
        None => (
            store::events::latest_change(&state.db, client.id).await?,
            Read::Open,
        ),
    };
    let ready = VecDeque::from([Event::default()
        .event("ready")
        .id(position.to_string())
        .data("{}")]);
    let source = AllFiles {
        client_id: client.id,
        position,
    };
    let feed = Feed::new(&state, source, changes, slot, ready, read);
    Ok(respond(&state, feed))
}

/// `Last-Event-ID`: absent or empty for a new stream, else the id of an event this api sent.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("?");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be the id of an event of this API: a whole number",
            )
        })
}

/// The `text/event-stream` answer: `feed`'s events, heartbeats while it is idle, and no
/// buffering by proxies that honour `X-Accel-Buffering`.
fn respond<S: Source + Send + 'static>(state: &AppState, feed: Feed<S>) -> Response {
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_event().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    let heartbeat = KeepAlive::new()
        .interval(state.live.heartbeat)
        .text("heartbeat");
    (
        [(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )],
        Sse::new(events).keep_alive(heartbeat),
    )
        .into_response()
}

/// What a stream shows, and how announcements concern it.
trait Source {
    /// What `announcement` means for this stream; may queue events (a deletion) on `ready`.
    fn heard(&mut self, announcement: &Announcement, ready: &mut VecDeque<Event>) -> Read;

    /// Reads what changed and queues its events on `ready`.
    fn read(
        &mut self,
        db: &DatabaseConnection,
        ready: &mut VecDeque<Event>,
    ) -> impl Future<Output = Result<Read, DbErr>> + Send;
}

/// What a stream does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Nothing to read until another change is announced.
    Open,
    /// Something changed: read (within [`MIN_READ_GAP`] of the last read).
    More,
    /// The stream has said everything: close it once its events are sent.
    Finished,
}

/// One file's stream.
#[derive(Debug)]
struct OneFile {
    file_id: Uuid,
    client_id: Uuid,
    /// The change number of the state last sent (or the client's `Last-Event-ID`).
    sent: i64,
}

impl OneFile {
    /// Queues `file`'s state unless it was sent already, and `end` when it is terminal.
    fn show(&mut self, file: files::Model, ready: &mut VecDeque<Event>) -> Read {
        let terminal = file.status.is_terminal().then_some(EndOfFile {
            id: file.id,
            status: file.status,
        });
        if file.change_seq > self.sent {
            self.sent = file.change_seq;
            ready.extend(file_event(file));
        }
        match terminal {
            Some(end) => {
                ready.extend(json_event("end", &end));
                Read::Finished
            }
            None => Read::Open,
        }
    }
}

impl Source for OneFile {
    fn heard(&mut self, announcement: &Announcement, ready: &mut VecDeque<Event>) -> Read {
        match *announcement {
            Announcement::Changed {
                file_id,
                change_seq,
                ..
            } if file_id == self.file_id && change_seq > self.sent => Read::More,
            Announcement::Deleted { file_id, .. } if file_id == self.file_id => {
                ready.extend(json_event("deleted", &DeletedFile { id: file_id }));
                Read::Finished
            }
            Announcement::Resync => Read::More,
            _ => Read::Open,
        }
    }

    async fn read(
        &mut self,
        db: &DatabaseConnection,
        ready: &mut VecDeque<Event>,
    ) -> Result<Read, DbErr> {
        match store::files::find_for_client(db, self.client_id, self.file_id).await? {
            Some(file) => Ok(self.show(file, ready)),
            None => {
                ready.extend(json_event("deleted", &DeletedFile { id: self.file_id }));
                Ok(Read::Finished)
            }
        }
    }
}

/// The stream of all of one client's files.
#[derive(Debug)]
struct AllFiles {
    client_id: Uuid,
    /// Every change up to this number has been sent (or was known to the client).
    position: i64,
}

impl Source for AllFiles {
    fn heard(&mut self, announcement: &Announcement, ready: &mut VecDeque<Event>) -> Read {
        match *announcement {
            Announcement::Changed {
                client_id,
                change_seq,
                ..
            } if client_id == self.client_id && change_seq > self.position => Read::More,
            Announcement::Deleted { file_id, client_id } if client_id == self.client_id => {
                ready.extend(json_event("deleted", &DeletedFile { id: file_id }));
                Read::Open
            }
            Announcement::Resync => Read::More,
            _ => Read::Open,
        }
    }

    async fn read(
        &mut self,
        db: &DatabaseConnection,
        ready: &mut VecDeque<Event>,
    ) -> Result<Read, DbErr> {
        let changed =
            store::events::changed_after(db, self.client_id, self.position, READ_BATCH).await?;
        let full = u64::try_from(changed.len()).unwrap_or(u64::MAX) >= READ_BATCH;
        for file in changed {
            self.position = self.position.max(file.change_seq);
            ready.extend(file_event(file));
        }
        Ok(if full { Read::More } else { Read::Open })
    }
}

/// A stream in progress: its source, the announcements it hears, the events ready to send.
struct Feed<S> {
    source: S,
    db: DatabaseConnection,
    changes: Receiver<Announcement>,
    closing: CancellationToken,
    ready: VecDeque<Event>,
    /// A change was announced that is not read yet.
    stale: bool,
    /// The stream has said everything.
    finished: bool,
    /// No read before this.
    next_read: Instant,
    /// Counts the stream against its client's bound until dropped.
    _slot: StreamSlot,
}

/// What woke a waiting stream.
enum Wake {
    Closing,
    Heard(std::result::Result<Announcement, RecvError>),
    ReadTime,
}

impl<S: Source> Feed<S> {
    fn new(
        state: &AppState,
        source: S,
        changes: Receiver<Announcement>,
        slot: StreamSlot,
        ready: VecDeque<Event>,
        first: Read,
    ) -> Self {
        Self {
            source,
            db: state.db.clone(),
            changes,
            closing: state.live.closing(),
            ready,
            stale: first == Read::More,
            finished: first == Read::Finished,
            next_read: Instant::now(),
            _slot: slot,
        }
    }

    /// The next event to send, waiting for changes as long as needed; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            if self.stale && Instant::now() >= self.next_read {
                self.stale = false;
                self.next_read = Instant::now() + MIN_READ_GAP;
                match self.source.read(&self.db, &mut self.ready).await {
                    Ok(next) => self.then(next),
                    Err(error) => {
                        // The client reconnects with Last-Event-ID and misses nothing.
                        tracing::warn!(error.message = %error, "an event stream failed to read; closing it");
                        self.finished = true;
                    }
                }
                continue;
            }
            let wake = tokio::select! {
                () = self.closing.cancelled() => Wake::Closing,
                heard = self.changes.recv() => Wake::Heard(heard),
                () = tokio::time::sleep_until(self.next_read), if self.stale => Wake::ReadTime,
            };
            match wake {
                Wake::Closing | Wake::Heard(Err(RecvError::Closed)) => return None,
                Wake::Heard(Ok(announcement)) => {
                    let next = self.source.heard(&announcement, &mut self.ready);
                    self.then(next);
                }
                // Announcements were lost: read again what the stream shows.
                Wake::Heard(Err(RecvError::Lagged(_))) => self.stale = true,
                Wake::ReadTime => {}
            }
        }
    }

    fn then(&mut self, next: Read) {
        match next {
            Read::Open => {}
            Read::More => self.stale = true,
            Read::Finished => self.finished = true,
        }
    }
}

/// A `file` event: the file as `GET /files/{id}` shows it, its change number as the id.
fn file_event(file: files::Model) -> Option<Event> {
    let id = file.change_seq.to_string();
    json_event("file", &FileView::from(file)).map(|event| event.id(id))
}

/// An event named `name` with `data` as JSON (`None`, logged, if it cannot be serialised).
fn json_event(name: &str, data: &impl Serialize) -> Option<Event> {
    match serde_json::to_string(data) {
        Ok(json) => Some(Event::default().event(name).data(json)),
        Err(error) => {
            tracing::error!(error.message = %error, "failed to serialise a {name} event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_last_event_id(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(LAST_EVENT_ID, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn last_event_id_is_a_whole_number_or_absent() {
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
        assert_eq!(last_event_id(&with_last_event_id("")).unwrap(), None);
        assert_eq!(last_event_id(&with_last_event_id("42")).unwrap(), Some(42));
        assert_eq!(last_event_id(&with_last_event_id(" 7 ")).unwrap(), Some(7));
        for bad in ["-1", "x", "1.5", "99999999999999999999"] {
            let error = last_event_id(&with_last_event_id(bad)).unwrap_err();
            assert!(
                matches!(
                    error,
                    ApiError::BadRequest {
                        code: "invalid_last_event_id",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }
}
