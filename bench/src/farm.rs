//! The web farm as a child process (so its CPU is not counted as the resolver's), and the
//! domain names a benchmark sends to it.

use std::{net::SocketAddr, path::PathBuf, process::Stdio, time::Duration};

use anyhow::Context as _;
use test_support::farm::{FarmStats, Latency, latency::shuffle, scenarios};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

/// A running `web-farm` process; stopped when dropped.
#[derive(Debug)]
pub struct FarmProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its test CA.
    pub ca_cert: PathBuf,
    control: tokio::sync::Mutex<(ChildStdin, Lines<BufReader<ChildStdout>>)>,
    pid: String,
    _child: Child,
}

impl FarmProcess {
    /// Starts `web-farm` (a sibling of this executable) with `latency` per response.
    pub async fn start(latency: Latency) -> anyhow::Result<Self> {
        let seed = match latency {
            Latency::LogNormal { seed, .. } => seed,
            _ => 1,
        };
        let mut child = Command::new(sibling("web-farm")?)
            .arg("--latency")
            .arg(latency.to_string())
            .arg("--seed")
            .arg(seed.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("failed to start web-farm (build it with `cargo build --release -p bench`)")?;
        let pid = child.id().context("web-farm exited at once")?.to_string();
        let stdin = child.stdin.take().context("web-farm stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("web-farm stdout")?).lines();
        let line = lines
            .next_line()
            .await?
            .context("web-farm printed nothing")?;
        let started: serde_json::Value = serde_json::from_str(&line)?;
        Ok(Self {
            addr: started["addr"].as_str().context("addr")?.parse()?,
            ca_cert: started["ca_cert"].as_str().context("ca_cert")?.into(),
            control: tokio::sync::Mutex::new((stdin, lines)),
            pid,
            _child: child,
        })
    }

    /// CPU time the farm has used so far.
    pub fn cpu_time(&self) -> Duration {
        crate::measure::cpu_time(&self.pid)
    }

    /// The farm's counters so far.
    pub async fn stats(&self) -> anyhow::Result<FarmStats> {
        let mut control = self.control.lock().await;
        let (stdin, lines) = &mut *control;
        stdin.write_all(b"stats\n").await?;
        stdin.flush().await?;
        let line = lines.next_line().await?.context("web-farm stopped")?;
        let stats: serde_json::Value = serde_json::from_str(&line)?;
        let field = |name: &str| stats[name].as_u64().unwrap_or(0);
        Ok(FarmStats {
            requests: field("requests"),
            html_pages_https: field("html_pages_https"),
            html_pages_http: field("html_pages_http"),
            tls_handshakes: field("tls_handshakes"),
            tls_resumed: field("tls_resumed"),
            tls_failures: field("tls_failures"),
            certificates_issued: field("certificates_issued"),
            certificate_micros: field("certificate_micros"),
            open_connections: field("open_connections"),
        })
    }
}

/// A binary built beside this one (`target/dist/NAME`, or `target/debug/NAME`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.parent().context("executable directory")?.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: `scripts/build-release` builds every binary into target/dist (scripts/bench runs it)",
        path.display()
    );
    Ok(path)
}

/// A benchmark's mix of sites: scenarios with their weights, the farm latency the mix is
/// measured with unless `--latency` says otherwise, and whether sites come in blocks of one
/// scenario (as the classic figures were measured) or shuffled.
#[derive(Debug, Clone)]
pub struct Mix {
    /// `real-world`, `classic` or the spec given.
    pub name: String,
    /// Scenario and weight; shares are weights over their sum.
    pub shares: Vec<(&'static str, usize)>,
    /// The default farm latency.
    pub latency: Latency,
    /// Shuffle the sites (seeded), so that dead hosts do not arrive in bursts.
    pub shuffled: bool,
}

/// Today's mix, kept so that the figures measured with it can be rerun (weights in 1/100).
/// Icon links, manifests, `/favicon.ico` only, redirect loops and 404s, at a fixed 50 ms.
pub const CLASSIC_MIX: &[(&str, usize)] = &[
    ("relative", 45),
    ("absolute", 10),
    ("manifest-only", 10),
    ("ico-only", 20),
    ("loop", 5),
    ("nothing", 10),
];

/// The real-world mix (weights in 1/1000): dead, slow and awkward sites at the shares
/// BENCHMARKS.md gives with their sources, then today's icon cases at today's proportions
/// for the remaining 65 %. Measured with [`Latency::REAL_WORLD`].
pub const REAL_WORLD_MIX: &[(&str, usize)] = &[
    // Names that do not resolve (NXDOMAIN through the DNS override).
    ("nxdomain", 80),
    // Hosts that do not serve: connection reset, accepted and never answered, https stalled.
    ("refused", 15),
    ("hang", 15),
    ("tls-stall", 10),
    // Hosts that answer with an error: a bot wall (403 everywhere), 503 everywhere.
    ("forbidden", 40),
    ("server-error", 20),
    // Slow bodies: one that never ends, one that ends after about 1.5 s.
    ("slow-drip", 5),
    ("trickle", 15),
    // Three redirects (one to www.), and 400 KiB pages with the icon after a big script.
    ("redirects", 100),
    ("large-page", 50),
    // Today's icon cases, 65 % of the sites, in today's proportions.
    ("relative", 293),
    ("absolute", 65),
    ("manifest-only", 65),
    ("ico-only", 130),
    ("loop", 32),
    ("nothing", 65),
];

/// The mix named `text`: `real-world`, `classic`, or `scenario=weight,...` (in blocks, at
/// the classic 50 ms, like `classic`).
pub fn mix(text: &str) -> anyhow::Result<Mix> {
    let (shares, latency, shuffled) = match text {
        "real-world" => (REAL_WORLD_MIX.to_vec(), Latency::REAL_WORLD, true),
        "classic" => (CLASSIC_MIX.to_vec(), CLASSIC_LATENCY, false),
        spec => (parse_mix(spec)?, CLASSIC_LATENCY, false),
    };
    anyhow::ensure!(
        shares.iter().any(|(_, weight)| *weight > 0),
        "the mix {text} is empty"
    );
    Ok(Mix {
        name: text.to_owned(),
        shares,
        latency,
        shuffled,
    })
}

/// The classic mix's latency: 50 ms before every response.
const CLASSIC_LATENCY: Latency = Latency::Fixed(Duration::from_millis(50));

/// `count` distinct domains, cycling through `mix` by weight, numbered from `first` (so runs
/// against one farm can use distinct names). A shuffled mix is shuffled once per cycle of
/// its weights, with `seed`.
pub fn domains(count: usize, mix: &Mix, first: usize, seed: u64) -> Vec<String> {
    let mut wheel: Vec<&str> = mix
        .shares
        .iter()
        .flat_map(|(scenario, share)| std::iter::repeat_n(*scenario, *share))
        .collect();
    if mix.shuffled {
        shuffle(&mut wheel, seed);
    }
    (0..count)
        .map(|i| scenarios::host_name(wheel[i % wheel.len()], first + i))
        .collect()
}

/// Parses `relative=45,ico-only=20`.
pub fn parse_mix(text: &str) -> anyhow::Result<Vec<(&'static str, usize)>> {
    text.split(',')
        .map(|part| {
            let (name, share) = part.split_once('=').context("expected scenario=share")?;
            let scenario = test_support::farm::SCENARIOS
                .iter()
                .find(|s| **s == name)
                .with_context(|| format!("unknown scenario {name}"))?;
            Ok((*scenario, share.parse()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_world_mix_sums_to_one_thousand_and_names_known_scenarios() {
        let total: usize = REAL_WORLD_MIX.iter().map(|(_, weight)| weight).sum();
        assert_eq!(total, 1000);
        for (scenario, _) in REAL_WORLD_MIX {
            assert!(
                test_support::farm::SCENARIOS.contains(scenario),
                "{scenario}"
            );
        }
        let mix = mix("real-world").unwrap();
        let names = domains(2000, &mix, 0, 1);
        let dead = names.iter().filter(|n| n.ends_with(".nx.test")).count();
        assert_eq!(dead, 160);
        assert_eq!(names, domains(2000, &mix, 0, 1));
        assert_eq!(
            domains(3, &super::mix("classic").unwrap(), 5, 1)[0],
            "relative-5.test"
        );
    }
}
