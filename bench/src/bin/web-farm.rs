//! `web-farm`: the test web farm as a process, for benchmarks and manual runs. Serves every
//! scenario host of `test_support::farm` (and numbered copies such as `relative-17.test`) over
//! HTTP and HTTPS on one loopback port, waiting `--latency-ms` before each response.
//!
//! Prints one JSON line, `{"addr": "127.0.0.1:PORT", "ca_cert": "/tmp/..."}`, then serves until
//! its standard input closes or it is interrupted. Each line `requests` on standard input is
//! answered with the number of requests served so far. Point the resolver at it with
//! `worker resolve --connect-to ADDR --ca-cert PATH`.

use std::{io::Write, time::Duration};

use clap::Parser;
use test_support::farm::{Farm, FarmConfig};
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Parser)]
#[command(about = "Serve the favicon web farm on loopback")]
struct Args {
    /// Wait this long before every response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let farm = Farm::start_with(FarmConfig {
        latency: Duration::from_millis(args.latency_ms),
        ..FarmConfig::default()
    })
    .await;
    let line = serde_json::json!({
        "addr": farm.addr.to_string(),
        "ca_cert": farm.ca_cert_path().display().to_string(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    drop(stdout);
    let mut commands = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            command = commands.next_line() => match command {
                Ok(Some(command)) if command.trim() == "requests" => {
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "{}", farm.total_requests())?;
                    stdout.flush()?;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            },
        }
    }
    Ok(())
}
