//! `bench`: the benchmarks behind BENCHMARKS.md. Every subcommand prints its figures; none of
//! them asserts on time. Run them through `scripts/bench`, which builds in release mode and
//! brings up PostgreSQL and LocalStack for the ones that need them.

mod bound;
mod farm;
mod icons;
mod load;
mod measure;
mod pipeline;
mod reads;
mod resolver;
mod stack;

use clap::{Parser, Subcommand};

/// The worker's allocator (see `worker/src/main.rs`), so that `bench resolver` measures the
/// resolver as the worker runs it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks of the favicon pipeline (figures for BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Resolver throughput against the web farm.
    Resolver(resolver::Args),
    /// Upload a large CSV and time it to COMPLETED with one or more workers.
    Pipeline(pipeline::Args),
    /// Result pages near the start and the end of a large file, and its CSV download.
    Reads(reads::Args),
    /// Concurrent uploads plus listing traffic; fails on any 5xx or lost file.
    Load(load::Args),
    /// Stored icons served by `GET /icons/{domain}`, and the ZIP of a file's icons.
    Icons(icons::Args),
    /// LocalStack's own PutObject+Publish rate, with no api in front: the bound of `load`.
    LocalstackBound(bound::Args),
}

fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    // The resolver runs on the worker's runtime (one thread), so that it is measured the way
    // the worker runs it; the other benchmarks drive servers and load on every core.
    let runtime = match command {
        Command::Resolver(_) => worker::startup::runtime()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(async {
        match command {
            Command::Resolver(args) => resolver::run(args).await,
            Command::Pipeline(args) => pipeline::run(args).await,
            Command::Reads(args) => reads::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Icons(args) => icons::run(args).await,
            Command::LocalstackBound(args) => bound::run(args).await,
        }
    })
}

/// Prints one figure: `name: value`.
fn report(name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{name:<44} {value}");
}
