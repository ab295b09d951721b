//! Benchmark 2: a large CSV uploaded through the api and processed by one or more worker
//! processes, against the same farm the pure resolver is timed on.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use test_support::farm::Latency;

use crate::{
    farm::{self, FarmProcess},
    measure, report,
    resolver::{describe, mix_and_latency, print_throughput, resolve_all},
    stack::Stack,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Domains in the uploaded CSV (500,000 is about 10 MB).
    #[arg(long, default_value_t = 500_000)]
    domains: usize,
    /// Sites: `real-world` (dead, slow and awkward hosts among today's icon cases, log-normal
    /// latency), `classic` (today's icon cases at 50 ms) or `scenario=weight,...`.
    #[arg(long, default_value = "real-world")]
    mix: String,
    /// Wait before every farm response: milliseconds, `lognormal` (median 150 ms, sigma 1.31)
    /// or `lognormal:MEDIAN_MS:SIGMA`. Default: the mix's.
    #[arg(long, alias = "latency-ms")]
    latency: Option<Latency>,
    /// Seed of the mix's order and the farm's latency draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Domains resolved at once per worker (`WORKER_DOMAIN_CONCURRENCY`).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Worker counts to run, one run each (e.g. `1,2` for the scale-out speed-up).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    workers: Vec<usize>,
    /// Domains per chunk (`WORKER_CHUNK_DOMAINS`).
    #[arg(long, default_value_t = 5_000)]
    chunk_domains: usize,
    /// Skip the pure-resolver run that the pipeline time is compared with.
    #[arg(long)]
    no_baseline: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (mix, latency) = mix_and_latency(&args.mix, args.latency, args.seed)?;
    let farm = FarmProcess::start(latency).await?;
    report("mix", &mix.name);
    report("domains", args.domains);
    report("latency per response", describe(latency));
    report("concurrency per worker", args.concurrency);
    report("chunk size", args.chunk_domains);
    let mut one_worker = None;
    for (run, workers) in args.workers.iter().copied().enumerate() {
        // Fresh names per run: nothing is answered from the cache of an earlier run.
        let domains = farm::domains(args.domains, &mix, run * 10_000_000, args.seed);
        let elapsed = pipeline_run(&args, &farm, &domains, workers).await?;
        if workers == 1 {
            one_worker = Some(elapsed);
        } else if let Some(one) = one_worker {
            report(
                &format!("speed-up of {workers} workers over 1"),
                format!("{:.2}x", one.as_secs_f64() / elapsed.as_secs_f64()),
            );
        }
        if workers == 1 && !args.no_baseline {
            let baseline_names = farm::domains(args.domains, &mix, 90_000_000, args.seed);
            let baseline = resolve_all(&farm, &baseline_names, args.concurrency).await?;
            print_throughput("pure resolver: ", latency, args.concurrency, &baseline);
            report(
                "pure resolver, same farm and concurrency",
                format!("{:.1} s", baseline.elapsed.as_secs_f64()),
            );
            report(
                "pipeline time / pure resolver time",
                format!(
                    "{:.2}",
                    elapsed.as_secs_f64() / baseline.elapsed.as_secs_f64()
                ),
            );
        }
    }
    Ok(())
}

async fn pipeline_run(
    args: &Args,
    farm: &FarmProcess,
    domains: &[String],
    workers: usize,
) -> anyhow::Result<Duration> {
    let mut stack = Stack::start(farm, |settings| {
        settings.worker.domain_concurrency = args.concurrency;
        settings.worker.chunk_domains = args.chunk_domains;
        settings.worker.file_concurrency = 4;
        settings.worker.result_batch_size = 500;
        settings.worker.visibility_timeout_secs = 120;
    })
    .await?;
    for _ in 0..workers {
        stack.spawn_worker()?;
    }
    // "At start" is once the workers run, not the instant they were spawned (0 MiB).
    for pid in stack.worker_pids() {
        measure::settled_rss_mib(&pid, Duration::from_secs(10)).await;
    }
    let watching: Vec<(String, measure::Peaks)> = stack
        .worker_pids()
        .into_iter()
        .map(|pid| {
            let peaks = measure::Peaks::watch(&pid);
            (pid, peaks)
        })
        .collect();
    let mut csv = String::from("domain\n");
    for domain in domains {
        csv.push_str(domain);
        csv.push('\n');
    }
    #[expect(clippy::cast_precision_loss, reason = "a file size")]
    let megabytes = csv.len() as f64 / 1e6;
    let started = Instant::now();
    let response = stack
        .api
        .upload("bench.csv", "text/csv", csv.into_bytes())
        .await;
    anyhow::ensure!(
        response.status() == 202,
        "upload answered {}",
        response.status()
    );
    let upload = started.elapsed();
    let id = response.json::<serde_json::Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let file = stack
        .api
        .wait_until_terminal_within(&id, Duration::from_secs(3_600))
        .await;
    let elapsed = started.elapsed();
    anyhow::ensure!(file["status"] == "COMPLETED", "the file ended {file}");
    let rows = file["progress"]["total"].as_u64().unwrap_or(0);
    #[expect(clippy::cast_precision_loss, reason = "a row count")]
    let rate = rows as f64 / elapsed.as_secs_f64();
    let label = |what: &str| format!("{workers} worker(s): {what}");
    report(
        &label("CSV uploaded"),
        format!("{megabytes:.1} MB in {:.1} s", upload.as_secs_f64()),
    );
    report(
        &label("upload to COMPLETED"),
        format!("{:.1} s", elapsed.as_secs_f64()),
    );
    report(
        &label("result rows written"),
        format!("{rows} ({rate:.0} rows/s)"),
    );
    report(
        &label("succeeded / failed"),
        format!(
            "{} / {}",
            file["progress"]["succeeded"], file["progress"]["failed"]
        ),
    );
    for (n, (pid, peaks)) in watching.into_iter().enumerate() {
        let peaks = peaks.stop(&pid);
        report(
            &label(&format!("worker {n} peak RSS")),
            format!(
                "{:.0} MiB ({:.0} KiB per in-flight domain above the {:.0} MiB at start)",
                peaks.peak_rss_mib,
                peaks.rss_kib_per_domain(args.concurrency),
                peaks.rss_at_start_mib
            ),
        );
        report(
            &label(&format!("worker {n} peak open fds")),
            format!(
                "{} ({:.2} per in-flight domain above the {} at start)",
                peaks.peak_fds,
                peaks.fds_per_domain(args.concurrency),
                peaks.fds_at_start
            ),
        );
        report(
            &label(&format!("worker {n} CPU")),
            format!("{:.1} s", measure::cpu_time(&pid).as_secs_f64()),
        );
    }
    report(
        &label("failed, by category"),
        failures_by_category(&stack, &id).await?,
    );
    Ok(elapsed)
}

/// The file's failed results counted by category, e.g. `dns 4000, timeout 1500`.
async fn failures_by_category(stack: &Stack, file_id: &str) -> anyhow::Result<String> {
    let file_id: uuid::Uuid = file_id.parse()?;
    let rows = stack
        .db
        .query_all_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT coalesce(error_category, 'none') AS category, count(*) AS n \
             FROM results WHERE file_id = $1 AND status = 'failed' \
             GROUP BY 1 ORDER BY 1",
            [file_id.into()],
        ))
        .await?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let category: String = row.try_get("", "category")?;
        let n: i64 = row.try_get("", "n")?;
        counts.push(format!("{category} {n}"));
    }
    Ok(counts.join(", "))
}
