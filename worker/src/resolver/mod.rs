//! A basic favicon resolver: `/favicon.ico` over https, then http, with per-domain retries.
//!
//! Every connection can be sent to one fixed address (`RESOLVER_CONNECT_TO`), keeping the host
//! name for SNI and `Host`, so tests and benchmarks use local servers only.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

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

/// Name resolution that refuses non-public addresses (unless allowed), so a domain cannot
/// point the resolver at loopback, private networks or cloud metadata. With `connect_to`,
/// every name goes to that one address (tests and benchmarks).
#[derive(Debug)]
struct GuardedDns {
    connect_to: Option<SocketAddr>,
    allow_private: bool,
}

/// A name that resolves only to addresses the resolver may not connect to.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
pub struct BlockedAddress(String);

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let (connect_to, allow_private) = (self.connect_to, self.allow_private);
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = match connect_to {
                Some(address) => vec![address],
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let allowed: Vec<SocketAddr> = addresses
                .into_iter()
                .filter(|address| allow_private || is_public(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(BlockedAddress(name.as_str().to_owned())) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// True for addresses on the public internet: not loopback, private, link-local (cloud
/// metadata), CGNAT, multicast, unspecified, documentation or reserved, in IPv4, IPv6 or
/// IPv4-mapped IPv6 form.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && v4.octets()[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0xdb8)
        }
    }
}

impl Resolver {
    /// Builds the HTTP client from the settings.
    pub fn new(settings: &ResolverSettings) -> Result<Self, reqwest::Error> {
        let builder = reqwest::Client::builder()
            .user_agent(&settings.user_agent)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.domain_timeout)
            .redirect(redirect_policy(settings.allow_private))
            .dns_resolver(Arc::new(GuardedDns {
                connect_to: settings.connect_to,
                allow_private: settings.allow_private,
            }));
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

/// At most 10 redirects, and none to a non-public IP literal (names are checked when they
/// are resolved).
fn redirect_policy(allow_private: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let blocked = attempt.url().host().is_some_and(|host| match host {
            url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
            url::Host::Domain(_) => false,
        });
        if blocked && !allow_private {
            let target = attempt.url().to_string();
            attempt.error(BlockedAddress(target))
        } else if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

fn classify(error: reqwest::Error) -> AttemptError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if current.downcast_ref::<BlockedAddress>().is_some() {
            return AttemptError {
                message: format!("blocked: {current}"),
                transient: false,
            };
        }
        source = current.source();
    }
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
    fn only_public_addresses_are_allowed() {
        for blocked in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "ff02::1",
        ] {
            assert!(!is_public(blocked.parse().unwrap()), "{blocked}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

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
