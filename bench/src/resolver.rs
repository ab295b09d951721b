//! Benchmark 1: the resolver alone, as the pipeline uses it, against the farm.

use std::time::{Duration, Instant};

use futures::StreamExt;
use worker::{domain::Domain, resolver::Resolver};

use crate::{
    farm::{self, FarmProcess},
    measure, report,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Domains to resolve.
    #[arg(long, default_value_t = 10_000)]
    domains: usize,
    /// Wait before every farm response.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Domains resolved at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Scenario mix, e.g. `relative=45,ico-only=20` (default: a top-sites-like mix).
    #[arg(long)]
    mix: Option<String>,
}

/// What one resolver run measured.
#[derive(Debug)]
pub struct Throughput {
    pub elapsed: Duration,
    pub succeeded: usize,
    pub failures: std::collections::BTreeMap<&'static str, usize>,
    pub requests: u64,
    /// The resolver's CPU time.
    pub cpu: Duration,
    /// The farm's CPU time.
    pub farm_cpu: Duration,
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
    let cpu_before = measure::cpu_time("self");
    let farm_cpu_before = farm.cpu_time();
    let started = Instant::now();
    let outcomes: Vec<Result<(), &'static str>> = futures::stream::iter(parsed)
        .map(|domain| {
            let resolver = resolver.clone();
            async move {
                match resolver.resolve(&domain).await.outcome {
                    Ok(_) => Ok(()),
                    Err(failure) => Err(failure.category.as_str()),
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut failures = std::collections::BTreeMap::new();
    for category in outcomes.iter().filter_map(|outcome| outcome.err()) {
        *failures.entry(category).or_insert(0_usize) += 1;
    }
    Ok(Throughput {
        elapsed: started.elapsed(),
        succeeded: outcomes.iter().filter(|outcome| outcome.is_ok()).count(),
        failures,
        requests: 0,
        cpu: measure::cpu_time("self").saturating_sub(cpu_before),
        farm_cpu: farm.cpu_time().saturating_sub(farm_cpu_before),
    })
}

/// The resolver's settings for benchmarks: every connection to the farm, its CA trusted,
/// production rules otherwise (private addresses blocked, default limits).
pub fn farm_settings(farm: &FarmProcess) -> common::config::ResolverSettings {
    common::config::ResolverSettings {
        connect_to: Some(farm.addr),
        ca_cert: Some(farm.ca_cert.clone()),
        user_agent: "favicon-pipeline-bench".to_owned(),
        ..common::config::ResolverSettings::default()
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mix = match &args.mix {
        Some(text) => farm::parse_mix(text)?,
        None => farm::DEFAULT_MIX.to_vec(),
    };
    let latency = Duration::from_millis(args.latency_ms);
    let farm = FarmProcess::start(latency).await?;
    let domains = farm::domains(args.domains, &mix, 0);
    let requests_before = farm_requests(&farm).await;
    let run = resolve_all(&farm, &domains, args.concurrency).await?;
    let requests = farm_requests(&farm).await.saturating_sub(requests_before);
    let run = Throughput { requests, ..run };
    print_throughput(&args, latency, &run);
    Ok(())
}

fn print_throughput(args: &Args, latency: Duration, run: &Throughput) {
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let (domains, requests) = (args.domains as f64, run.requests as f64);
    let seconds = run.elapsed.as_secs_f64();
    let per_domain = if requests > 0.0 {
        requests / domains
    } else {
        f64::NAN
    };
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let bound = args.concurrency as f64 / (per_domain * latency.as_secs_f64());
    let rate = domains / seconds;
    report("domains", args.domains);
    report("latency per response", measure::ms(latency));
    report("concurrency", args.concurrency);
    report("succeeded", run.succeeded);
    report("failed, by category", format!("{:?}", run.failures));
    report("elapsed", format!("{seconds:.2} s"));
    report("farm requests per domain", format!("{per_domain:.2}"));
    report("throughput", format!("{rate:.0} domains/s"));
    report(
        "bound concurrency/(requests x latency)",
        format!("{bound:.0} domains/s"),
    );
    report("ratio to the bound", format!("{:.2}", rate / bound));
    let per_thousand = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / domains;
    report(
        "resolver CPU per 1,000 domains",
        format!("{:.2} s", per_thousand(run.cpu)),
    );
    report(
        "farm CPU per 1,000 domains",
        format!("{:.2} s", per_thousand(run.farm_cpu)),
    );
    // When the farm shares the host, resolver and farm together cannot beat this rate.
    #[expect(clippy::cast_precision_loss, reason = "a core count")]
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let cpu_per_domain = (run.cpu + run.farm_cpu).as_secs_f64() / domains;
    report(
        "CPU ceiling (cores / CPU per domain, both)",
        format!("{:.0} domains/s on {cores} cores", cores / cpu_per_domain),
    );
}

/// Requests the farm served so far (0 if it cannot tell).
async fn farm_requests(farm: &FarmProcess) -> u64 {
    farm.requests().await.unwrap_or(0)
}
