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

/// Connects a pool of `max_connections` for the api's requests: as [`connect`], with its own
/// size. Connections are still pinged before they are handed out: skipping the ping saved one
/// local round trip per request, but a connection broken meanwhile (a database restart, a
/// fail-over, a killed backend) then failed its request with a 500, which the fault tests
/// (`faults::postgres_connections_killed_mid_file_lose_nothing`) do not accept.
pub async fn connect_for_requests(
    settings: &DatabaseSettings,
    max_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = options(settings);
    options.max_connections(max_connections);
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
