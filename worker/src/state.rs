//! What every message handler needs.

use std::time::Duration;

use common::WorkerConfig;
use favicon::Resolver;
use sea_orm::DatabaseConnection;
use store::{Lease, Work};
use uuid::Uuid;

/// Shared state of one worker process: built once by [`crate::startup`], handed to every
/// message's task.
#[derive(Debug)]
pub struct WorkerState {
    /// PostgreSQL, through the [`store`] data layer.
    pub db: DatabaseConnection,
    /// Reads uploaded files, writes and reads chunks.
    pub s3: aws_sdk_s3::Client,
    /// Finds favicons.
    pub resolver: Resolver,
    /// Bounds the domains resolved at once across all files (`WORKER_DOMAIN_CONCURRENCY`).
    pub domain_permits: tokio::sync::Semaphore,
    /// Bounds the icon recordings at once to half the database pool, so that result writes
    /// and lease heartbeats always find a connection.
    pub icon_write_permits: tokio::sync::Semaphore,
    /// Configuration.
    pub settings: WorkerConfig,
}

impl WorkerState {
    /// How long a claim on a file or chunk lasts unless renewed: the queue's visibility
    /// timeout, so a crashed worker's work is free again when its message reappears.
    pub fn lease_duration(&self) -> Duration {
        Duration::from_secs(
            u64::try_from(self.settings.worker.visibility_timeout_secs).unwrap_or(300),
        )
    }

    /// The lease worker `owner` takes, renews and releases on `work`.
    pub fn lease(&self, work: Work, owner: Uuid) -> Lease {
        Lease::new(work, owner, self.lease_duration())
    }
}
