//! `worker` (or `worker run`) consumes the queue until SIGINT or SIGTERM; `worker resolve`
//! resolves domains without the pipeline and prints JSON lines.

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::{WorkerConfig, config::LogFormat};
use worker::{Worker, cli::ResolveArgs};

/// jemalloc instead of glibc's malloc. Resolving favicons allocates and frees many short-lived
/// buffers of every size (requests, TLS records, page and image bodies); with glibc's malloc
/// that was 15 % of the resolver's CPU. At concurrency 1,024 on the real-world mix jemalloc
/// takes the resolver from 0.84 to 0.69 CPU-s per 1,000 domains for about 8 MiB more peak RSS
/// (BENCHMARKS.md, section 0). mimalloc saved as much CPU but held about 80 MiB more.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
