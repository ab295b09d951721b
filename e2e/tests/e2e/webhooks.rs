//! Webhooks: registration and its URL rule, signed notifications on a file's terminal status,
//! retries with backoff visible through the API, per-upload callback URLs, the outbox
//! surviving a time without workers, and another client's file.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::Sha256;
use test_support::{ApiClient, TestStack};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    signature: String,
    delivery: String,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What a receiver has seen, and the statuses it answers with, in order (200 once used up).
#[derive(Debug, Default)]
struct Log {
    received: Vec<Received>,
    answers: Vec<u16>,
}

/// A local webhook receiver on 127.0.0.1.
#[derive(Debug, Clone)]
struct Receiver {
    url: String,
    log: Arc<Mutex<Log>>,
}

impl Receiver {
    /// Starts one that answers `answers` in turn, then 200.
    async fn start(answers: &[u16]) -> Self {
        let log = Arc::new(Mutex::new(Log {
            received: Vec::new(),
            answers: answers.iter().rev().copied().collect(),
        }));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, log }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Waits until it has received `count` requests.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} received {} of {count} requests",
                self.url,
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let mut log = log.lock().unwrap();
    log.received.push(Received {
        signature: header("favicon-signature"),
        delivery: header("favicon-delivery"),
        body,
    });
    StatusCode::from_u16(log.answers.pop().unwrap_or(200)).unwrap()
}

/// What a receiver does: recompute HMAC-SHA256 of `"<t>.<body>"` and compare.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signature = Some(value),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let Ok(signature) = hex::decode(signature) else {
        return false;
    };
    mac.verify_slice(&signature).is_ok()
}

/// A stack whose api and worker accept callback URLs on this machine.
async fn local_stack() -> TestStack {
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.callback_urls.allow_private = true;
    })
    .await;
    stack.start_worker().await;
    stack
}

async fn send_json(
    api: &ApiClient,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = api
        .http
        .request(method, format!("{}{path}", api.address))
        .bearer_auth(&api.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `PUT /webhook`, asserting 200; the secret.
async fn register(api: &ApiClient, url: &str) -> String {
    let (status, body) = send_json(
        api,
        reqwest::Method::PUT,
        "/webhook",
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], url);
    body["secret"].as_str().unwrap().to_owned()
}

/// Uploads a CSV of `domains` with a `callback_url` field before the file; status and body.
async fn upload_with_callback(api: &ApiClient, domains: &str, callback_url: &str) -> (u16, Value) {
    upload_with_callback_at(api, domains, callback_url, false).await
}

/// The same, with the `callback_url` field after the file when `after`.
async fn upload_with_callback_at(
    api: &ApiClient,
    domains: &str,
    callback_url: &str,
    after: bool,
) -> (u16, Value) {
    let file = Part::bytes(format!("domain\n{domains}\n").into_bytes())
        .file_name("hooked.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = if after {
        Form::new()
            .part("file", file)
            .text("callback_url", callback_url.to_owned())
    } else {
        Form::new()
            .text("callback_url", callback_url.to_owned())
            .part("file", file)
    };
    let response = api
        .http
        .post(format!("{}/files/upload", api.address))
        .bearer_auth(&api.api_key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls `GET /files/{id}/webhook-deliveries` until its first delivery is no longer pending.
async fn finished_delivery(api: &ApiClient, file_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = api
            .get_json(&format!("/files/{file_id}/webhook-deliveries"))
            .await;
        assert_eq!(status, 200, "{body}");
        if let Some(delivery) = body["items"].get(0)
            && delivery["state"] != "pending"
        {
            return delivery.clone();
        }
        assert!(Instant::now() < deadline, "not delivered: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_finished_file_is_announced_with_a_signature_the_receiver_can_verify() {
    let stack = local_stack().await;
    let receiver = Receiver::start(&[]).await;
    let secret = register(&stack, &receiver.url).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (status, shown) = stack.get_json("/webhook").await;
    assert_eq!(status, 200);
    assert_eq!(shown["url"], receiver.url.as_str());
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );

    let id = stack
        .upload_domains(&["a.example.com", "missing.example.com"])
        .await;
    stack.wait_until_terminal(&id).await;
    let received = receiver.wait_for(1).await;
    let request = &received[0];
    assert!(
        verify(&secret, &request.signature, &request.body),
        "signature {} does not verify",
        request.signature
    );
    assert!(!verify("whsec_other", &request.signature, &request.body));
    let notification = request.json();
    assert_eq!(notification["type"], "file.completed", "{notification}");
    assert_eq!(notification["id"], request.delivery.as_str());
    let file = &notification["file"];
    assert_eq!(file["id"], id.as_str());
    assert_eq!(file["status"], "COMPLETED");
    assert_eq!(file["original_name"], "domains.csv");
    assert_eq!(file["total"], 2);
    assert_eq!(
        file["succeeded"].as_i64().unwrap() + file["failed"].as_i64().unwrap(),
        2
    );
    assert!(file["processed_at"].is_string(), "{file}");
    assert_eq!(file["links"]["self"], format!("/files/{id}"));
    assert_eq!(file["links"]["download"], format!("/files/{id}/download"));

    let delivery = finished_delivery(&stack, &id).await;
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["id"], request.delivery.as_str());
    assert_eq!(delivery["file_status"], "COMPLETED");
    assert_eq!(delivery["attempt_count"], 1);
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    assert!(delivery["attempts"][0]["error"].is_null(), "{delivery}");

    // A new secret signs from now on; the webhook can be removed.
    let (status, rotated) = send_json(
        &stack,
        reqwest::Method::POST,
        "/webhook/rotate-secret",
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], secret.as_str());
    let (status, _) = send_json(&stack, reqwest::Method::DELETE, "/webhook", None).await;
    assert_eq!(status, 204);
    let (status, body) = stack.get_json("/webhook").await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_and_every_attempt_is_visible() {
    let stack = local_stack().await;
    let receiver = Receiver::start(&[500, 500]).await;
    let secret = register(&stack, &receiver.url).await;
    let id = stack.upload_domains(&["a.example.com"]).await;
    stack.wait_until_terminal(&id).await;

    let delivery = finished_delivery(&stack, &id).await;
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["attempt_count"], 3);
    let attempts = delivery["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|attempt| attempt["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(attempts[0]["error"], "the receiver answered HTTP 500");
    let numbers: Vec<i64> = attempts
        .iter()
        .map(|a| a["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    // Each retry waited at least the backoff (200 ms, then 400 ms in the test settings).
    let started: Vec<chrono::DateTime<chrono::Utc>> = attempts
        .iter()
        .map(|a| a["started_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(started[1] - started[0] >= chrono::Duration::milliseconds(200));
    assert!(started[2] - started[1] >= chrono::Duration::milliseconds(400));

    // The same notification every time, each signed.
    let received = receiver.wait_for(3).await;
    assert!(received.iter().all(|r| r.delivery == received[0].delivery));
    assert!(
        received
            .iter()
            .all(|r| verify(&secret, &r.signature, &r.body))
    );
}

#[tokio::test]
async fn a_receiver_that_never_accepts_is_given_up_after_the_last_attempt() {
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.callback_urls.allow_private = true;
        settings.webhooks.max_attempts = 2;
    })
    .await;
    stack.start_worker().await;
    let receiver = Receiver::start(&[503, 503, 503]).await;
    register(&stack, &receiver.url).await;
    let id = stack.upload_domains(&["a.example.com"]).await;
    let delivery = finished_delivery(&stack, &id).await;
    assert_eq!(delivery["state"], "failed", "{delivery}");
    assert_eq!(delivery["attempt_count"], 2);
    assert_eq!(delivery["last_error"], "the receiver answered HTTP 503");
    assert!(delivery["finished_at"].is_string());
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_callback_url_given_with_an_upload_or_a_job_wins_over_the_clients() {
    let stack = local_stack().await;
    let (registered, own) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    register(&stack, &registered.url).await;

    let (status, file) = upload_with_callback(&stack, "a.example.com", &own.url).await;
    assert_eq!(status, 202, "{file}");
    let upload_id = file["id"].as_str().unwrap().to_owned();
    let (status, file) = upload_with_callback_at(&stack, "d.example.com", &own.url, true).await;
    assert_eq!(status, 202, "{file}");
    let after_id = file["id"].as_str().unwrap().to_owned();
    let (status, job) = stack
        .post_job(&json!({"domains": ["b.example.com"], "callback_url": own.url}))
        .await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let plain_id = stack.upload_domains(&["c.example.com"]).await;

    let received = own.wait_for(3).await;
    let mut announced: Vec<String> = received
        .iter()
        .map(|r| r.json()["file"]["id"].as_str().unwrap().to_owned())
        .collect();
    announced.sort();
    let mut expected = vec![upload_id.clone(), after_id, job_id];
    expected.sort();
    assert_eq!(announced, expected);
    let to_registered = registered.wait_for(1).await;
    assert_eq!(to_registered[0].json()["file"]["id"], plain_id.as_str());
    let delivery = finished_delivery(&stack, &upload_id).await;
    assert_eq!(delivery["url"], own.url.as_str());
    // Nothing more arrives at either.
    stack.wait_until_terminal(&plain_id).await;
    assert_eq!(registered.received().len(), 1);
    assert_eq!(own.received().len(), 3);
}

#[tokio::test]
async fn invalid_and_private_callback_urls_are_refused_with_the_reason() {
    let stack = TestStack::start(Duration::ZERO, |_| {}).await;
    for (url, reason) in [
        ("not a url", "not an absolute URL"),
        ("ftp://example.com/hook", "scheme must be https or http"),
        ("https://user:secret@example.com/hook", "credentials"),
        ("http://127.0.0.1:9/hook", "not a public address"),
        ("http://[::1]:9/hook", "not a public address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "not a public address",
        ),
        ("http://localhost:9/hook", "not a public address"),
    ] {
        let (status, body) = send_json(
            &stack,
            reqwest::Method::PUT,
            "/webhook",
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"]["code"], "invalid_callback_url", "{url}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{url}: {message}");
    }
    let (status, _) = stack.get_json("/webhook").await;
    assert_eq!(status, 404, "nothing was registered");

    // With an upload or a job: refused before anything is stored.
    let (status, body) =
        upload_with_callback(&stack, "a.example.com", "http://10.0.0.1/hook").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_callback_url");
    let (status, body) =
        upload_with_callback_at(&stack, "a.example.com", "http://10.0.0.1/hook", true).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_callback_url");
    let (status, body) = stack
        .post_job(&json!({"domains": ["a.example.com"], "callback_url": "file:///etc/passwd"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_callback_url");
    let (status, body) = stack
        .post_job(&json!({"domains": ["a.example.com"], "callback_url": 7}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_json"))
    );
    let (_, files) = stack.get_json("/files").await;
    assert_eq!(files["total"], 0, "{files}");
}

#[tokio::test]
async fn a_callback_url_with_an_upload_needs_a_registered_webhook_to_sign() {
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.callback_urls.allow_private = true;
    })
    .await;
    let (status, body) =
        upload_with_callback(&stack, "a.example.com", "http://127.0.0.1:9/hook").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_callback_url");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /webhook"),
        "{body}"
    );
}

#[tokio::test]
async fn another_clients_deliveries_are_not_found() {
    let stack = local_stack().await;
    let receiver = Receiver::start(&[]).await;
    register(&stack, &receiver.url).await;
    let id = stack.upload_domains(&["a.example.com"]).await;
    finished_delivery(&stack, &id).await;

    let other = stack.as_client(&stack.new_client_key("other").await);
    let (status, body) = other
        .get_json(&format!("/files/{id}/webhook-deliveries"))
        .await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    let (status, _) = other.get_json("/webhook").await;
    assert_eq!(status, 404, "the other client has no webhook of its own");
    let (status, _) = stack
        .get_json(&format!(
            "/files/{}/webhook-deliveries",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_delivery_written_while_no_worker_runs_is_delivered_when_one_starts() {
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.callback_urls.allow_private = true;
    })
    .await;
    let receiver = Receiver::start(&[]).await;
    let secret = register(&stack, &receiver.url).await;
    let id = stack.upload_domains(&["a.example.com"]).await;
    // No worker runs: the file is failed by the data layer (as the DLQ consumer would), which
    // writes the delivery in the same transaction.
    let file_id: uuid::Uuid = id.parse().unwrap();
    assert!(
        store::files::fail(&stack.db, file_id, "given up")
            .await
            .unwrap()
    );
    let (status, body) = stack
        .get_json(&format!("/files/{id}/webhook-deliveries"))
        .await;
    assert_eq!(status, 200);
    let pending = &body["items"][0];
    assert_eq!(pending["state"], "pending", "{body}");
    assert_eq!(pending["file_status"], "FAILED");
    assert_eq!(pending["attempt_count"], 0);
    assert!(pending["next_attempt_at"].is_string());
    assert!(receiver.received().is_empty());

    stack.start_worker().await;
    let received = receiver.wait_for(1).await;
    assert!(verify(&secret, &received[0].signature, &received[0].body));
    let notification = received[0].json();
    assert_eq!(notification["type"], "file.failed");
    assert_eq!(notification["file"]["error_message"], "given up");
    let delivery = finished_delivery(&stack, &id).await;
    assert_eq!(delivery["state"], "delivered", "{delivery}");
}
