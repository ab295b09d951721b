//! Live progress: `GET /files/{id}/events` and `GET /events` as an `EventSource` sees them,
//! with a worker changing real files, two api instances on one database, and reconnections
//! with `Last-Event-ID`.

use std::{pin::Pin, time::Duration};

use futures::{Stream, StreamExt};
use serde_json::Value;
use test_support::{ApiClient, TestStack};

/// How long a test waits for the next thing a stream sends before it fails: a deadline
/// against hanging, not a measure of speed.
const PATIENCE: Duration = Duration::from_secs(60);

/// What a stream sends: an event, or a comment (heartbeats).
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Event {
        name: String,
        id: Option<i64>,
        data: Value,
    },
    Comment(String),
}

/// A minimal `text/event-stream` reader: blocks separated by a blank line, `event:`, `id:`,
/// `data:` fields and `:` comments, as the api writes them.
struct EventStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl EventStream {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next item, `None` once the server closed the stream.
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(item) = parse_block(block.trim_end_matches('\n')) {
                    return Some(item);
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("the stream sent nothing for {PATIENCE:?}"));
            match chunk {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes.unwrap()).unwrap()),
                None => return None,
            }
        }
    }

    /// The next event, skipping comments.
    async fn next_event(&mut self) -> Option<(String, Option<i64>, Value)> {
        loop {
            match self.next().await? {
                Item::Event { name, id, data } => return Some((name, id, data)),
                Item::Comment(_) => {}
            }
        }
    }
}

fn parse_block(block: &str) -> Option<Item> {
    let (mut name, mut id, mut data, mut comment) = (None, None, Vec::new(), None);
    for line in block.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "id" => id = Some(value.parse::<i64>().unwrap()),
            "data" => data.push(value.to_owned()),
            other => panic!("unexpected field {other:?} in {block:?}"),
        }
    }
    if name.is_none() && data.is_empty() {
        return comment.map(Item::Comment);
    }
    Some(Item::Event {
        name: name.unwrap_or_else(|| "message".to_owned()),
        id,
        data: serde_json::from_str(&data.join("\n")).unwrap(),
    })
}

/// `GET path` as `api`'s client, with `Last-Event-ID` when given.
async fn open(api: &ApiClient, path: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = api
        .http
        .get(format!("{}{path}", api.address))
        .bearer_auth(&api.api_key);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    request.send().await.unwrap()
}

async fn stream(api: &ApiClient, path: &str, last_event_id: Option<i64>) -> EventStream {
    EventStream::new(open(api, path, last_event_id).await)
}

/// Opens `GET /events` and returns it with the position of its `ready` event.
async fn client_stream(api: &ApiClient, last_event_id: Option<i64>) -> (EventStream, i64) {
    let mut events = stream(api, "/events", last_event_id).await;
    let (name, id, _) = events.next_event().await.unwrap();
    assert_eq!(name, "ready");
    (events, id.unwrap())
}

/// Reads `GET /events` until `file_id` is terminal; returns the `file` events of that file.
async fn until_terminal(events: &mut EventStream, file_id: &str) -> Vec<(i64, Value)> {
    let mut seen = Vec::new();
    loop {
        let (name, id, data) = events.next_event().await.expect("the stream stays open");
        assert_eq!(name, "file", "{data}");
        if data["id"] == file_id {
            seen.push((id.unwrap(), data.clone()));
            if matches!(
                data["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "CANCELLED")
            ) {
                return seen;
            }
        }
    }
}

/// `count` domains of the icon server named after `tag`.
fn domains(tag: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{tag}-{i}.example.com"))
        .collect()
}

/// A stack whose worker writes results in batches of 5, two domains at a time, each icon
/// request taking 100 ms: a file of 30 domains changes its counters several times.
async fn slow_stack(tune: impl FnOnce(&mut test_support::StackSettings)) -> TestStack {
    let stack = TestStack::start(Duration::from_millis(100), |settings| {
        settings.worker.result_batch_size = 5;
        settings.worker.domain_concurrency = 2;
        tune(settings);
    })
    .await;
    stack.start_worker().await;
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_files_stream_shows_its_progress_then_completion_then_ends() {
    let stack = slow_stack(|_| {}).await;
    let file_id = stack.upload_domains(&domains("progress", 30)).await;

    let mut events = stream(&stack, &format!("/files/{file_id}/events"), None).await;
    let mut files = Vec::new();
    let end = loop {
        let (name, id, data) = events.next_event().await.expect("an end event");
        match name.as_str() {
            "file" => files.push((id.unwrap(), data)),
            "end" => break data,
            other => panic!("unexpected {other} event: {data}"),
        }
    };
    assert_eq!(events.next().await, None, "the stream closes after end");

    assert_eq!(end["id"], file_id.as_str());
    assert_eq!(end["status"], "COMPLETED");
    let ids: Vec<i64> = files.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    let processed: Vec<i64> = files
        .iter()
        .map(|(_, file)| file["progress"]["processed"].as_i64().unwrap())
        .collect();
    assert!(
        processed.windows(2).all(|pair| pair[0] <= pair[1]),
        "{processed:?}"
    );
    assert!(
        files.iter().any(|(_, file)| file["status"] == "PROCESSING"
            && (1..30).contains(&file["progress"]["processed"].as_i64().unwrap())),
        "progress was shown before completion: {files:?}"
    );
    let (_, last) = files.last().unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["progress"]["processed"], 30);
    // The data is what GET /files/{id} answers.
    assert_eq!(*last, stack.file(&file_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_gets_what_changed_since_its_last_event_once() {
    let stack = slow_stack(|_| {}).await;
    let (mut events, start) = client_stream(&stack, None).await;
    let file_id = stack.upload_domains(&domains("resume", 20)).await;

    // The first event (the new file), then the client goes away.
    let (name, first_id, first) = events.next_event().await.unwrap();
    assert_eq!(
        (name.as_str(), first["id"].as_str()),
        ("file", Some(file_id.as_str()))
    );
    let first_id = first_id.unwrap();
    assert!(first_id > start);
    drop(events);
    let finished = stack.wait_until_terminal(&file_id).await;

    // Back with the id it saw: the file once, as it is now.
    let (mut events, position) = client_stream(&stack, Some(first_id)).await;
    assert_eq!(position, first_id);
    let (name, id, file) = events.next_event().await.unwrap();
    assert_eq!(name, "file");
    assert_eq!(file, finished);
    let last_id = id.unwrap();
    assert!(last_id > first_id);

    // Nothing else is pending: the next event is a new file's.
    let other = stack.upload_domains(&domains("resume-other", 1)).await;
    let (_, id, file) = events.next_event().await.unwrap();
    assert_eq!(file["id"], other.as_str(), "no repeat of {file_id}");
    assert!(id.unwrap() > last_id);
    drop(events);

    // Back with the last id: nothing of the finished file again.
    let (mut events, _) = client_stream(&stack, Some(last_id)).await;
    let (_, _, file) = events.next_event().await.unwrap();
    assert_eq!(file["id"], other.as_str());

    // A file's own stream resumed at its final event says only `end`.
    let mut own = stream(&stack, &format!("/files/{file_id}/events"), Some(last_id)).await;
    let (name, _, data) = own.next_event().await.unwrap();
    assert_eq!(
        (name.as_str(), &data["status"]),
        ("end", &Value::from("COMPLETED"))
    );
    assert_eq!(own.next().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_api_instance_sees_changes_made_through_another() {
    let stack = slow_stack(|_| {}).await;
    let second = stack.start_another_api().await;
    let (mut events, _) = client_stream(&second, None).await;

    let file_id = stack.upload_domains(&domains("instances", 10)).await;

    let seen = until_terminal(&mut events, &file_id).await;
    // Events are coalesced (a stream reads at most every 250 ms, each file in its latest
    // state), so a worker may already have taken the file when it is first seen.
    assert!(
        matches!(seen[0].1["status"].as_str(), Some("PENDING" | "PROCESSING")),
        "{seen:?}"
    );
    let (_, last) = seen.last().unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(*last, second.file(&file_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_file_and_changes_stay_hidden() {
    let stack = slow_stack(|_| {}).await;
    let other = stack.as_client(&stack.new_client_key("other").await);
    let file_id = stack.upload_domains(&domains("mine", 3)).await;

    let response = open(&other, &format!("/files/{file_id}/events"), None).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let (mut theirs, _) = client_stream(&other, None).await;
    let (mut mine, _) = client_stream(&stack, None).await;
    let second = stack.upload_domains(&domains("mine-too", 3)).await;
    until_terminal(&mut mine, &second).await;
    let own = other.upload_domains(&domains("theirs", 1)).await;
    let (_, _, file) = theirs.next_event().await.unwrap();
    assert_eq!(
        file["id"],
        own.as_str(),
        "the first file it sees is its own"
    );

    let unauthenticated = stack
        .http
        .get(format!("{}/events", stack.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_client_are_bounded() {
    let stack = slow_stack(|settings| {
        settings.api.events_max_streams_per_client = 2;
        settings.api.events_heartbeat = Duration::from_secs(1);
    })
    .await;
    let (first, _) = client_stream(&stack, None).await;
    let file_id = stack.upload_domains(&domains("bound", 1)).await;
    let _second = stream(&stack, &format!("/files/{file_id}/events"), None).await;

    let refused = open(&stack, "/events", None).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    // Another client has its own bound.
    let other = stack.as_client(&stack.new_client_key("other").await);
    client_stream(&other, None).await;

    // A closed stream gives its place back once the server notices (at the next heartbeat).
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = open(&stack, "/events", None).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_sends_heartbeats_and_a_bad_last_event_id_is_refused() {
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.api.events_heartbeat = Duration::from_secs(1);
    })
    .await;
    // No worker: the file stays PENDING.
    let file_id = stack.upload_domains(&domains("idle", 1)).await;
    let mut events = stream(&stack, &format!("/files/{file_id}/events"), None).await;
    let Some(Item::Event { name, data, .. }) = events.next().await else {
        panic!("the current state first");
    };
    assert_eq!(
        (name.as_str(), &data["status"]),
        ("file", &Value::from("PENDING"))
    );
    assert_eq!(
        events.next().await,
        Some(Item::Comment("heartbeat".to_owned()))
    );
    assert_eq!(
        events.next().await,
        Some(Item::Comment("heartbeat".to_owned()))
    );

    let response = stack
        .http
        .get(format!("{}/events", stack.address))
        .bearer_auth(&stack.api_key)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_last_event_id");
}

/// `POST path` (or `DELETE path`) as the stack's client; the status code.
async fn act(stack: &TestStack, method: reqwest::Method, path: &str) -> u16 {
    stack
        .http
        .request(method, format!("{}{path}", stack.address))
        .bearer_auth(&stack.api_key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_cancel_and_delete_show_on_the_stream() {
    let stack = slow_stack(|_| {}).await;
    let (mut events, _) = client_stream(&stack, None).await;

    // A retry reopens a COMPLETED file with a failure; the stream shows it completed again,
    // under a later change number, with the failed result tried twice.
    let mut names = domains("retried", 2);
    names.push("missing-retried.example.com".to_owned());
    let retried = stack.upload_domains(&names).await;
    let first = until_terminal(&mut events, &retried).await;
    let (first_done, first_file) = first.last().unwrap().clone();
    assert_eq!(first_file["progress"]["failed"], 1, "{first_file}");
    let status = act(
        &stack,
        reqwest::Method::POST,
        &format!("/files/{retried}/retry"),
    )
    .await;
    assert_eq!(status, 202);
    let again = until_terminal(&mut events, &retried).await;
    let (done_again, file_again) = again.last().unwrap();
    assert!(*done_again > first_done, "{again:?}");
    assert_eq!(file_again["status"], "COMPLETED");
    assert_eq!(*file_again, stack.file(&retried).await);

    // A cancel ends a file in progress as CANCELLED.
    let cancelled = stack.upload_domains(&domains("cancelled", 30)).await;
    let status = act(
        &stack,
        reqwest::Method::POST,
        &format!("/files/{cancelled}/cancel"),
    )
    .await;
    assert_eq!(status, 200);
    let seen = until_terminal(&mut events, &cancelled).await;
    assert_eq!(seen.last().unwrap().1["status"], "CANCELLED", "{seen:?}");

    // A delete is announced as `deleted`.
    let status = act(
        &stack,
        reqwest::Method::DELETE,
        &format!("/files/{retried}"),
    )
    .await;
    assert_eq!(status, 204);
    loop {
        let (name, _, data) = events.next_event().await.expect("a deleted event");
        if name == "deleted" {
            assert_eq!(data["id"], retried.as_str());
            break;
        }
        assert_eq!(name, "file", "{data}");
    }
}
