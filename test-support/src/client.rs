//! `ApiClient`: an HTTP client for a running api, with calls that read like what a user does.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::Value;

/// Talks to one running api as one client (API key).
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The client's bearer key.
    pub api_key: String,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl ApiClient {
    /// A client for the api at `address` using `api_key`.
    pub fn new(address: String, api_key: String) -> Self {
        Self {
            address,
            api_key,
            http: reqwest::Client::new(),
        }
    }

    /// The same api as another client.
    pub fn as_client(&self, api_key: &str) -> Self {
        Self {
            api_key: api_key.to_owned(),
            ..self.clone()
        }
    }

    /// `POST /files/upload` with `bytes` as the `file` field.
    pub async fn upload(&self, name: &str, media_type: &str, bytes: Vec<u8>) -> reqwest::Response {
        let part = Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(media_type)
            .expect("valid media type");
        self.http
            .post(format!("{}/files/upload", self.address))
            .bearer_auth(&self.api_key)
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .expect("upload request")
    }

    /// An authenticated GET returning status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.get_json_as(&self.api_key, path).await
    }

    /// A GET with `key` returning status and JSON body.
    pub async fn get_json_as(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self.get(key, path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A GET with `key` (none when empty).
    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.address));
        if !key.is_empty() {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("GET request")
    }

    /// `POST /jobs` with a JSON body.
    pub async fn post_job(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/jobs", self.address))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("POST /jobs request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads a CSV of `domains` and returns the file id once the upload is accepted.
    pub async fn upload_domains<S: AsRef<str>>(&self, domains: &[S]) -> String {
        let mut csv = String::from("domain\n");
        for domain in domains {
            csv.push_str(domain.as_ref());
            csv.push('\n');
        }
        let response = self
            .upload("domains.csv", "text/csv", csv.into_bytes())
            .await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("upload answer is JSON");
        body["id"]
            .as_str()
            .expect("upload answer has an id")
            .to_owned()
    }

    /// `GET /files/{id}`, asserting 200.
    pub async fn file(&self, file_id: &str) -> Value {
        let (status, file) = self.get_json(&format!("/files/{file_id}")).await;
        assert_eq!(status, 200, "{file}");
        file
    }

    /// Polls `GET /files/{id}` until `done` holds for it, or panics after `timeout`.
    pub async fn wait_for_file(
        &self,
        file_id: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let file = self.file(file_id).await;
            if done(&file) {
                return file;
            }
            assert!(
                Instant::now() < deadline,
                "file {file_id} not {what} after {timeout:?}: {file}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `GET /files/{id}` until the file is COMPLETED, FAILED or CANCELLED, or panics
    /// after 60 s.
    pub async fn wait_until_terminal(&self, file_id: &str) -> Value {
        self.wait_until_terminal_within(file_id, Duration::from_secs(60))
            .await
    }

    /// Polls `GET /files/{id}` until the file is COMPLETED, FAILED or CANCELLED, or panics after
    /// `timeout`.
    pub async fn wait_until_terminal_within(&self, file_id: &str, timeout: Duration) -> Value {
        self.wait_for_file(file_id, timeout, "terminal", |file| {
            matches!(
                file["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "CANCELLED")
            )
        })
        .await
    }

    /// Every result of a file, following the pages.
    pub async fn all_results(&self, file_id: &str) -> Vec<Value> {
        let mut results = Vec::new();
        for page in 1.. {
            let (status, body) = self
                .get_json(&format!(
                    "/files/{file_id}/results?page={page}&per_page=500"
                ))
                .await;
            assert_eq!(status, 200, "{body}");
            let items = body["items"].as_array().expect("items").clone();
            if items.is_empty() {
                break;
            }
            results.extend(items);
        }
        results
    }
}
