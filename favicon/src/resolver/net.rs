//! Where the resolver may connect: guarded name resolution, the public-address test, checks of
//! IP-literal URLs, and the operator's `connect_to` transport redirect.
//!
//! The check always applies to the address a name resolves to (real DNS or the
//! `dns_override` map) and to IP literals, before any connection, on the first request and
//! after every redirect. `connect_to` is applied after the check: the name is checked, then the
//! connection goes to `connect_to`, keeping the name for SNI and `Host`.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::ResolverSettings;

/// Names under this suffix stand for IP-literal URLs sent to `connect_to` (reqwest connects
/// to IP literals itself, without asking the resolver). They end in `.invalid`, so they can
/// never be real names.
const CONNECT_TO_SUFFIX: &str = ".ip.connect-to.invalid";

/// An address the resolver may not connect to.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a public address")]
pub(crate) struct BlockedAddress(pub(crate) String);

/// A name that could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {name}: {reason}")]
pub(crate) struct DnsError {
    name: String,
    reason: String,
    no_such_name: bool,
}

impl DnsError {
    /// `name` does not exist (NXDOMAIN).
    #[cfg(test)]
    fn no_such_name(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            reason: "no such name".to_owned(),
            no_such_name: true,
        }
    }

    /// A failed system lookup of `name`, told apart by getaddrinfo's message (see
    /// [`NO_SUCH_NAME_MESSAGES`]).
    fn from_lookup(name: &str, error: &std::io::Error) -> Self {
        let reason = error.to_string();
        Self {
            name: name.to_owned(),
            no_such_name: NO_SUCH_NAME_MESSAGES
                .iter()
                .any(|message| reason.contains(message)),
            reason,
        }
    }

    /// The name does not exist or has no address (NXDOMAIN, NODATA): its own answer, as
    /// lasting as an HTTP 404. False for a failure that may pass (SERVFAIL, no answer in time,
    /// a resolver that cannot be reached).
    pub(crate) fn is_no_such_name(&self) -> bool {
        self.no_such_name
    }
}

/// How getaddrinfo words "no such name" (EAI_NONAME) and "no address" (EAI_NODATA) in glibc,
/// musl and the BSDs. std keeps only its message (`gai_strerror`), not the code, and a Rust
/// program never calls `setlocale`, so these are the C locale's words. Everything else,
/// EAI_AGAIN (SERVFAIL, a time-out) and EAI_FAIL among it, is taken as temporary.
const NO_SUCH_NAME_MESSAGES: [&str; 5] = [
    "Name or service not known",
    "No address associated with hostname",
    "Name does not resolve",
    "nodename nor servname provided, or not known",
    "No address associated with nodename",
];

/// Where connections go, and what may be connected to.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    overrides: HashMap<String, Vec<IpAddr>>,
    nxdomain: Vec<String>,
    connect_to: Option<SocketAddr>,
    allow_private: bool,
}

impl Network {
    /// From the resolver settings.
    pub(crate) fn new(settings: &ResolverSettings) -> Self {
        let mut overrides: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in &settings.dns_override {
            overrides.entry(name.clone()).or_default().push(*ip);
        }
        Self {
            overrides,
            nxdomain: settings.dns_nxdomain.clone(),
            connect_to: settings.connect_to,
            allow_private: settings.allow_private,
        }
    }

    /// Refuses a URL whose host is a non-public IP literal (names are checked when resolved).
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), BlockedAddress> {
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        self.check_ip(ip, url.as_str())
    }

    fn check_ip(&self, ip: IpAddr, what: &str) -> Result<(), BlockedAddress> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(BlockedAddress(format!("{what} ({ip})")))
        }
    }

    /// The URL to hand to the HTTP client, and the `Host` header to send with it when that is
    /// not the URL's own: with `connect_to`, an IP-literal URL is rewritten to a reserved name
    /// that the resolver maps to `connect_to` (checked by [`Self::check_url`] beforehand).
    pub(crate) fn transport_url(&self, url: &Url) -> (Url, Option<String>) {
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => ip.to_string().replace('.', "-"),
            Some(Host::Ipv6(ip)) => ip.segments().map(|s| format!("{s:x}")).join("-"),
            _ => return (url.clone(), None),
        };
        if self.connect_to.is_none() {
            return (url.clone(), None);
        }
        let mut rewritten = url.clone();
        let host_header = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        match rewritten.set_host(Some(&format!("{literal}{CONNECT_TO_SUFFIX}"))) {
            Ok(()) => (rewritten, Some(host_header)),
            Err(_) => (url.clone(), None),
        }
    }

    /// The addresses to connect to for `name`, after the check.
    async fn lookup(
        &self,
        name: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(connect_to) = self.connect_to
            && name.ends_with(CONNECT_TO_SUFFIX)
        {
            return Ok(vec![connect_to]);
        }
        if let Some(error) = self.overridden_nxdomain(&name) {
            return Err(Box::new(error));
        }
        let ips: Vec<IpAddr> = match (self.overrides.get(&name), self.connect_to) {
            (Some(ips), _) => ips.clone(),
            // With connect_to, nothing may leave the machine: no DNS query at all.
            (None, Some(connect_to)) => return Ok(vec![connect_to]),
            (None, None) => tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|error| DnsError::from_lookup(&name, &error))?
                .map(|address| address.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(Box::new(DnsError {
                name,
                reason: "no addresses".to_owned(),
                no_such_name: true,
            }));
        }
        let allowed: Vec<IpAddr> = ips
            .iter()
            .copied()
            .filter(|ip| self.check_ip(*ip, &name).is_ok())
            .collect();
        if allowed.is_empty() {
            let listed: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
            return Err(Box::new(BlockedAddress(format!(
                "{name} ({})",
                listed.join(", ")
            ))));
        }
        Ok(match self.connect_to {
            Some(connect_to) => vec![connect_to],
            None => allowed
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect(),
        })
    }
}

impl Network {
    /// The failure DNS gives for a name that does not exist, when a `dns_override`
    /// `NXDOMAIN` entry covers `name` (the name itself, or `*.suffix` for names under it).
    fn overridden_nxdomain(&self, name: &str) -> Option<DnsError> {
        let listed = self
            .nxdomain
            .iter()
            .any(|entry| match entry.strip_prefix("*.") {
                Some(suffix) => name
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                None => entry == name,
            });
        listed.then(|| DnsError {
            name: name.to_owned(),
            reason: "failed to lookup address information: Name or service not known \
                     (NXDOMAIN from RESOLVER_DNS_OVERRIDE)"
                .to_owned(),
            no_such_name: true,
        })
    }
}

/// Name resolution for the HTTP client, through [`Network`].
#[derive(Debug)]
pub(crate) struct GuardedDns(pub(crate) Network);

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let network = self.0.clone();
        Box::pin(async move {
            let addresses = network.lookup(name.as_str()).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// True for addresses on the public internet: not loopback, private, link-local (cloud
/// metadata), CGNAT, multicast, unspecified, documentation, benchmarking or reserved, in IPv4,
/// IPv6 or IPv6 forms embedding IPv4 (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
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
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return embedded(segments[6], segments[7]);
            }
            if segments[0] == 0x2002 {
                return embedded(segments[1], segments[2]);
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || segments[..6] == [0; 6] // IPv4-compatible (deprecated)
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || segments[..4] == [0x100, 0, 0, 0] // discard-only
                || (first == 0x2001 && segments[1] == 0xdb8))
        }
    }
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
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(blocked.parse().unwrap()), "{blocked}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    fn network(allow_private: bool, connect_to: Option<&str>) -> Network {
        Network::new(&ResolverSettings {
            allow_private,
            connect_to: connect_to.map(|a| a.parse().unwrap()),
            dns_override: vec![
                ("loopback.test".to_owned(), "127.0.0.1".parse().unwrap()),
                ("mixed.test".to_owned(), "10.0.0.1".parse().unwrap()),
                ("mixed.test".to_owned(), "93.184.216.34".parse().unwrap()),
            ],
            ..ResolverSettings::default()
        })
    }

    #[tokio::test]
    async fn overrides_are_checked_like_dns_and_connect_to_comes_after() {
        let guarded = network(false, Some("127.0.0.1:8443"));
        let error = guarded.lookup("loopback.test").await.unwrap_err();
        assert!(error.downcast_ref::<BlockedAddress>().is_some(), "{error}");
        let farm: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(guarded.lookup("Mixed.Test.").await.unwrap(), vec![farm]);
        assert_eq!(guarded.lookup("anything.test").await.unwrap(), vec![farm]);

        let direct = network(false, None);
        assert_eq!(
            direct.lookup("mixed.test").await.unwrap(),
            vec!["93.184.216.34:0".parse::<SocketAddr>().unwrap()]
        );
        let allowed = network(true, Some("127.0.0.1:8443"));
        assert_eq!(allowed.lookup("loopback.test").await.unwrap(), vec![farm]);
    }

    #[tokio::test]
    async fn nxdomain_overrides_fail_like_a_name_that_does_not_exist() {
        for connect_to in [Some("127.0.0.1:8443"), None] {
            let network = Network::new(&ResolverSettings {
                connect_to: connect_to.map(|a| a.parse().unwrap()),
                dns_nxdomain: vec!["gone.test".to_owned(), "*.nx.test".to_owned()],
                ..ResolverSettings::default()
            });
            for dead in ["gone.test", "a.nx.test", "www.b-1.NX.test."] {
                let error = network.lookup(dead).await.unwrap_err();
                assert!(
                    error.downcast_ref::<DnsError>().is_some(),
                    "{dead}: {error}"
                );
            }
            if connect_to.is_some() {
                for alive in ["nx.test", "anx.test", "www.gone.test"] {
                    assert!(network.lookup(alive).await.is_ok(), "{alive}");
                }
            }
        }
    }

    #[test]
    fn a_name_that_does_not_exist_is_told_from_a_failure_that_may_pass() {
        let lookup = |message: &str| {
            DnsError::from_lookup(
                "x.example",
                &std::io::Error::other(format!("failed to lookup address information: {message}")),
            )
        };
        for gone in [
            "Name or service not known",
            "No address associated with hostname",
            "Name does not resolve",
            "nodename nor servname provided, or not known",
        ] {
            assert!(lookup(gone).is_no_such_name(), "{gone}");
        }
        for passing in [
            "Temporary failure in name resolution",
            "Try again",
            "Non-recoverable failure in name resolution",
            "System error",
        ] {
            assert!(!lookup(passing).is_no_such_name(), "{passing}");
        }
        assert!(DnsError::no_such_name("x.example").is_no_such_name());
    }

    #[test]
    fn ip_literals_are_checked_and_sent_to_connect_to_under_a_reserved_name() {
        let metadata = Url::parse("http://169.254.169.254/latest/meta-data/").unwrap();
        assert!(network(false, None).check_url(&metadata).is_err());
        assert!(network(true, None).check_url(&metadata).is_ok());
        let public = Url::parse("http://93.184.216.34/").unwrap();
        assert!(network(false, None).check_url(&public).is_ok());
        assert!(
            network(false, None)
                .check_url(&Url::parse("http://[::1]:8080/").unwrap())
                .is_err()
        );

        let (url, host) = network(true, Some("127.0.0.1:1")).transport_url(&metadata);
        assert_eq!(
            url.as_str(),
            "http://169-254-169-254.ip.connect-to.invalid/latest/meta-data/"
        );
        assert_eq!(host.as_deref(), Some("169.254.169.254"));
        let (url, host) = network(true, None).transport_url(&metadata);
        assert_eq!((url, host), (metadata, None));
    }
}
