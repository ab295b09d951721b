//! `migration up | down | status | fresh ...` against the database of `DATABASE_URL`, or of
//! its parts (`DATABASE_HOST`, ...: how the ECS migration task gets the RDS secret), read
//! by the same configuration as the api and the worker.

use common::config::DatabaseSettings;
use sea_orm_migration::{
    prelude::*,
    sea_orm::{Database, DbErr},
};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() {
    cli::run_cli_with_custom_connection(migration::Migrator, async || {
        let settings = DatabaseSettings::from_env().map_err(|e| DbErr::Custom(e.to_string()))?;
        Database::connect(settings.url.expose_secret()).await
    })
    .await;
}
