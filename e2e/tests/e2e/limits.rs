//! Abuse limits through the real app: rate limiting per key, body limits, the domain cap of a
//! job, the cap on files in flight and request timeouts. Each is hit with small limits and
//! answers with its status, JSON error code and, where the client should wait, `Retry-After`.

use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use test_support::TestStack;

use crate::openapi::{conforms, response_schema};

async fn settings() -> test_support::StackSettings {
    test_support::isolated_settings(Some(test_support::IconServer::start().await.addr)).await
}

/// Status, error code and `Retry-After` (in seconds) of an error response.
async fn error_of(response: reqwest::Response) -> (u16, String, Option<u64>) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    let code = body["error"]["code"].as_str().unwrap().to_owned();
    (status, code, retry_after)
}

fn post_job(app: &TestStack, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.http
        .post(format!("{}/jobs", app.address))
        .bearer_auth(key)
        .json(body)
}

/// Asserts that `/openapi.json` documents `status` for the operation, with the error body.
pub async fn assert_documented(app: &TestStack, method: &str, path: &str, status: u16) {
    let (_, doc) = app.get_json("/openapi.json").await;
    let error = json!({"error": {"code": "c", "message": "m"}});
    conforms(
        &doc,
        response_schema(&doc, method, path, status),
        &error,
        path,
    )
    .unwrap();
    if status == 429 {
        let response = &doc["paths"][path][method]["responses"]["429"];
        assert!(response["headers"]["Retry-After"].is_object(), "{response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_is_rate_limited_on_its_own_and_recovers() {
    let mut settings = settings().await;
    settings.api.rate_limit_per_second = 1;
    settings.api.rate_limit_burst = 3;
    let app = TestStack::spawn_api_only(settings).await;
    let other = app.new_client_key("other-client").await;

    for _ in 0..3 {
        assert_eq!(app.get(&app.api_key, "/files").await.status(), 200);
    }
    let (status, code, retry_after) = error_of(app.get(&app.api_key, "/files").await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let retry_after = retry_after.expect("Retry-After on 429");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Every authenticated endpoint takes from the same bucket, uploads and jobs included,
    // and they are refused before anything is read or stored.
    let (status, code, _) = error_of(
        app.upload("d.csv", "text/csv", b"a.example.com\n".to_vec())
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let job = post_job(&app, &app.api_key, &json!({"domains": ["a.example.com"]}));
    let (status, code, _) = error_of(job.send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));

    // Another key has its own burst; the open endpoints and unknown keys are not limited.
    for _ in 0..3 {
        assert_eq!(app.get(&other, "/files").await.status(), 200);
    }
    for _ in 0..5 {
        for open in ["/health", "/ready", "/openapi.json"] {
            assert_eq!(app.get("", open).await.status(), 200, "{open}");
        }
        assert_eq!(app.get("fpk_unknown", "/files").await.status(), 401);
    }

    // Waiting as long as told is enough.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, listed) = app.get_json("/files").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total"], 0, "nothing refused was recorded");

    assert_documented(&app, "get", "/files", 429).await;
    assert_documented(&app, "post", "/files/upload", 429).await;
    assert_documented(&app, "post", "/jobs", 429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_are_limited_and_uploads_keep_their_own_limit() {
    let mut settings = settings().await;
    settings.api.max_json_body_bytes = 1024;
    settings.api.max_upload_bytes = 3 * 1024 * 1024;
    let app = TestStack::spawn_api_only(settings).await;

    let domains: Vec<String> = (0..100).map(|i| format!("host{i}.example.com")).collect();
    let job = post_job(&app, &app.api_key, &json!({ "domains": domains }));
    let (status, code, _) = error_of(job.send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    let (status, _) = app.post_job(&json!({"domains": ["a.example.com"]})).await;
    assert_eq!(status, 202, "a small body passes");

    // Larger than the JSON limit and than axum's default of 2 MB, within MAX_UPLOAD_BYTES.
    let csv: String = (0..120_000)
        .map(|i| format!("host{i}.example.com\n"))
        .collect();
    assert!(csv.len() > 2 * 1024 * 1024 && csv.len() < 3 * 1024 * 1024);
    let response = app.upload("big.csv", "text/csv", csv.into_bytes()).await;
    assert_eq!(response.status(), 202);

    assert_documented(&app, "post", "/jobs", 413).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_more_domains_than_a_file_may_hold_is_refused() {
    let mut settings = settings().await;
    settings.limits.max_domains_per_file = 3;
    let app = TestStack::spawn_api_only(settings).await;

    let too_many = json!({"domains": ["a.com", "b.com", "c.com", "d.com"]});
    let response = post_job(&app, &app.api_key, &too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_domains");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains('4') && message.contains('3'), "{message}");

    // Blank entries do not count.
    let (status, body) = app
        .post_job(&json!({"domains": ["a.com", " ", "b.com", "", "c.com"]}))
        .await;
    assert_eq!(status, 202, "{body}");

    assert_documented(&app, "post", "/jobs", 422).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_flight_are_capped_per_client_even_under_concurrent_uploads() {
    let mut settings = settings().await;
    settings.api.max_files_in_flight = 2;
    // No worker yet: accepted files stay PENDING.
    let app = TestStack::spawn_api_only(settings).await;

    let names: Vec<String> = (0..6).map(|i| format!("d{i}.csv")).collect();
    let uploads = names.iter().map(|name| {
        app.upload(
            name,
            "text/csv",
            format!("{name}.example.com\n").into_bytes(),
        )
    });
    let mut accepted = Vec::new();
    let mut refused = 0;
    for response in futures::future::join_all(uploads).await {
        if response.status() == 202 {
            let body: Value = response.json().await.unwrap();
            accepted.push(body["id"].as_str().unwrap().to_owned());
        } else {
            let (status, code, retry_after) = error_of(response).await;
            assert_eq!(
                (status, code.as_str(), retry_after),
                (429, "too_many_files_in_flight", Some(5))
            );
            refused += 1;
        }
    }
    assert_eq!((accepted.len(), refused), (2, 4), "the cap is exact");
    let (status, code, _) = error_of(
        post_job(&app, &app.api_key, &json!({"domains": ["a.example.com"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "too_many_files_in_flight"));

    // Another client has its own allowance.
    let other = test_support::ApiClient::new(
        app.address.clone(),
        app.new_client_key("other-client").await,
    );
    other.upload_domains(&["a.example.com"]).await;

    // Only accepted files are in the bucket: refused ones were never stored, or were deleted.
    let objects = app
        .aws
        .s3
        .list_objects_v2()
        .bucket(&app.settings.aws.bucket)
        .prefix("uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(3), "{objects:?}");

    // Once the worker has finished them, the client may upload again.
    app.start_worker().await;
    for id in &accepted {
        app.wait_until_terminal(id).await;
    }
    app.upload_domains(&["b.example.com"]).await;

    assert_documented(&app, "post", "/files/upload", 429).await;
}

/// Sends an upload over a raw connection: the head and half the body, then after `pause` the
/// rest (or nothing when `stall`), and returns the response's status and JSON body.
async fn paced_upload(app: &TestStack, pause: Duration, stall: bool) -> (u16, Value) {
    let body = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.csv\"\r\n\
                Content-Type: text/csv\r\n\r\na.example.com\nb.example.com\n\r\n--XYZ--\r\n";
    let head = format!(
        "POST /files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        app.api_key,
        body.len()
    );
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(pause).await;
    if !stall {
        stream.write_all(rest.as_bytes()).await.unwrap();
    }
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut buffer = [0_u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.unwrap();
            response.extend_from_slice(&buffer[..read]);
            if read == 0 || complete_response(&response) {
                break;
            }
        }
    })
    .await
    .expect("a response within 30 s");
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

/// Whether `bytes` hold a whole response head and its `content-length` of body.
fn complete_response(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .is_some_and(|length| body.len() >= length)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_have_their_own_timeout_and_a_stalled_one_gets_a_json_408() {
    let mut settings = settings().await;
    settings.api.request_timeout = Duration::from_secs(1);
    settings.api.upload_timeout = Duration::from_secs(30);
    let app = TestStack::spawn_api_only(settings).await;
    // Longer than REQUEST_TIMEOUT_SECS but within UPLOAD_TIMEOUT_SECS.
    let (status, body) = paced_upload(&app, Duration::from_millis(1500), false).await;
    assert_eq!(status, 202, "{body}");

    let mut settings = self::settings().await;
    settings.api.upload_timeout = Duration::from_secs(1);
    let app = TestStack::spawn_api_only(settings).await;
    let (status, body) = paced_upload(&app, Duration::from_secs(3), true).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (408, Some("request_timeout")),
        "{body}"
    );
    let (_, listed) = app.get_json("/files").await;
    assert_eq!(listed["total"], 0, "nothing timed out was recorded");

    assert_documented(&app, "post", "/files/upload", 408).await;
    assert_documented(&app, "get", "/files", 408).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_cap_holds_when_many_inserts_race() {
    let app = TestStack::spawn_api_only(settings().await).await;
    let client_id = entity::clients::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let limit = 3;
    let inserts = (0..24).map(|i| {
        let db = app.db.clone();
        tokio::spawn(async move {
            let id = uuid::Uuid::now_v7();
            let new = store::files::NewFile {
                id,
                client_id,
                original_name: format!("race{i}.csv"),
                s3_bucket: "bucket".to_owned(),
                s3_key: format!("uploads/{id}/race.csv"),
                file_type: entity::FileType::Csv,
                size_bytes: 1,
                callback_url: None,
            };
            store::files::insert_pending(&db, new, limit).await
        })
    });
    let mut inserted = 0;
    for result in futures::future::join_all(inserts).await {
        match result.unwrap() {
            Ok(_) => inserted += 1,
            Err(store::files::InsertError::TooManyInFlight { limit: 3 }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(inserted, limit);
    assert_eq!(
        store::files::count_in_flight(&app.db, client_id)
            .await
            .unwrap(),
        limit
    );
}

/// An upload started over a raw connection and held after its head: the server answered
/// `100 Continue`, so the handler runs and holds its place. [`HeldUpload::finish`] sends the
/// file.
struct HeldUpload {
    stream: TcpStream,
    body: Vec<u8>,
}

/// Starts an upload of `file` as the client `key` and holds it, or returns the answer when
/// the server refuses it before reading the body.
async fn hold_upload(app: &TestStack, key: &str, file: &[u8]) -> Result<HeldUpload, (u16, Value)> {
    let mut body =
        b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"held.csv\"\r\n\
                     Content-Type: text/csv\r\n\r\n"
            .to_vec();
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--XYZ--\r\n");
    let head = format!(
        "POST /files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_response(&mut stream, |bytes| {
        bytes.starts_with(b"HTTP/1.1 100") && bytes.ends_with(b"\r\n\r\n")
            || complete_response(bytes)
    })
    .await;
    if answer.starts_with(b"HTTP/1.1 100") {
        Ok(HeldUpload { stream, body })
    } else {
        Err(parse_response(&answer))
    }
}

impl HeldUpload {
    /// Sends the file and returns the answer.
    async fn finish(mut self) -> (u16, Value) {
        self.stream.write_all(&self.body).await.unwrap();
        parse_response(&read_response(&mut self.stream, complete_response).await)
    }
}

/// Reads from `stream` until `done` holds for what arrived (or the connection ends).
async fn read_response(stream: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut response = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !done(&response) {
        let read = stream.read(&mut buffer).await.unwrap();
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
    }
    response
}

fn parse_response(bytes: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn domains_csv(bytes: usize) -> Vec<u8> {
    let mut csv = String::from("domain\n");
    for i in 0.. {
        if csv.len() >= bytes {
            break;
        }
        csv.push_str(&format!("host{i}.example.com\n"));
    }
    csv.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_may_send_only_so_many_uploads_at_once() {
    let mut settings = settings().await;
    settings.api.max_uploads_per_client = 2;
    let app = TestStack::spawn_api_only(settings).await;
    let file = domains_csv(100);

    let first = hold_upload(&app, &app.api_key, &file).await.unwrap();
    let second = hold_upload(&app, &app.api_key, &file).await.unwrap();
    let (status, code, retry_after) =
        error_of(app.upload("third.csv", "text/csv", file.clone()).await).await;
    assert_eq!(
        (status, code.as_str(), retry_after),
        (429, "too_many_uploads", Some(2))
    );

    // Another client is not held up by them.
    let other = app.as_client(&app.new_client_key("other-client").await);
    assert_eq!(
        other
            .upload("d.csv", "text/csv", file.clone())
            .await
            .status(),
        202
    );

    // Once one has finished, the client may start another.
    assert_eq!(first.finish().await.0, 202);
    assert_eq!(
        app.upload("third.csv", "text/csv", file.clone())
            .await
            .status(),
        202
    );
    assert_eq!(second.finish().await.0, 202);

    assert_documented(&app, "post", "/files/upload", 429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_in_progress_share_one_memory_budget() {
    let mut settings = settings().await;
    settings.api.max_upload_bytes = 64 * 1024;
    settings.api.upload_buffer_bytes = 100_000;
    let app = TestStack::spawn_api_only(settings).await;
    let other = app.as_client(&app.new_client_key("other-client").await);

    // About 60 KB are reserved for this upload while it is received...
    let held = hold_upload(&app, &app.api_key, &domains_csv(60_000))
        .await
        .unwrap();
    // ...so another 50 KB upload, even of another client, does not fit right now,
    let (status, code, retry_after) =
        error_of(other.upload("d.csv", "text/csv", domains_csv(50_000)).await).await;
    assert_eq!(
        (status, code.as_str(), retry_after),
        (503, "server_busy", Some(2))
    );
    // while a small one does,
    assert_eq!(
        other
            .upload("d.csv", "text/csv", domains_csv(300))
            .await
            .status(),
        202
    );
    // and the large one does once the first is done.
    assert_eq!(held.finish().await.0, 202);
    assert_eq!(
        other
            .upload("d.csv", "text/csv", domains_csv(50_000))
            .await
            .status(),
        202
    );

    assert_documented(&app, "post", "/files/upload", 503).await;
}
