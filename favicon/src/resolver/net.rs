//! Where the resolver may connect: guarded name resolution, the public-address test, checks of
//! IP-literal URLs, and the operator's `connect_to` transport redirect.
//!
//! The check always applies to the address a name resolves to (real DNS or the
//! `dns_override` map) and to IP literals, before any connection, on the first request and
//! after every redirect. `connect_to` is applied after the check: the name is checked, then the
//! connection goes to `connect_to`, keeping the name for SNI and `Host`.
//!
//! Real names are looked up by hickory-resolver on the runtime itself (no getaddrinfo on
//! blocking threads), with its own time-out and attempts, a bounded cache and the system's
//! or configured servers ([`Dns`]).

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, SocketAddr},
};

use hickory_resolver::{
    TokioResolver,
    config::{NameServerConfig, ResolveHosts, ResolverConfig},
    net::{DnsError as DnsAnswer, NetError, runtime::TokioRuntimeProvider},
    proto::rr::RData,
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

/// A name that could not be resolved: `b.invalid: no such name (NXDOMAIN)`.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub(crate) struct DnsError {
    name: String,
    reason: String,
    no_such_name: bool,
    /// NXDOMAIN itself (not NODATA): no name under this one exists either (RFC 8020).
    nx_domain: bool,
}

impl DnsError {
    /// A failed lookup of `name`: NXDOMAIN and NODATA ("no records found") are the name's
    /// own answer; SERVFAIL, REFUSED, a time-out or an unreachable server may pass.
    fn from_lookup(name: &str, error: &NetError) -> Self {
        Self {
            name: name.to_owned(),
            reason: lookup_failure_reason(error),
            no_such_name: error.is_no_records_found(),
            nx_domain: error.is_nx_domain(),
        }
    }

    /// The name does not exist or has no address (NXDOMAIN, NODATA): its own answer, as
    /// lasting as an HTTP 404. False for a failure that may pass (SERVFAIL, no answer in time,
    /// a resolver that cannot be reached).
    pub(crate) fn is_no_such_name(&self) -> bool {
        self.no_such_name
    }

    /// NXDOMAIN itself: no name under this one exists either (RFC 8020). False for NODATA (a
    /// name without an address, whose `www.` may well have one).
    pub(crate) fn is_nx_domain(&self) -> bool {
        self.nx_domain
    }
}

/// What a failed lookup means, in words: `no such name (NXDOMAIN)`, `no address records`,
/// `server failure (SERVFAIL)`, rather than hickory's text, which shows its query in Debug
/// form (`no records found for Query { name: Name("b.invalid.") … }`).
fn lookup_failure_reason(error: &NetError) -> String {
    if error.is_nx_domain() {
        return "no such name (NXDOMAIN)".to_owned();
    }
    if error.is_no_records_found() {
        return "no address records".to_owned();
    }
    match error {
        NetError::Dns(DnsAnswer::ResponseCode(code)) => format!(
            "{} ({})",
            code.to_str().to_ascii_lowercase(),
            format!("{code:?}").to_ascii_uppercase()
        ),
        NetError::Timeout => "no answer from the DNS servers in time".to_owned(),
        NetError::NoConnections => "no DNS server could be reached".to_owned(),
        NetError::Io(io) => format!("DNS servers unreachable: {io}"),
        other => other.to_string(),
    }
}

/// Why the DNS client cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up DNS: {0}")]
pub struct DnsSetupError(#[from] NetError);

/// The asynchronous DNS client: hickory-resolver with the settings' time-out, attempts, cache
/// size and servers (`/etc/resolv.conf` when none are given). Queries are sent for the name as
/// fully qualified (no search domains), and the hosts file is not read. A is asked first and
/// AAAA only when the name has no A (NODATA): one query for nearly every name, dead ones
/// included, and no IPv6 address tried first on a machine that may have no IPv6 route.
#[derive(Clone)]
pub(crate) struct Dns(TokioResolver);

impl fmt::Debug for Dns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dns").finish_non_exhaustive()
    }
}

impl Dns {
    pub(crate) fn new(settings: &ResolverSettings) -> Result<Self, DnsSetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if settings.dns_servers.is_empty() {
            TokioResolver::builder(provider)?
        } else {
            let servers = settings
                .dns_servers
                .iter()
                .map(|server| {
                    let mut config = NameServerConfig::udp_and_tcp(server.ip());
                    for connection in &mut config.connections {
                        connection.port = server.port();
                    }
                    config
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let options = builder.options_mut();
        options.timeout = settings.dns_timeout;
        options.attempts = settings.dns_attempts.max(1);
        options.cache_size = u64::try_from(settings.dns_cache_size).unwrap_or(u64::MAX);
        options.use_hosts_file = ResolveHosts::Never;
        options.ndots = 0;
        Ok(Self(builder.build()?))
    }

    /// The addresses of `name` (lower case, without a trailing dot): its A records, or its
    /// AAAA records when it has no A. NXDOMAIN to the A query ends the lookup (the name does
    /// not exist, for any type), so a dead name costs one query.
    async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let fqdn = format!("{name}.");
        let failed = |error: NetError| DnsError::from_lookup(name, &error);
        let answer = match self.0.ipv4_lookup(fqdn.as_str()).await {
            Ok(answer) => answer,
            Err(error) if error.is_no_records_found() && !error.is_nx_domain() => {
                self.0.ipv6_lookup(fqdn.as_str()).await.map_err(failed)?
            }
            Err(error) => return Err(failed(error)),
        };
        Ok(answer
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect())
    }
}

/// Where connections go, and what may be connected to.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    overrides: HashMap<String, Vec<IpAddr>>,
    nxdomain: Vec<String>,
    connect_to: Option<SocketAddr>,
    allow_private: bool,
    /// None with `connect_to`: then nothing is looked up.
    dns: Option<Dns>,
}

impl Network {
    /// From the resolver settings.
    pub(crate) fn new(settings: &ResolverSettings) -> Result<Self, DnsSetupError> {
        let mut overrides: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in &settings.dns_override {
            overrides.entry(name.clone()).or_default().push(*ip);
        }
        let dns = match settings.connect_to {
            Some(_) => None,
            None => Some(Dns::new(settings)?),
        };
        Ok(Self {
            overrides,
            nxdomain: settings.dns_nxdomain.clone(),
            connect_to: settings.connect_to,
            allow_private: settings.allow_private,
            dns,
        })
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
        let ips: Vec<IpAddr> = match (self.overrides.get(&name), self.connect_to, &self.dns) {
            (Some(ips), _, _) => ips.clone(),
            // With connect_to, nothing may leave the machine: no DNS query at all.
            (None, Some(connect_to), _) => return Ok(vec![connect_to]),
            (None, None, Some(dns)) => dns.lookup(&name).await?,
            (None, None, None) => {
                return Err(Box::new(DnsError {
                    name,
                    reason: "no DNS client".to_owned(),
                    no_such_name: false,
                    nx_domain: false,
                }));
            }
        };
        if ips.is_empty() {
            return Err(Box::new(DnsError {
                name,
                reason: "no address records".to_owned(),
                no_such_name: true,
                nx_domain: false,
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
            reason: "no such name (NXDOMAIN, from RESOLVER_DNS_OVERRIDE)".to_owned(),
            no_such_name: true,
            nx_domain: true,
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
            // Never asked: every name below is overridden or sent to connect_to.
            dns_servers: vec!["127.0.0.1:9".parse().unwrap()],
            allow_private,
            connect_to: connect_to.map(|a| a.parse().unwrap()),
            dns_override: vec![
                ("loopback.test".to_owned(), "127.0.0.1".parse().unwrap()),
                ("mixed.test".to_owned(), "10.0.0.1".parse().unwrap()),
                ("mixed.test".to_owned(), "93.184.216.34".parse().unwrap()),
            ],
            ..ResolverSettings::default()
        })
        .expect("a network")
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
                dns_servers: vec!["127.0.0.1:9".parse().unwrap()],
                ..ResolverSettings::default()
            })
            .expect("a network");
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

    /// A network asking only `server`, quickly.
    fn asking(server: &test_support::farm::dns::DnsServer) -> Network {
        Network::new(&ResolverSettings {
            dns_servers: vec![server.addr],
            dns_timeout: std::time::Duration::from_millis(300),
            dns_attempts: 2,
            ..ResolverSettings::default()
        })
        .expect("a network")
    }

    #[tokio::test]
    async fn real_names_are_looked_up_asynchronously_and_checked() {
        use test_support::farm::dns::{DnsAnswer, DnsServer};
        let server = DnsServer::start(&[
            (
                "public.test",
                DnsAnswer::Address("93.184.216.34".parse().unwrap()),
            ),
            (
                "private.test",
                DnsAnswer::Address("10.0.0.1".parse().unwrap()),
            ),
            (
                "v6.test",
                DnsAnswer::Address("2606:4700::1111".parse().unwrap()),
            ),
            ("empty.test", DnsAnswer::NoAddress),
            ("broken.test", DnsAnswer::ServerFailure),
            ("silent.test", DnsAnswer::Silence),
        ])
        .await;
        let network = asking(&server);
        assert_eq!(
            network.lookup("Public.Test.").await.unwrap(),
            vec!["93.184.216.34:0".parse::<SocketAddr>().unwrap()]
        );
        let error = network.lookup("private.test").await.unwrap_err();
        assert!(error.downcast_ref::<BlockedAddress>().is_some(), "{error}");
        let dns_error = |name: &'static str| {
            let network = network.clone();
            async move {
                let error = network.lookup(name).await.unwrap_err();
                let Ok(dns) = error.downcast::<DnsError>() else {
                    panic!("{name}: not a DNS error");
                };
                dns
            }
        };
        // No A: AAAA is asked.
        assert_eq!(
            network.lookup("v6.test").await.unwrap(),
            vec!["[2606:4700::1111]:0".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(server.queries_for("v6.test"), 2);
        let no_address = dns_error("empty.test").await;
        assert!(no_address.is_no_such_name() && !no_address.is_nx_domain());
        assert_eq!(no_address.to_string(), "empty.test: no address records");
        let gone = dns_error("gone.test").await;
        assert!(gone.is_no_such_name() && gone.is_nx_domain());
        assert_eq!(gone.to_string(), "gone.test: no such name (NXDOMAIN)");
        assert_eq!(
            server.queries_for("gone.test"),
            1,
            "NXDOMAIN: no AAAA query"
        );
        let broken = dns_error("broken.test").await;
        assert!(!broken.is_no_such_name());
        assert_eq!(broken.to_string(), "broken.test: server failure (SERVFAIL)");
        // No answer: a temporary failure once the DNS attempts are spent.
        assert!(!dns_error("silent.test").await.is_no_such_name());
        assert!(server.queries_for("silent.test") >= 2);
        // Answers are cached: asked again, the server is not.
        let asked = server.queries_for("public.test");
        network.lookup("public.test").await.unwrap();
        assert_eq!(server.queries_for("public.test"), asked);
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
