//! `TestApp`: the real api and worker, started on a random port with their own database and
//! LocalStack resources, plus helpers that read like what a user does.

use std::{net::SocketAddr, ops::Deref};

use common::{Settings, aws::AwsClients};
use test_support::{ApiClient, IconServer};
use tokio_util::sync::CancellationToken;

/// A running api + worker for one test. It derefs to the [`ApiClient`] of its first client,
/// so tests read `app.upload(...)`.
pub struct TestApp {
    pub api: ApiClient,
    pub settings: Settings,
    pub aws: AwsClients,
    pub db: sea_orm::DatabaseConnection,
    /// Where the worker started by [`Self::spawn_with`] serves `GET /metrics`.
    pub worker_metrics: Option<SocketAddr>,
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
        let icons = IconServer::start().await;
        let settings = test_support::isolated_settings(Some(icons.addr)).await;
        Self::spawn_with(settings).await
    }

    /// Starts api and worker with the given settings.
    pub async fn spawn_with(settings: Settings) -> Self {
        let mut app = Self::spawn_api_only(settings).await;
        app.worker_metrics = app.start_worker().await;
        app
    }

    /// Starts only the api: uploaded files stay PENDING until [`Self::start_worker`].
    pub async fn spawn_api_only(settings: Settings) -> Self {
        let shutdown = CancellationToken::new();
        let app = api::Application::build(settings.clone())
            .await
            .expect("api builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(shutdown.clone()));

        let db = common::db::connect(&settings.database).await.unwrap();
        let (_, key) = store::clients::create(&db, "test-client", false)
            .await
            .unwrap();
        let aws = AwsClients::from_settings(&settings.aws).await;
        Self {
            api: ApiClient::new(address, key.expose().to_owned()),
            settings,
            aws,
            db,
            worker_metrics: None,
            shutdown,
        }
    }

    /// Starts the worker, stopped with the api; returns where it serves `GET /metrics`.
    pub async fn start_worker(&self) -> Option<SocketAddr> {
        let worker = worker::Worker::build(self.settings.clone())
            .await
            .expect("worker builds");
        let metrics = worker.metrics_addr();
        tokio::spawn(worker.run_until(self.shutdown.clone()));
        metrics
    }

    /// Creates another client and returns its API key.
    pub async fn new_client_key(&self, name: &str) -> String {
        let (_, key) = store::clients::create(&self.db, name, false).await.unwrap();
        key.expose().to_owned()
    }
}

impl Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}
