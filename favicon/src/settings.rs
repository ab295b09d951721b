//! What a [`Resolver`](crate::Resolver) is built from. The library reads no environment:
//! the documented variables below are read by `common::config` for the worker and
//! `worker resolve`, and tests and benchmarks build these settings directly.

use std::time::Duration;

/// Favicon fetching settings.
#[derive(Debug, Clone)]
pub struct ResolverSettings {
    /// `RESOLVER_TIMEOUT_SECS` (default 10): the whole budget of one domain, retries included.
    pub domain_timeout: Duration,
    /// `RESOLVER_CONNECT_TIMEOUT_SECS` (default 3): the most one connection may take to open,
    /// name lookup, TCP and TLS handshake together (reqwest wraps its connector in it), applied
    /// to each new connection: not to the wait for a pooled one, nor to the per-host wait. Lower than the deadline so that a host that
    /// accepts and never finishes its handshake frees its per-host slot and leaves the domain
    /// time for `http://` and `www.`; 3 s still covers a handshake over three
    /// intercontinental round trips with a lost SYN retransmitted once (1 s).
    pub connect_timeout: Duration,
    /// `RESOLVER_MAX_TRIES` (default 2): tries per domain on transient errors.
    pub max_tries: u32,
    /// `RESOLVER_USER_AGENT`.
    pub user_agent: String,
    /// `RESOLVER_MAX_HTML_BYTES` (default 512 KiB): most of a home page read (after
    /// decompression); reading stops earlier after `</head>` when icons were found.
    pub max_html_bytes: usize,
    /// `RESOLVER_MAX_ICON_BYTES` (default 1 MiB): a larger icon (after decompression) fails
    /// with `too_large`.
    pub max_icon_bytes: usize,
    /// `RESOLVER_PREFERRED_SIZE` (default 32): the best icon is the largest square raster at
    /// least this wide. When the best icon found is smaller, `/apple-touch-icon.png` and
    /// `/apple-touch-icon-precomposed.png` are tried too (many sites serve one unlinked).
    pub preferred_size: u32,
    /// `RESOLVER_MAX_KEPT_IMAGES` (default 6): most verified images whose bytes an icon keeps
    /// ([`Icon::images`](crate::Icon::images)), the chosen one included; at least 1.
    pub max_kept_images: usize,
    /// `RESOLVER_MAX_KEPT_IMAGE_BYTES` (default 1 MiB): most bytes of those images together.
    /// The chosen icon is always kept, even when it alone is larger (up to `max_icon_bytes`);
    /// other images are kept only while they fit.
    pub max_kept_image_bytes: usize,
    /// `RESOLVER_PREFER_SVG` (default false): an SVG icon wins over any raster.
    pub prefer_svg: bool,
    /// `RESOLVER_PER_HOST_CONCURRENCY` (default 4): requests to one host at once for home
    /// pages (the pages a site renders for each request).
    pub per_host_concurrency: usize,
    /// `RESOLVER_STATIC_HOST_CONCURRENCY` (default 16): requests to one host at once for
    /// static files (icons, manifests), counted apart from home pages. Hosts asked for files
    /// only are CDNs or shared asset hosts, built for many requests at once; one host serving
    /// the icons of many sites would otherwise be the bottleneck of a whole list.
    pub static_host_concurrency: usize,
    /// `RESOLVER_MAX_HOST_WAIT_SECS` (default 30; 0: the wait counts against the deadline):
    /// the time a domain's requests spend waiting for a per-host slot (see the two settings
    /// above) pushes its deadline back, by this much at most. Politeness towards a busy
    /// shared host then slows its domains down without failing them.
    pub max_host_wait: Duration,
    /// `RESOLVER_DNS_TIMEOUT_MS` (default 1000): the wait for one DNS answer, per attempt.
    /// The lookup runs inside the connect timeout (reqwest's connector resolves, then connects):
    /// with the defaults, 2 attempts of 1 s end before the 3 s connect timeout, so a silent DNS
    /// server fails with `dns`, not `timeout`.
    pub dns_timeout: Duration,
    /// `RESOLVER_DNS_ATTEMPTS` (default 2): DNS queries sent for one name before it fails
    /// (temporarily) with `dns`.
    pub dns_attempts: usize,
    /// `RESOLVER_DNS_CACHE_SIZE` (default 4096): DNS answers kept (negative ones included),
    /// each for its TTL.
    pub dns_cache_size: usize,
    /// `RESOLVER_DNS_SERVERS` (`IP:PORT,IP:PORT`, empty by default: the system's
    /// `/etc/resolv.conf`): the DNS servers asked, over UDP (TCP for truncated answers).
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// `RESOLVER_MAX_REDIRECTS` (default 10): redirects followed per request.
    pub max_redirects: usize,
    /// `RESOLVER_CACHE_TTL_SECS` (default 86400; 0 disables): a domain whose icon was found
    /// this recently is answered from the database without fetching again.
    pub cache_ttl: Duration,
    /// `RESOLVER_CACHE_NXDOMAIN_TTL_SECS` (default 3600; 0 disables): the same for a name that
    /// does not exist (NXDOMAIN). Temporary DNS failures are never cached.
    pub cache_nxdomain_ttl: Duration,
    /// `RESOLVER_CACHE_FAILURE_TTL_SECS` (default 21600; 0 disables): the same for a site's
    /// definite answer without an icon (an error status that is not temporary, no image, no
    /// icon, too large). Time-outs, connection and TLS failures and blocks are never cached.
    pub cache_failure_ttl: Duration,
    /// `RESOLVER_CONNECT_TO` (`ADDR:PORT`, unset by default): every connection goes there,
    /// keeping the host name for SNI and `Host` (like curl's `--connect-to`). Applied after the
    /// address check; names not in `dns_override` are not looked up at all. For tests and
    /// benchmarks against local servers.
    pub connect_to: Option<std::net::SocketAddr>,
    /// `RESOLVER_DNS_OVERRIDE` (`name=IP,name=IP`, empty by default): answers used instead of
    /// DNS for these names (like curl's `--resolve`), checked like real answers. For tests.
    pub dns_override: Vec<(String, std::net::IpAddr)>,
    /// The `name=NXDOMAIN` entries of `RESOLVER_DNS_OVERRIDE`: names the resolver treats as
    /// non-existent, failing like DNS does for them, without a query. An entry is a name, or
    /// `*.suffix` for every name under `suffix`, so that one entry covers a benchmark's dead
    /// names. For tests and benchmarks.
    pub dns_nxdomain: Vec<String>,
    /// `RESOLVER_CA_CERT` (a PEM file, unset by default): an extra trusted root certificate,
    /// for test servers.
    pub ca_cert: Option<std::path::PathBuf>,
    /// `RESOLVER_ALLOW_PRIVATE` (default false): allow loopback and private addresses.
    pub allow_private: bool,
}

impl Default for ResolverSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            domain_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_tries: 2,
            user_agent: "favicon-pipeline/0.1 (+https://github.com/favicon-pipeline)".to_owned(),
            max_html_bytes: 512 * 1024,
            max_icon_bytes: 1024 * 1024,
            preferred_size: 32,
            max_kept_images: 6,
            max_kept_image_bytes: 1024 * 1024,
            prefer_svg: false,
            per_host_concurrency: 4,
            static_host_concurrency: 16,
            max_host_wait: Duration::from_secs(30),
            dns_timeout: Duration::from_millis(1000),
            dns_attempts: 2,
            dns_cache_size: 4096,
            dns_servers: Vec::new(),
            max_redirects: 10,
            cache_ttl: Duration::from_secs(86_400),
            cache_nxdomain_ttl: Duration::from_secs(3_600),
            cache_failure_ttl: Duration::from_secs(21_600),
            connect_to: None,
            dns_override: Vec::new(),
            dns_nxdomain: Vec::new(),
            ca_cert: None,
            allow_private: false,
        }
    }
}

/// What `RESOLVER_DNS_OVERRIDE` holds: addresses for some names, and names that do not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsOverrides {
    /// `name=IP` entries, in order (a name may have several addresses).
    pub addresses: Vec<(String, std::net::IpAddr)>,
    /// `name=NXDOMAIN` entries: a name, or `*.suffix` for every name under `suffix`.
    pub nxdomain: Vec<String>,
}

/// Why a `RESOLVER_DNS_OVERRIDE` value cannot be used: which entry, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidDnsOverride(String);

/// Parses `name=IP,name=NXDOMAIN,*.suffix=NXDOMAIN` (names lower-cased, a trailing dot
/// removed; `NXDOMAIN` in any case). A `*.` pattern may only say `NXDOMAIN`.
pub fn parse_dns_override(value: &str) -> Result<DnsOverrides, InvalidDnsOverride> {
    let mut overrides = DnsOverrides::default();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, answer) = entry.split_once('=').ok_or_else(|| {
            InvalidDnsOverride(format!("{entry:?} is not name=IP or name=NXDOMAIN"))
        })?;
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let pattern = name.strip_prefix("*.");
        let bare = pattern.unwrap_or(&name);
        if bare.is_empty() || bare.starts_with('.') || bare.contains('*') {
            return Err(InvalidDnsOverride(format!("{entry:?} has no valid name")));
        }
        let answer = answer.trim();
        if answer.eq_ignore_ascii_case("nxdomain") {
            overrides.nxdomain.push(name);
        } else if pattern.is_some() {
            return Err(InvalidDnsOverride(format!(
                "{entry:?}: a *. pattern can only say NXDOMAIN"
            )));
        } else {
            let ip = answer.parse().map_err(|e| {
                InvalidDnsOverride(format!("{entry:?} has an invalid address: {e}"))
            })?;
            overrides.addresses.push((name, ip));
        }
    }
    Ok(overrides)
}
