//! `TestApp`: the real api and worker, started on a random port with their own database and
//! LocalStack resources, plus helpers that read like what a user does.

use std::time::{Duration, Instant};

use common::{Settings, aws::AwsClients};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A running api + worker for one test.
pub struct TestApp {
    pub address: String,
    pub api_key: String,
    pub settings: Settings,
    pub aws: AwsClients,
    pub http: reqwest::Client,
    pub db: sea_orm::DatabaseConnection,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Starts api and worker with a local icon server behind every domain.
    pub async fn spawn() -> Self {
        let icons = test_support::icons::spawn_icon_server().await;
        let settings = test_support::isolated_settings(Some(icons)).await;
        Self::spawn_with(settings).await
    }

    /// Starts api and worker with the given settings.
    pub async fn spawn_with(settings: Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = api::Application::build(settings.clone())
            .await
            .expect("api builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(shutdown.clone()));
        let worker = worker::Worker::build(settings.clone())
            .await
            .expect("worker builds");
        tokio::spawn(worker.run_until(shutdown.clone()));

        let db = common::db::connect(&settings.database).await.unwrap();
        let (_, key) = api::clients::create_client(&db, "test-client", false)
            .await
            .unwrap();
        let aws = AwsClients::from_settings(&settings.aws).await;
        Self {
            address,
            api_key: key.expose().to_owned(),
            settings,
            aws,
            http: reqwest::Client::new(),
            db,
            shutdown,
        }
    }

    /// Creates another client and returns its API key.
    pub async fn new_client_key(&self, name: &str) -> String {
        let (_, key) = api::clients::create_client(&self.db, name, false)
            .await
            .unwrap();
        key.expose().to_owned()
    }

    /// `POST /files/upload` with `bytes` as the `file` field.
    pub async fn upload(&self, name: &str, media_type: &str, bytes: Vec<u8>) -> reqwest::Response {
        let part = Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(media_type)
            .unwrap();
        self.http
            .post(format!("{}/files/upload", self.address))
            .bearer_auth(&self.api_key)
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .unwrap()
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
        request.send().await.unwrap()
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
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads a CSV of `domains` and returns the file id once the upload is accepted.
    pub async fn upload_domains(&self, domains: &[&str]) -> String {
        let csv = format!("domain\n{}\n", domains.join("\n"));
        let response = self
            .upload("domains.csv", "text/csv", csv.into_bytes())
            .await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Polls `GET /files/{id}` until the file is COMPLETED or FAILED, or panics after 60 s.
    pub async fn wait_until_terminal(&self, file_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, file) = self.get_json(&format!("/files/{file_id}")).await;
            assert_eq!(status, 200, "{file}");
            if matches!(file["status"].as_str(), Some("COMPLETED" | "FAILED")) {
                return file;
            }
            assert!(
                Instant::now() < deadline,
                "file {file_id} still {} after 60 s",
                file["status"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
