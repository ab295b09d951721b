//! `worker` (or `worker run`) consumes the queue until SIGINT or SIGTERM; `worker resolve`
//! resolves domains without the pipeline and prints JSON lines.

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::{WorkerConfig, config::LogFormat};
use worker::{Worker, cli::ResolveArgs};

/// The favicon pipeline's worker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume file events from the queue (the default).
    Run,
    /// Resolve domains (arguments, or one per line on stdin) and print one JSON object per line.
    Resolve(ResolveArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    worker::startup::runtime()
        .context("failed to start the runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let settings = WorkerConfig::from_env().context("invalid configuration")?;
            let _telemetry = common::telemetry::start(settings.log_format, &settings.observability);
            Worker::build(settings).await?.run_until_stopped().await
        }
        Command::Resolve(args) => {
            // Logs go to stderr; stdout carries only the JSON lines.
            // A command-line tool: its errors are its output, not reports.
            let _telemetry = common::telemetry::init(LogFormat::Compact, None);
            worker::cli::resolve(args).await
        }
    }
}
