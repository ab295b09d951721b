//! `web-farm`: the test web farm as a process, for benchmarks and manual runs. Serves every
//! scenario host of `test_support::farm` (and numbered copies such as `relative-17.test`) over
//! HTTP and HTTPS on one loopback port, waiting `--latency` before each response.
//!
//! Prints one JSON line, `{"addr": "127.0.0.1:PORT", "ca_cert": "/tmp/..."}`, then serves until
//! its standard input closes or it is interrupted. Each line `requests` on standard input is
//! answered with the number of requests served so far, each line `stats` with a JSON object
//! of the farm's counters. Point the resolver at it with `worker resolve --connect-to ADDR
//! --ca-cert PATH`, and `RESOLVER_DNS_OVERRIDE='*.nx.test=NXDOMAIN'` for the dead names.

use std::io::Write;

use clap::Parser;
use test_support::farm::{Farm, FarmConfig, FarmStats, Latency};
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Parser)]
#[command(about = "Serve the favicon web farm on loopback")]
struct Args {
    /// Wait before every response: milliseconds (`50`), `lognormal` (median 150 ms, sigma
    /// 1.31, drawn per host and path) or `lognormal:MEDIAN_MS:SIGMA`.
    #[arg(long, alias = "latency-ms", default_value = "0")]
    latency: Latency,
    /// Seed of the log-normal draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let farm = Farm::start_with(FarmConfig {
        latency: args.latency.with_seed(args.seed),
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
                Ok(Some(command)) if command.trim() == "stats" => {
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "{}", stats_json(&farm.stats()))?;
                    stdout.flush()?;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            },
        }
    }
    Ok(())
}

fn stats_json(stats: &FarmStats) -> serde_json::Value {
    serde_json::json!({
        "requests": stats.requests,
        "html_pages_https": stats.html_pages_https,
        "html_pages_http": stats.html_pages_http,
        "tls_handshakes": stats.tls_handshakes,
        "tls_resumed": stats.tls_resumed,
        "tls_failures": stats.tls_failures,
        "certificates_issued": stats.certificates_issued,
        "certificate_micros": stats.certificate_micros,
        "open_connections": stats.open_connections,
    })
}
