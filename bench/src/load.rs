//! The load test: concurrent uploaders (one API key each) plus a steady rate of listing
//! requests, for a fixed duration. Exits non-zero when any answer is a 5xx or when a file that
//! was accepted (202) does not reach COMPLETED or FAILED: that is what `.ci/run` checks.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use test_support::ApiClient;

use crate::{farm::FarmProcess, measure, report, stack::Stack};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Uploads in flight at once (each from its own client).
    #[arg(long, default_value_t = 200)]
    uploaders: usize,
    /// Listing requests per second (`GET /files?status=...`).
    #[arg(long, default_value_t = 50)]
    list_rate: u32,
    /// How long to keep the load on.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Domains per uploaded file.
    #[arg(long, default_value_t = 5)]
    domains_per_file: usize,
    /// Worker processes consuming the queue.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[derive(Debug, Default)]
struct Tally {
    statuses: BTreeMap<(&'static str, u16), u64>,
    upload_latency: Vec<Duration>,
    list_latency: Vec<Duration>,
    accepted: Vec<(ApiClient, String)>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let farm = FarmProcess::start(test_support::farm::Latency::None).await?;
    let mut stack = Stack::start(&farm, |settings| {
        settings.database.max_connections = 20;
    })
    .await?;
    for _ in 0..args.workers {
        stack.spawn_worker()?;
    }
    let mut clients = Vec::with_capacity(args.uploaders);
    for n in 0..args.uploaders {
        let (_, key) = stack.new_client(&format!("load-{n}")).await?;
        clients.push(stack.api.as_client(&key));
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, client) in clients.into_iter().enumerate() {
        let (tally, per_file) = (tally.clone(), args.domains_per_file);
        tasks.spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline {
                let domains: Vec<String> = (0..per_file)
                    .map(|i| format!("ico-only-{}.test", (n * 1_000_000) + round * per_file + i))
                    .collect();
                round += 1;
                let csv = format!("domain\n{}\n", domains.join("\n"));
                let sent = Instant::now();
                let response = client
                    .upload("load.csv", "text/csv", csv.into_bytes())
                    .await;
                let elapsed = sent.elapsed();
                let status = response.status().as_u16();
                let id = if status == 202 {
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    body["id"].as_str().map(str::to_owned)
                } else {
                    if let Some(wait) = retry_after(&response) {
                        tokio::time::sleep(wait).await;
                    }
                    None
                };
                let mut tally = tally
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *tally.statuses.entry(("upload", status)).or_default() += 1;
                tally.upload_latency.push(elapsed);
                if let Some(id) = id {
                    tally.accepted.push((client.clone(), id));
                }
            }
        });
    }
    let lister = stack.api.clone();
    let list_tally = tally.clone();
    let rate = args.list_rate.max(1);
    tasks.spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
        let statuses = ["PENDING", "PROCESSING", "COMPLETED", "FAILED"];
        let mut n = 0;
        let mut requests = tokio::task::JoinSet::new();
        while Instant::now() < deadline {
            ticker.tick().await;
            let (lister, tally) = (lister.clone(), list_tally.clone());
            let path = format!("/files?status={}&page=1&per_page=20", statuses[n % 4]);
            n += 1;
            requests.spawn(async move {
                let sent = Instant::now();
                let response = lister.get(&lister.api_key, &path).await;
                let elapsed = sent.elapsed();
                let mut tally = tally
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *tally
                    .statuses
                    .entry(("list", response.status().as_u16()))
                    .or_default() += 1;
                tally.list_latency.push(elapsed);
            });
        }
        while requests.join_next().await.is_some() {}
    });
    while tasks.join_next().await.is_some() {}
    let load_time = started.elapsed();

    let mut tally = std::mem::take(
        &mut *tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let accepted = tally.accepted.len();
    let drained = Instant::now();
    let mut not_terminal = Vec::new();
    for (client, id) in &tally.accepted {
        let file = client
            .wait_until_terminal_within(id, Duration::from_secs(600))
            .await;
        if file["status"] != "COMPLETED" {
            not_terminal.push(format!("{id}: {}", file["status"]));
        }
    }
    report(
        "uploaders / listing rate",
        format!("{} / {rate} per s", args.uploaders),
    );
    report("load duration", format!("{:.1} s", load_time.as_secs_f64()));
    for ((kind, status), count) in &tally.statuses {
        report(&format!("{kind} answers {status}"), count);
    }
    #[expect(clippy::cast_precision_loss, reason = "a request count")]
    let upload_rate = tally.upload_latency.len() as f64 / load_time.as_secs_f64();
    report("upload requests per second", format!("{upload_rate:.0}"));
    report("accepted files", accepted);
    for (name, samples) in [
        ("upload", &mut tally.upload_latency),
        ("list", &mut tally.list_latency),
    ] {
        let p50 = measure::quantile(samples, 0.5);
        let p99 = measure::quantile(samples, 0.99);
        report(
            &format!("{name} latency p50 / p99"),
            format!("{} / {}", measure::ms(p50), measure::ms(p99)),
        );
    }
    report(
        "backlog drained after the load in",
        format!("{:.1} s", drained.elapsed().as_secs_f64()),
    );
    let server_errors: u64 = tally
        .statuses
        .iter()
        .filter(|((_, status), _)| *status >= 500)
        .map(|(_, count)| count)
        .sum();
    anyhow::ensure!(server_errors == 0, "{server_errors} answers were 5xx");
    anyhow::ensure!(
        not_terminal.is_empty(),
        "accepted files not COMPLETED: {not_terminal:?}"
    );
    anyhow::ensure!(accepted > 0, "no upload was accepted");
    report("result", "no 5xx; every accepted file COMPLETED");
    Ok(())
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds = response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}
