//! Opening the PostgreSQL pool the same way in both binaries.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

/// Connects to PostgreSQL with bounded waits, so a missing database fails start-up quickly
/// instead of hanging.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(settings)).await
}

/// Connects a pool of `max_connections` for the api's requests: as [`connect`], but a
/// connection is handed out without a ping first (which doubles the round trips of a one-query
/// request) unless it sat idle for a while; one broken meanwhile fails its request's query.
pub async fn connect_for_requests(
    settings: &DatabaseSettings,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = options(settings);
    options
        .max_connections(max_connections)
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    Database::connect(options).await
}

fn options(settings: &DatabaseSettings) -> ConnectOptions {
    let mut options = ConnectOptions::new(settings.url.expose_secret().to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    options
}
