//! What every message handler needs.

use std::time::Duration;

use common::WorkerConfig;
use sea_orm::DatabaseConnection;

use crate::resolver::Resolver;

/// Shared state of one worker process.
#[derive(Debug)]
pub struct Context {
    /// PostgreSQL.
    pub db: DatabaseConnection,
    /// Reads uploaded files.
    pub s3: aws_sdk_s3::Client,
    /// Finds favicons.
    pub resolver: Resolver,
    /// Bounds the domains resolved at once across all files (`WORKER_DOMAIN_CONCURRENCY`).
    pub domain_permits: tokio::sync::Semaphore,
    /// Configuration.
    pub settings: WorkerConfig,
}

impl Context {
    /// How long a claim on a file lasts unless renewed: the queue's visibility timeout, so a
    /// crashed worker's file is free again when its message reappears.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(
            u64::try_from(self.settings.worker.visibility_timeout_secs).unwrap_or(300),
        )
    }
}
