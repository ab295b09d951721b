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
    /// LocalStack's own Put+Publish pairs per second at this concurrency (`bench
    /// localstack-bound`), to print accepted uploads per second against.
    #[arg(long, conflicts_with = "measure_bound")]
    bound: Option<f64>,
    /// Measure that bound before the load and again after its backlog is drained
    /// (`--uploaders` pairs in flight for `--duration-secs` each time), and read uploads
    /// against the mean of the two: LocalStack's speed drifts within minutes.
    #[arg(long)]
    measure_bound: bool,
}

/// The CSV uploader `n` sends in its round `round`: `per_file` domains no other upload has.
pub fn upload_csv(n: usize, round: usize, per_file: usize) -> String {
    let domains: Vec<String> = (0..per_file)
        .map(|i| format!("ico-only-{}.test", (n * 1_000_000) + round * per_file + i))
        .collect();
    format!("domain\n{}\n", domains.join("\n"))
}

#[derive(Debug, Default)]
struct Tally {
    statuses: BTreeMap<(&'static str, u16), u64>,
    upload_latency: Vec<Duration>,
    list_latency: Vec<Duration>,
    accepted: Vec<(ApiClient, String)>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bound_args = crate::bound::Args {
        concurrency: args.uploaders,
        duration_secs: args.duration_secs,
        domains_per_file: args.domains_per_file,
    };
    let bound_before = if args.measure_bound {
        Some(
            crate::bound::measure_bound(&bound_args)
                .await?
                .pairs_per_second,
        )
    } else {
        None
    };
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
                let csv = upload_csv(n, round, per_file);
                round += 1;
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
    // The dashboard is a client of its own, as it would be on another machine: its listings
    // run on their own thread, runtime and connections, so that their times are the api's and
    // not also the wait for this process's uploader tasks to let them be polled.
    let dashboard = ApiClient::new(stack.api.address.clone(), stack.api.api_key.clone());
    let rate = args.list_rate.max(1);
    let listings = std::thread::spawn(move || list_until(&dashboard, rate, deadline));
    while tasks.join_next().await.is_some() {}
    let listings = tokio::task::spawn_blocking(move || listings.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the listing thread panicked"))??;
    let load_time = started.elapsed();
    let metrics = stack.api.get("", "/metrics").await.text().await?;

    let mut tally = std::mem::take(
        &mut *tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for (status, latency) in listings {
        *tally.statuses.entry(("list", status)).or_default() += 1;
        tally.list_latency.push(latency);
    }
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
    // LocalStack's speed again, now that the pipeline is idle; then the stack's resources go,
    // so that LocalStack does not slow down as runs pile them up.
    let bound = match bound_before {
        Some(before) => {
            let after = crate::bound::measure_bound(&bound_args)
                .await?
                .pairs_per_second;
            report(
                "LocalStack bound before / after / mean",
                format!(
                    "{before:.1} / {after:.1} / {:.1}",
                    f64::midpoint(before, after)
                ),
            );
            Some(f64::midpoint(before, after))
        }
        None => args.bound,
    };
    test_support::aws::delete_resources(&stack.settings.aws).await;
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
    #[expect(clippy::cast_precision_loss, reason = "a file count")]
    let accepted_rate = accepted as f64 / load_time.as_secs_f64();
    report("accepted uploads per second", format!("{accepted_rate:.1}"));
    if let Some(bound) = bound {
        report(
            "accepted uploads/s / LocalStack bound",
            format!(
                "{accepted_rate:.1} / {bound:.1} = {:.2}",
                accepted_rate / bound
            ),
        );
    }
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
    report_phases(&metrics);
    report_listings_served_within(&metrics, "0.05");
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

/// `GET /files?status=…` at `rate` per second until `deadline`, cycling through the
/// statuses, on a runtime of its own: each listing's status and time.
fn list_until(
    dashboard: &ApiClient,
    rate: u32,
    deadline: Instant,
) -> anyhow::Result<Vec<(u16, Duration)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
        let statuses = ["PENDING", "PROCESSING", "COMPLETED", "FAILED"];
        let mut requests = tokio::task::JoinSet::new();
        for n in 0.. {
            ticker.tick().await;
            if Instant::now() >= deadline {
                break;
            }
            let dashboard = dashboard.clone();
            let path = format!("/files?status={}&page=1&limit=20", statuses[n % 4]);
            requests.spawn(async move {
                let sent = Instant::now();
                let response = dashboard.get(&dashboard.api_key, &path).await;
                (response.status().as_u16(), sent.elapsed())
            });
        }
        let mut listings = Vec::new();
        while let Some(listing) = requests.join_next().await {
            listings.push(listing?);
        }
        Ok(listings)
    })
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

/// The value of the first sample in Prometheus's text format `metrics` named `name` whose
/// labels include every one of `labels` (each as `key="value"`).
fn metric_value(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let held = series
            .strip_prefix(name)?
            .strip_prefix('{')?
            .strip_suffix('}')?;
        let held: Vec<&str> = held.split(',').collect();
        labels
            .iter()
            .all(|label| held.contains(label))
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// How many `GET /files` the api itself answered within `le` seconds (a bucket bound of its
/// `favicon_http_request_duration_seconds`), to its response head: the listing's time
/// without the client's side.
fn report_listings_served_within(metrics: &str, le: &str) {
    let bucket = |bound: &str| {
        metric_value(
            metrics,
            "favicon_http_request_duration_seconds_bucket",
            &[
                "method=\"GET\"",
                "route=\"/files\"",
                &format!("le=\"{bound}\""),
            ],
        )
    };
    if let (Some(within), Some(all)) = (bucket(le), bucket("+Inf")) {
        let ms = le.parse::<f64>().unwrap_or_default() * 1e3;
        report(
            &format!("api: listings answered within {ms:.0} ms"),
            format!("{within:.0} of {all:.0}"),
        );
    }
}

/// Where the api's time went, from its `favicon_api_phase_seconds` summaries: per step, how
/// many, the mean, and the median and 99th percentile of the last minute.
fn report_phases(metrics: &str) {
    const PHASES: [&str; 7] = [
        "auth",
        "in_flight_count",
        "receive_and_store",
        "record",
        "publish",
        "mark_published",
        "list_query",
    ];
    let value = |phase: &str, suffix: &str, quantile: Option<&str>| {
        let phase = format!("phase=\"{phase}\"");
        let quantile = quantile.map(|q| format!("quantile=\"{q}\""));
        let labels: Vec<&str> = [Some(phase.as_str()), quantile.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        metric_value(
            metrics,
            &format!("favicon_api_phase_seconds{suffix}"),
            &labels,
        )
    };
    for phase in PHASES {
        let (Some(count), Some(sum)) = (value(phase, "_count", None), value(phase, "_sum", None))
        else {
            continue;
        };
        let ms =
            |seconds: Option<f64>| seconds.map_or("-".to_owned(), |s| format!("{:.1}", s * 1e3));
        report(
            &format!("api step {phase}: n / mean / p50 / p99 ms"),
            format!(
                "{count:.0} / {} / {} / {}",
                ms((count > 0.0).then(|| sum / count)),
                ms(value(phase, "", Some("0.5"))),
                ms(value(phase, "", Some("0.99"))),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    const METRICS: &str = r#"favicon_api_phase_seconds{phase="auth",quantile="0.5"} 0.0016
favicon_api_phase_seconds{phase="auth",quantile="0.99"} 0.0548
favicon_api_phase_seconds_sum{phase="auth"} 0.25
favicon_api_phase_seconds_count{phase="auth"} 203
favicon_http_request_duration_seconds_bucket{method="GET",route="/files/{id}",le="0.05"} 9
favicon_http_request_duration_seconds_bucket{method="GET",route="/files",le="0.05"} 1487
favicon_http_request_duration_seconds_bucket{method="GET",route="/files",le="+Inf"} 1500
"#;

    #[test]
    fn a_sample_is_found_by_its_name_and_every_label_asked_for() {
        let value = |name: &str, labels: &[&str]| metric_value(METRICS, name, labels);
        let phases = "favicon_api_phase_seconds";
        assert_eq!(
            value(phases, &[r#"phase="auth""#, r#"quantile="0.99""#]),
            Some(0.0548)
        );
        assert_eq!(
            value(&format!("{phases}_count"), &[r#"phase="auth""#]),
            Some(203.0)
        );
        let buckets = "favicon_http_request_duration_seconds_bucket";
        let files = [r#"method="GET""#, r#"route="/files""#];
        assert_eq!(
            value(buckets, &[files[0], files[1], r#"le="0.05""#]),
            Some(1487.0)
        );
        assert_eq!(
            value(buckets, &[files[0], files[1], r#"le="+Inf""#]),
            Some(1500.0)
        );
        assert_eq!(value(phases, &[r#"phase="record""#]), None);
        assert_eq!(value("favicon_api_phase", &[r#"phase="auth""#]), None);
    }
}
