//! Benchmark 1: the resolver alone, as the pipeline uses it, against the farm; optionally the
//! same through `worker resolve`, the command people run.

use std::{
    collections::BTreeMap,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use favicon::{Domain, Resolver, ResolverSettings};
use futures::StreamExt;
use test_support::farm::{FarmStats, Latency, NXDOMAIN_OVERRIDE};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::{
    farm::{self, FarmProcess, Mix},
    measure, report,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Domains to resolve.
    #[arg(long, default_value_t = 10_000)]
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
    /// Domains resolved at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Then resolve as many other domains of the mix through `worker resolve` (the release
    /// binary beside this one), with the same concurrency, and report both.
    #[arg(long)]
    through_command: bool,
}

/// How one domain ended, and how long it held its slot.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The failure category, or `None` for a success.
    pub category: Option<&'static str>,
    /// The scheme of the chosen icon's URL (`https`, `http` or `data`), for a success.
    pub scheme: Option<&'static str>,
    /// Time from start to result (unknown through the command).
    pub time: Option<Duration>,
}

/// What one resolver run measured.
#[derive(Debug)]
pub struct Throughput {
    pub elapsed: Duration,
    pub outcomes: Vec<Outcome>,
    /// The resolver's CPU time.
    pub cpu: Duration,
    /// The farm's CPU time.
    pub farm_cpu: Duration,
    /// The farm's counters during the run.
    pub farm: FarmStats,
    /// The resolving process's memory and open files (sampled every 100 ms).
    pub peaks: measure::PeakFigures,
}

impl Throughput {
    /// Domains that got an icon.
    pub fn succeeded(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.category.is_none())
            .count()
    }

    /// Failures by category.
    pub fn failures(&self) -> BTreeMap<&'static str, usize> {
        let mut failures = BTreeMap::new();
        for category in self.outcomes.iter().filter_map(|o| o.category) {
            *failures.entry(category).or_insert(0) += 1;
        }
        failures
    }
}

/// Resolves `domains` with `concurrency` through resolver settings aimed at `farm`.
pub async fn resolve_all(
    farm: &FarmProcess,
    domains: &[String],
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let resolver = Resolver::new(&farm_settings(farm))?;
    let parsed: Vec<Domain> = domains
        .iter()
        .map(|d| Domain::parse(d))
        .collect::<Result<_, _>>()?;
    let stats_before = farm.stats().await?;
    let cpu_before = measure::cpu_time("self");
    let farm_cpu_before = farm.cpu_time();
    let peaks = measure::Peaks::watch("self");
    let started = Instant::now();
    let outcomes: Vec<Outcome> = futures::stream::iter(parsed)
        .map(|domain| {
            let resolver = resolver.clone();
            async move {
                let started = Instant::now();
                let outcome = resolver.resolve(&domain).await.outcome;
                let time = Some(started.elapsed());
                match outcome {
                    Ok(icon) => Outcome {
                        category: None,
                        scheme: Some(scheme_of(&icon.url)),
                        time,
                    },
                    Err(failure) => Outcome {
                        category: Some(failure.category.as_str()),
                        scheme: None,
                        time,
                    },
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let peaks = peaks.stop("self");
    // The resolver's own: without what watching the process's memory and files took.
    let cpu = measure::cpu_time("self")
        .saturating_sub(cpu_before)
        .saturating_sub(peaks.sampler_cpu);
    let farm_cpu = farm.cpu_time().saturating_sub(farm_cpu_before);
    Ok(Throughput {
        elapsed,
        outcomes,
        cpu,
        farm_cpu,
        farm: stats_since(&stats_before, &farm.stats().await?),
        peaks,
    })
}

/// Resolves `domains` through `worker resolve --concurrency N`, reading its JSON lines.
pub async fn resolve_through_command(
    farm: &FarmProcess,
    domains: &[String],
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let stats_before = farm.stats().await?;
    let farm_cpu_before = farm.cpu_time();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(farm::sibling("worker")?)
        .env_clear()
        .env(
            "RESOLVER_DNS_OVERRIDE",
            format!("{NXDOMAIN_OVERRIDE}=NXDOMAIN"),
        )
        .env("RESOLVER_USER_AGENT", BENCH_USER_AGENT)
        .env("RUST_LOG", "error")
        .arg("resolve")
        .arg("--connect-to")
        .arg(farm.addr.to_string())
        .arg("--ca-cert")
        .arg(&farm.ca_cert)
        .arg("--concurrency")
        .arg(concurrency.clamp(1, usize::from(u16::MAX)).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("failed to start `worker resolve`")?;
    let pid = child.id().map(|id| id.to_string()).unwrap_or_default();
    let watching = measure::Peaks::watch(&pid);
    let mut stdin = child.stdin.take().context("worker stdin")?;
    let input = domains.join("\n") + "\n";
    let writer = tokio::spawn(async move {
        stdin.write_all(input.as_bytes()).await?;
        stdin.shutdown().await
    });
    let mut lines =
        tokio::io::BufReader::new(child.stdout.take().context("worker stdout")?).lines();
    let mut outcomes = Vec::with_capacity(domains.len());
    let mut cpu = Duration::ZERO;
    let mut peaks = measure::PeakFigures::default();
    while let Some(line) = lines.next_line().await? {
        let value: serde_json::Value = serde_json::from_str(&line)?;
        outcomes.push(Outcome {
            category: value["category"].as_str().map(category_name),
            scheme: value["favicon_url"].as_str().map(scheme_of),
            time: None,
        });
        if outcomes.len() == domains.len() {
            // Read before the process exits and its counters go.
            cpu = measure::cpu_time(&pid);
            peaks = watching.now(&pid);
        }
    }
    let elapsed = started.elapsed();
    let peaks = watching.stop(&pid).max_with(peaks);
    writer.await??;
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "`worker resolve` ended with {status}");
    Ok(Throughput {
        elapsed,
        outcomes,
        cpu,
        farm_cpu: farm.cpu_time().saturating_sub(farm_cpu_before),
        farm: stats_since(&stats_before, &farm.stats().await?),
        peaks,
    })
}

/// The static name of a failure category printed by `worker resolve`.
fn category_name(category: &str) -> &'static str {
    favicon::FailureCategory::ALL
        .into_iter()
        .map(|c| c.as_str())
        .find(|name| *name == category)
        .unwrap_or("unknown")
}

fn scheme_of(url: &str) -> &'static str {
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("https") => "https",
        Some("http") => "http",
        Some("data") => "data",
        _ => "other",
    }
}

/// The counters of `after` less those of `before` (open connections as of `after`).
fn stats_since(before: &FarmStats, after: &FarmStats) -> FarmStats {
    FarmStats {
        requests: after.requests.saturating_sub(before.requests),
        html_pages_https: after
            .html_pages_https
            .saturating_sub(before.html_pages_https),
        html_pages_http: after.html_pages_http.saturating_sub(before.html_pages_http),
        tls_handshakes: after.tls_handshakes.saturating_sub(before.tls_handshakes),
        tls_resumed: after.tls_resumed.saturating_sub(before.tls_resumed),
        tls_failures: after.tls_failures.saturating_sub(before.tls_failures),
        certificates_issued: after
            .certificates_issued
            .saturating_sub(before.certificates_issued),
        certificate_micros: after
            .certificate_micros
            .saturating_sub(before.certificate_micros),
        open_connections: after.open_connections,
    }
}

/// The User-Agent of benchmark requests.
const BENCH_USER_AGENT: &str = "favicon-pipeline-bench";

/// The resolver's settings for benchmarks: every connection to the farm, its CA trusted, the
/// farm's dead names non-existent, production rules otherwise (private addresses blocked,
/// default limits and deadlines).
pub fn farm_settings(farm: &FarmProcess) -> ResolverSettings {
    ResolverSettings {
        connect_to: Some(farm.addr),
        ca_cert: Some(farm.ca_cert.clone()),
        dns_nxdomain: vec![NXDOMAIN_OVERRIDE.to_owned()],
        user_agent: BENCH_USER_AGENT.to_owned(),
        ..ResolverSettings::default()
    }
}

/// The mix and farm latency that `mix` and `latency` (the options) select.
pub fn mix_and_latency(
    mix: &str,
    latency: Option<Latency>,
    seed: u64,
) -> anyhow::Result<(Mix, Latency)> {
    let mix = farm::mix(mix)?;
    let latency = latency.unwrap_or(mix.latency).with_seed(seed);
    Ok((mix, latency))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (mix, latency) = mix_and_latency(&args.mix, args.latency, args.seed)?;
    let farm = FarmProcess::start(latency).await?;
    let domains = farm::domains(args.domains, &mix, 0, args.seed);
    report("mix", &mix.name);
    report("domains", args.domains);
    report("latency per response", describe(latency));
    report("concurrency", args.concurrency);
    let run = resolve_all(&farm, &domains, args.concurrency).await?;
    print_throughput("", latency, args.concurrency, &run);
    if args.through_command {
        let domains = farm::domains(args.domains, &mix, 50_000_000, args.seed);
        let command = resolve_through_command(&farm, &domains, args.concurrency).await?;
        print_throughput("worker resolve: ", latency, args.concurrency, &command);
        report(
            "worker resolve / library throughput",
            format!(
                "{:.2}",
                run.elapsed.as_secs_f64() / command.elapsed.as_secs_f64()
            ),
        );
    }
    Ok(())
}

/// The latency for people: `50.00 ms`, or the log-normal's parameters and figures.
pub fn describe(latency: Latency) -> String {
    match latency {
        Latency::LogNormal { median, sigma, .. } => format!(
            "log-normal, median {}, sigma {sigma} (p99 {}, mean {})",
            measure::ms(median),
            measure::ms(median.mul_f64((2.326 * sigma).exp())),
            measure::ms(latency.mean()),
        ),
        other => measure::ms(other.mean()),
    }
}

/// Prints a run's figures, each name starting with `prefix`.
pub fn print_throughput(prefix: &str, latency: Latency, concurrency: usize, run: &Throughput) {
    let figure = |name: &str, value: String| report(&format!("{prefix}{name}"), value);
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let (domains, requests) = (run.outcomes.len() as f64, run.farm.requests as f64);
    let seconds = run.elapsed.as_secs_f64();
    let rate = domains / seconds;
    let by_scheme = |scheme: &str| {
        run.outcomes
            .iter()
            .filter(|o| o.category.is_none() && o.scheme == Some(scheme))
            .count()
    };
    figure(
        "succeeded (icon over https / http / data:)",
        format!(
            "{} ({} / {} / {})",
            run.succeeded(),
            by_scheme("https"),
            by_scheme("http"),
            by_scheme("data")
        ),
    );
    figure("failed, by category", format!("{:?}", run.failures()));
    figure("elapsed", format!("{seconds:.2} s"));
    figure("throughput", format!("{rate:.0} domains/s"));
    print_held_time(&figure, run);
    let per_domain = requests / domains;
    figure("farm requests per domain", format!("{per_domain:.2}"));
    let farm = &run.farm;
    figure(
        "farm: HTML pages served over https / http",
        format!("{} / {}", farm.html_pages_https, farm.html_pages_http),
    );
    figure(
        "farm: TLS handshakes completed (resumed) / failed",
        format!(
            "{} ({}) / {}",
            farm.tls_handshakes, farm.tls_resumed, farm.tls_failures
        ),
    );
    figure(
        "farm: connections open at the end (pooled ones too)",
        farm.open_connections.to_string(),
    );
    if farm.certificates_issued > 0 {
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let each = farm.certificate_micros as f64 / farm.certificates_issued as f64;
        figure(
            "farm: certificates issued (cost each)",
            format!("{} ({each:.0} µs)", farm.certificates_issued),
        );
    }
    if let Latency::Fixed(wait) = latency {
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let bound = concurrency as f64 / (per_domain * wait.as_secs_f64());
        figure(
            "bound concurrency/(requests x latency)",
            format!("{bound:.0} domains/s"),
        );
        figure("ratio to the bound", format!("{:.2}", rate / bound));
    }
    let peaks = &run.peaks;
    figure(
        "resolving process RSS at start / peak (VmHWM)",
        format!(
            "{:.0} / {:.0} MiB, {:.0} KiB per in-flight domain",
            peaks.rss_at_start_mib,
            peaks.peak_rss_mib,
            peaks.rss_kib_per_domain(concurrency)
        ),
    );
    figure(
        "resolving process open fds at start / peak",
        format!(
            "{} / {}, {:.2} per in-flight domain",
            peaks.fds_at_start,
            peaks.peak_fds,
            peaks.fds_per_domain(concurrency)
        ),
    );
    let per_thousand = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / domains;
    figure(
        "resolver CPU per 1,000 domains",
        format!("{:.2} s", per_thousand(run.cpu)),
    );
    figure(
        "farm CPU per 1,000 domains",
        format!("{:.2} s", per_thousand(run.farm_cpu)),
    );
    // When the farm shares the host, resolver and farm together cannot beat this rate.
    #[expect(clippy::cast_precision_loss, reason = "a core count")]
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let cpu_per_domain = (run.cpu + run.farm_cpu).as_secs_f64() / domains;
    figure(
        "CPU ceiling (cores / CPU per domain, both)",
        format!("{:.0} domains/s on {cores} cores", cores / cpu_per_domain),
    );
}

/// Per-domain times, and the slot time failing domains held, by category.
fn print_held_time(figure: &impl Fn(&str, String), run: &Throughput) {
    let mut times: Vec<Duration> = run.outcomes.iter().filter_map(|o| o.time).collect();
    if times.is_empty() {
        return;
    }
    let total: Duration = times.iter().sum();
    let mut held: BTreeMap<&str, (usize, Duration)> = BTreeMap::new();
    for outcome in &run.outcomes {
        let entry = held
            .entry(outcome.category.unwrap_or("success"))
            .or_default();
        entry.0 += 1;
        entry.1 += outcome.time.unwrap_or_default();
    }
    let failing: Duration = held
        .iter()
        .filter(|(name, _)| **name != "success")
        .map(|(_, (_, time))| *time)
        .sum();
    figure(
        "time per domain p50 / p90 / p99",
        format!(
            "{} / {} / {}",
            measure::ms(measure::quantile(&mut times, 0.5)),
            measure::ms(measure::quantile(&mut times, 0.9)),
            measure::ms(measure::quantile(&mut times, 0.99)),
        ),
    );
    figure(
        "slot time held by failing domains",
        format!(
            "{:.0} of {:.0} domain-s ({:.0} %)",
            failing.as_secs_f64(),
            total.as_secs_f64(),
            100.0 * failing.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE)
        ),
    );
    let by_category: Vec<String> = held
        .iter()
        .map(|(name, (count, time))| {
            #[expect(clippy::cast_precision_loss, reason = "small counts")]
            let mean = time.as_secs_f64() / *count as f64;
            format!("{name} {:.0} s (mean {mean:.2} s)", time.as_secs_f64())
        })
        .collect();
    figure("slot time by outcome", by_category.join(", "));
}
