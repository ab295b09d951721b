//! The system under benchmark: its own database and LocalStack resources, the release api
//! and worker binaries as child processes (so their memory and CPU can be read), and the
//! resolver pointed at the farm.

use std::{process::Stdio, time::Duration};

use anyhow::Context as _;
use common::Settings;
use test_support::ApiClient;
use tokio::process::Child;

use crate::farm::{self, FarmProcess};

/// A running api (and workers, once spawned).
pub struct Stack {
    pub settings: Settings,
    pub api: ApiClient,
    pub db: sea_orm::DatabaseConnection,
    /// The client the api key belongs to.
    pub client_id: uuid::Uuid,
    api_process: Child,
    workers: Vec<Child>,
}

impl Stack {
    /// Creates the resources and starts the api; `tune` adjusts the settings first.
    pub async fn start(
        farm: &FarmProcess,
        tune: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let mut settings = test_support::isolated_settings(Some(farm.addr)).await;
        settings.resolver = crate::resolver::farm_settings(farm);
        settings.api.port = free_port()?;
        settings.api.max_upload_bytes = 64 * 1024 * 1024;
        settings.database.max_connections = 10;
        tune(&mut settings);
        let api_process = test_support::process::command(farm::sibling("api")?, &settings)
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start the api")?;
        let address = format!("http://127.0.0.1:{}", settings.api.port);
        wait_until_healthy(&address).await?;
        let db = common::db::connect(&settings.database).await?;
        let (client, key) = store::clients::create(&db, "bench", false).await?;
        Ok(Self {
            api: ApiClient::new(address, key.expose().to_owned()),
            client_id: client.id,
            settings,
            db,
            api_process,
            workers: Vec::new(),
        })
    }

    /// Starts one more worker process.
    pub fn spawn_worker(&mut self) -> anyhow::Result<()> {
        let worker = test_support::process::command(farm::sibling("worker")?, &self.settings)
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start a worker")?;
        self.workers.push(worker);
        Ok(())
    }

    /// Process id of the api.
    pub fn api_pid(&self) -> String {
        pid(&self.api_process)
    }

    /// Process ids of the workers.
    pub fn worker_pids(&self) -> Vec<String> {
        self.workers.iter().map(pid).collect()
    }
}

fn pid(child: &Child) -> String {
    child.id().map(|id| id.to_string()).unwrap_or_default()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_until_healthy(address: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if reqwest::get(format!("{address}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the api at {address} did not become healthy")
}
