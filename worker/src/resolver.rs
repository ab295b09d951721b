//! A basic favicon resolver: `/favicon.ico` over https, then http, with per-domain retries.
//!
//! Every connection can be sent to one fixed address (`RESOLVER_CONNECT_TO`), keeping the host
//! name for SNI and `Host`, so tests and benchmarks use local servers only.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use common::config::ResolverSettings;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::Domain;

/// Largest icon read, in bytes.
const MAX_ICON_BYTES: usize = 1024 * 1024;

/// What resolving one domain gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The favicon's URL, or why there is none (`category: detail`).
    pub outcome: Result<String, String>,
    /// Attempts made.
    pub tries: u32,
}

/// Why one attempt failed, and whether another attempt may help.
#[derive(Debug)]
struct AttemptError {
    message: String,
    transient: bool,
}

/// Finds favicons. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Resolver {
    client: reqwest::Client,
    settings: ResolverSettings,
}

/// Sends every name to one address.
#[derive(Debug)]
struct ConnectTo(SocketAddr);

impl Resolve for ConnectTo {
    fn resolve(&self, _name: Name) -> Resolving {
        let address = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(address)) as Addrs) })
    }
}

impl Resolver {
    /// Builds the HTTP client from the settings.
    pub fn new(settings: &ResolverSettings) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(&settings.user_agent)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.domain_timeout)
            .redirect(reqwest::redirect::Policy::limited(10));
        if let Some(address) = settings.connect_to {
            builder = builder.dns_resolver(Arc::new(ConnectTo(address)));
        }
        Ok(Self {
            client: builder.build()?,
            settings: settings.clone(),
        })
    }

    /// Resolves `domain`, retrying transient failures with backoff.
    pub async fn resolve(&self, domain: &Domain) -> Resolution {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.attempt(domain).await {
                Ok(url) => {
                    return Resolution {
                        outcome: Ok(url),
                        tries,
                    };
                }
                Err(error) if error.transient && tries < self.settings.max_tries => {
                    tokio::time::sleep(Duration::from_millis(200 * 2_u64.pow(tries - 1))).await;
                }
                Err(error) => {
                    return Resolution {
                        outcome: Err(error.message),
                        tries,
                    };
                }
            }
        }
    }

    async fn attempt(&self, domain: &Domain) -> Result<String, AttemptError> {
        let mut last = None;
        for scheme in ["https", "http"] {
            let url = format!("{scheme}://{domain}/favicon.ico");
            match self.fetch_icon(&url).await {
                Ok(found) => return Ok(found),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or(AttemptError {
            message: "no_icon: nothing tried".into(),
            transient: false,
        }))
    }

    async fn fetch_icon(&self, url: &str) -> Result<String, AttemptError> {
        let mut response = self.client.get(url).send().await.map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(AttemptError {
                message: format!("http_status: {status} for {url}"),
                transient: status.is_server_error() || status.as_u16() == 429,
            });
        }
        let final_url = response.url().to_string();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ICON_BYTES {
                return Err(AttemptError {
                    message: format!("too_large: {url}"),
                    transient: false,
                });
            }
        }
        if looks_like_image(&body) {
            Ok(final_url)
        } else {
            Err(AttemptError {
                message: format!("not_image: {url}"),
                transient: false,
            })
        }
    }
}

fn classify(error: reqwest::Error) -> AttemptError {
    let category = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "http_status"
    } else {
        "connect"
    };
    AttemptError {
        message: format!("{category}: {error}"),
        transient: error.is_timeout() || error.is_connect(),
    }
}

/// ICO, PNG, GIF, JPEG, WebP, BMP or SVG, by magic bytes.
pub fn looks_like_image(bytes: &[u8]) -> bool {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x00\x00\x01\x00")
        || starts(b"\x89PNG\r\n\x1a\n")
        || starts(b"GIF87a")
        || starts(b"GIF89a")
        || starts(b"\xFF\xD8\xFF")
        || starts(b"BM")
        || (starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"))
    {
        return true;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    head.contains("<svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_magic_bytes() {
        assert!(looks_like_image(b"\x00\x00\x01\x00\x01\x00"));
        assert!(looks_like_image(b"\x89PNG\r\n\x1a\nrest"));
        assert!(looks_like_image(
            b"<?xml version=\"1.0\"?><svg xmlns=\"\"/>"
        ));
        assert!(looks_like_image(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(!looks_like_image(b"<!doctype html><html>not found</html>"));
        assert!(!looks_like_image(b""));
    }
}
