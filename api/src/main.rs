//! `api` serves the HTTP API; `api create-client NAME` issues an API key.

use anyhow::Context;
use api::Application;
use clap::{Parser, Subcommand};
use common::{
    ApiConfig,
    config::{ApiSettings, DatabaseSettings},
};

#[derive(Debug, Parser)]
#[command(about = "Favicon pipeline HTTP API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create a client and print its API key, once.
    CreateClient {
        /// A unique name.
        name: String,
        /// If the client exists, give it a new key (the old one stops working).
        #[arg(long)]
        rotate: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = ApiConfig::from_env().context("invalid configuration")?;
            let _telemetry = common::telemetry::start(settings.log_format, &settings.observability);
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Command::CreateClient { name, rotate } => {
            let settings = DatabaseSettings::from_env().context("invalid configuration")?;
            let run_migrations =
                ApiSettings::run_migrations_from_env().context("invalid configuration")?;
            let db = common::db::connect(&settings)
                .await
                .context("failed to connect to the database")?;
            migration_up_if_enabled(&db, run_migrations).await?;
            let (client, key) = store::clients::create(&db, &name, rotate).await?;
            #[expect(clippy::print_stdout, reason = "the key is this command's output")]
            {
                println!("client_id={}", client.id);
                println!("api_key={}", key.expose());
            }
            Ok(())
        }
    }
}

async fn migration_up_if_enabled(
    db: &sea_orm::DatabaseConnection,
    run_migrations: bool,
) -> anyhow::Result<()> {
    use migration::MigratorTrait;
    if run_migrations {
        migration::Migrator::up(db, None)
            .await
            .context("failed to run migrations")?;
    }
    Ok(())
}
