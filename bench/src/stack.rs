//! The system under benchmark: [`TestStack`] with its own database and LocalStack resources,
//! the release api and worker binaries as child processes (so their memory and CPU can be
//! read), and the resolver pointed at the farm.

use std::ops::Deref;

use test_support::{StackSettings, TestStack, WorkerProcess};

use crate::farm::{self, FarmProcess};

/// A running api (and workers, once spawned).
pub struct Stack {
    stack: TestStack,
    workers: Vec<WorkerProcess>,
}

impl Deref for Stack {
    type Target = TestStack;

    fn deref(&self) -> &TestStack {
        &self.stack
    }
}

impl Stack {
    /// Creates the resources and starts the api; `tune` adjusts the settings first.
    pub async fn start(
        farm: &FarmProcess,
        tune: impl FnOnce(&mut StackSettings),
    ) -> anyhow::Result<Self> {
        let mut settings = test_support::isolated_settings(Some(farm.addr)).await;
        settings.resolver = crate::resolver::farm_settings(farm);
        settings.api.max_upload_bytes = 64 * 1024 * 1024;
        // What the api process ran with before it was given every api setting: the
        // production defaults, not the tests' values.
        settings.api.max_uploads_per_client = 4;
        settings.api.upload_buffer_bytes = 256 * 1024 * 1024;
        settings.database.max_connections = 10;
        tune(&mut settings);
        let stack =
            TestStack::start_processes(settings, farm::sibling("api")?, farm::sibling("worker")?)
                .await?;
        Ok(Self {
            stack,
            workers: Vec::new(),
        })
    }

    /// Starts one more worker process.
    pub fn spawn_worker(&mut self) -> anyhow::Result<()> {
        let worker = self
            .stack
            .try_spawn_worker(&format!("worker-{}", self.workers.len()))?;
        self.workers.push(worker);
        Ok(())
    }

    /// Process id of the api.
    pub fn api_pid(&self) -> String {
        self.stack
            .api_pid()
            .map(|id| id.to_string())
            .unwrap_or_default()
    }

    /// Process ids of the workers.
    pub fn worker_pids(&self) -> Vec<String> {
        self.workers
            .iter()
            .map(|worker| worker.pid().map(|id| id.to_string()).unwrap_or_default())
            .collect()
    }
}
