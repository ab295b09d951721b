//! The web farm as a child process (so its CPU is not counted as the resolver's), and the
//! domain names a benchmark sends to it.

use std::{net::SocketAddr, path::PathBuf, process::Stdio, time::Duration};

use anyhow::Context as _;
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
    pub async fn start(latency: Duration) -> anyhow::Result<Self> {
        let mut child = Command::new(sibling("web-farm")?)
            .arg("--latency-ms")
            .arg(latency.as_millis().to_string())
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

    /// Requests the farm has served so far.
    pub async fn requests(&self) -> anyhow::Result<u64> {
        let mut control = self.control.lock().await;
        let (stdin, lines) = &mut *control;
        stdin.write_all(b"requests\n").await?;
        stdin.flush().await?;
        let line = lines.next_line().await?.context("web-farm stopped")?;
        Ok(line.trim().parse()?)
    }
}

/// A binary built beside this one (`target/release/NAME`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.parent().context("executable directory")?.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build --release --workspace --bins` (scripts/bench does)",
        path.display()
    );
    Ok(path)
}

/// The benchmark mix: scenario and share (in 1/100). Icon links, manifests, `/favicon.ico`
/// only, redirect loops and 404s, in proportions like a real top-sites list.
pub const DEFAULT_MIX: &[(&str, usize)] = &[
    ("relative", 45),
    ("absolute", 10),
    ("manifest-only", 10),
    ("ico-only", 20),
    ("loop", 5),
    ("nothing", 10),
];

/// `count` distinct domains, cycling through `mix` by share, numbered from `first` (so runs
/// against one farm can use distinct names).
pub fn domains(count: usize, mix: &[(&str, usize)], first: usize) -> Vec<String> {
    let wheel: Vec<&str> = mix
        .iter()
        .flat_map(|(scenario, share)| std::iter::repeat_n(*scenario, *share))
        .collect();
    (0..count)
        .map(|i| format!("{}-{}.test", wheel[i % wheel.len()], first + i))
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
