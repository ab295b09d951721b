//! `worker resolve`: resolves domains with the pipeline's resolver, without the pipeline, and
//! prints one JSON object per line, in input order.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use common::config::ResolverSettings;
use futures::{StreamExt, stream};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::{
    domain::Domain,
    resolver::{FailureCategory, IconSource, ImageFormat, Resolver},
};

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
    let mut settings = ResolverSettings::from_env().context("invalid configuration")?;
    if args.connect_to.is_some() {
        settings.connect_to = args.connect_to;
    }
    if args.allow_private {
        settings.allow_private = true;
    }
    if args.ca_cert.is_some() {
        settings.ca_cert = args.ca_cert;
    }
    let resolver = Resolver::new(&settings).context("failed to build the resolver")?;
    let entries = if args.domains.is_empty() {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut entries = Vec::new();
        while let Some(line) = lines.next_line().await.context("failed to read stdin")? {
            entries.push(line);
        }
        entries
    } else {
        args.domains
    };
    let mut results = stream::iter(entries.into_iter().filter(|e| !e.trim().is_empty()))
        .map(|entry| resolve_one(&resolver, entry))
        .buffered(usize::from(args.concurrency));
    let mut stdout = tokio::io::stdout();
    while let Some(line) = results.next().await {
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

async fn resolve_one(resolver: &Resolver, entry: String) -> Line {
    let domain = match Domain::parse(&entry) {
        Ok(domain) => domain,
        Err(reason) => {
            return Line {
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
