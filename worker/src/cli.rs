//! `worker resolve`: resolves domains with the pipeline's resolver, without the pipeline, and
//! prints one JSON object per line as each result completes, with the entry's position in the
//! input: a slow domain holds back only its own line.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use favicon::{Domain, FailureCategory, IconSource, ImageFormat, Resolver};
use futures::{StreamExt, future, stream};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// Arguments of `worker resolve`; the other resolver settings come from the environment.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// Send every connection to ADDR:PORT, keeping the host name for SNI and `Host` (like
    /// curl's --connect-to). Names are still checked; for tests and benchmarks.
    #[arg(long, value_name = "ADDR:PORT")]
    pub connect_to: Option<SocketAddr>,
    /// Allow loopback, private and link-local addresses.
    #[arg(long)]
    pub allow_private: bool,
    /// Trust this PEM root certificate too.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Domains resolved at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Domains to resolve; one per line on standard input when none are given.
    #[arg(value_name = "DOMAIN")]
    pub domains: Vec<String>,
}

/// One output line.
#[derive(Debug, Serialize)]
struct Line {
    /// The entry's index in the input, from 0: the argument's, or the stdin line's (blank
    /// lines are counted, and print nothing).
    position: usize,
    /// The normalised domain, or the entry as given when it is not a domain.
    domain: String,
    /// `success` or `failed`.
    status: &'static str,
    favicon_url: Option<String>,
    /// `category: detail`.
    error: Option<String>,
    category: Option<FailureCategory>,
    width: Option<u32>,
    height: Option<u32>,
    format: Option<ImageFormat>,
    bytes: Option<u64>,
    source: Option<IconSource>,
    tries: u32,
}

/// Runs `worker resolve`.
pub async fn resolve(args: ResolveArgs) -> anyhow::Result<()> {
    let mut settings = common::config::resolver::from_env().context("invalid configuration")?;
    if args.connect_to.is_some() {
        settings.connect_to = args.connect_to;
    }
    if args.allow_private {
        settings.allow_private = true;
    }
    if args.ca_cert.is_some() {
        settings.ca_cert = args.ca_cert;
    }
    crate::fd_limit::raise_and_check(usize::from(args.concurrency))?;
    let resolver = Resolver::new(&settings).context("failed to build the resolver")?;
    let entries = if args.domains.is_empty() {
        stdin_lines().boxed()
    } else {
        stream::iter(args.domains.into_iter().map(Ok)).boxed()
    };
    // Results come out as they complete, not in input order: a domain that takes its whole
    // deadline does not hold back the lines of the domains after it.
    let mut results = entries
        .enumerate()
        .filter(|(_, entry)| {
            future::ready(
                entry
                    .as_ref()
                    .map_or(true, |entry| !entry.trim().is_empty()),
            )
        })
        .map(|(position, entry)| {
            let resolver = &resolver;
            async move {
                match entry {
                    Ok(entry) => Ok(resolve_one(resolver, position, entry).await),
                    Err(error) => Err(error),
                }
            }
        })
        .buffer_unordered(usize::from(args.concurrency));
    let mut stdout = tokio::io::stdout();
    while let Some(line) = results.next().await {
        let line = line.context("failed to read stdin")?;
        let mut json = serde_json::to_vec(&line).context("failed to encode a result")?;
        json.push(b'\n');
        stdout
            .write_all(&json)
            .await
            .context("failed to write stdout")?;
    }
    stdout.flush().await.context("failed to write stdout")?;
    Ok(())
}

/// Standard input's lines, read as they are needed.
fn stdin_lines() -> impl futures::Stream<Item = std::io::Result<String>> {
    let lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    stream::unfold(Some(lines), |lines| async move {
        let mut lines = lines?;
        match lines.next_line().await {
            Ok(Some(line)) => Some((Ok(line), Some(lines))),
            Ok(None) => None,
            // Report the error once, then stop.
            Err(error) => Some((Err(error), None)),
        }
    })
}

async fn resolve_one(resolver: &Resolver, position: usize, entry: String) -> Line {
    let domain = match Domain::parse(&entry) {
        Ok(domain) => domain,
        Err(reason) => {
            return Line {
                position,
                domain: entry.trim().to_owned(),
                status: "failed",
                favicon_url: None,
                error: Some(format!("{}: {reason}", FailureCategory::InvalidDomain)),
                category: Some(FailureCategory::InvalidDomain),
                width: None,
                height: None,
                format: None,
                bytes: None,
                source: None,
                tries: 0,
            };
        }
    };
    let resolution = resolver.resolve(&domain).await;
    let (status, icon, failure) = match resolution.outcome {
        Ok(icon) => ("success", Some(icon), None),
        Err(failure) => ("failed", None, Some(failure)),
    };
    Line {
        position,
        domain: domain.to_string(),
        status,
        favicon_url: icon.as_ref().map(|i| i.url.clone()),
        error: failure.as_ref().map(ToString::to_string),
        category: failure.map(|f| f.category),
        width: icon.as_ref().map(|i| i.width),
        height: icon.as_ref().map(|i| i.height),
        format: icon.as_ref().map(|i| i.format),
        bytes: icon.as_ref().map(|i| i.bytes),
        source: icon.map(|i| i.source),
        tries: resolution.tries,
    }
}
