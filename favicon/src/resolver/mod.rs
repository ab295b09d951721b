//! The favicon resolver: finds a domain's best icon, fast and safely.
//!
//! One attempt fetches the home page (https, then http, then the `www.` name when the bare
//! name cannot be reached), collects candidates from `<link rel>`, the web app manifest,
//! `msapplication-TileImage`, fetches them, keeps those whose bytes really are images and
//! picks the best by real dimensions (a dark variant only when there is no light icon).
//! `/favicon.ico` is asked as a browser asks it: when the page declares no icon, or when what
//! it declares gives none; when the best is smaller than the preferred size or only dark, it
//! and the unlinked `/apple-touch-icon[-precomposed].png` are tried too. The bytes verified
//! are kept with the icon ([`kept`]). Every read is bounded, every address is checked
//! ([`net`]), and a per-domain deadline covers the whole resolution, retries included.
//!
//! Files: [`net`] (where connections may go), [`fetch`] (bounded GETs), [`html`] and
//! [`manifest`] (candidates), [`image`] (formats and dimensions), [`kept`] (the images kept).

pub(crate) mod fetch;
pub(crate) mod html;
pub(crate) mod image;
pub(crate) mod kept;
pub(crate) mod manifest;
pub(crate) mod net;

use std::{
    fmt,
    future::Future,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, stream};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use serde::Serialize;
use tokio::time::{Instant, sleep_until};
use url::Url;

use self::{
    fetch::{Fetched, Fetcher, HostLimits, Limit},
    html::CandidateKind,
    kept::{MAX_DARK_IMAGES, Verified},
    net::{DnsSetupError, GuardedDns, Network},
};
pub use self::{
    image::ImageFormat,
    kept::{IconImage, Theme},
};
use crate::{ResolverSettings, domain::Domain};

/// Most candidates fetched for one domain.
const MAX_CANDIDATES: usize = 16;
/// Origins whose candidates are fetched at once for one domain (the candidates of one origin
/// are fetched one after the other, over one connection; the per-host limit applies too).
const CANDIDATE_CONCURRENCY: usize = 8;
/// Most dark variants fetched for one domain: no more are kept.
const MAX_DARK_CANDIDATES: usize = MAX_DARK_IMAGES;
/// Where many sites keep a large icon without linking it, tried when the best icon found is
/// smaller than the preferred size.
const UNLINKED_APPLE_TOUCH_ICONS: [&str; 2] =
    ["/apple-touch-icon.png", "/apple-touch-icon-precomposed.png"];

/// How long an idle connection is kept for reuse by the same host. A domain's own requests
/// follow one another at once and a host serving many sites' icons is asked again within
/// milliseconds, so longer only holds finished domains' connections (hyper's pool drops them
/// up to twice this late): at 1,024 domains in flight 2 s kept 4.5 open files and 224 KiB
/// per domain, 500 ms 1.9 and 128 KiB, with the same handshakes (BENCHMARKS.md §0).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// Most idle connections kept per host: one for a host met once, a few for a host that
/// serves the icons of many sites.
const IDLE_CONNECTIONS_PER_HOST: usize = 16;
/// Servers whose TLS sessions are kept for resumption.
const TLS_SESSIONS: usize = 1024;

/// What resolving one domain gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The chosen icon, or why there is none.
    pub outcome: Result<Icon, Failure>,
    /// Attempts made.
    pub tries: u32,
}

/// The chosen icon of a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Icon {
    /// Where the icon was finally fetched from (after redirects), or its `data:` URL.
    pub url: String,
    /// The format found in the bytes.
    pub format: ImageFormat,
    /// Real width in pixels (0 for an SVG without a size).
    pub width: u32,
    /// Real height in pixels.
    pub height: u32,
    /// Size of the (decompressed) icon.
    pub bytes: u64,
    /// Where the candidate came from.
    pub source: IconSource,
    /// The verified images kept, with their bytes: `images[0]` is this icon (same URL, format
    /// and size), then the other candidates whose bytes were verified, distinct by content,
    /// dark variants first, within `max_kept_images` and `max_kept_image_bytes` of the
    /// settings. Serialised without the bytes.
    pub images: Vec<IconImage>,
}

/// One icon candidate: where it is, where it was declared and for which colour scheme.
#[derive(Debug, Clone)]
struct Candidate {
    url: Url,
    source: IconSource,
    theme: Theme,
}

/// Where an icon candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IconSource {
    /// A `<link rel>` or `<meta name="msapplication-TileImage">` in the home page.
    Link,
    /// The `icons` of the web app manifest.
    Manifest,
    /// A default location (`/favicon.ico`, `/apple-touch-icon.png`).
    Fallback,
}

impl IconSource {
    /// The lower-case name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Manifest => "manifest",
            Self::Fallback => "fallback",
        }
    }
}

/// Why a domain has no icon, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCategory {
    /// The entry is not a domain name.
    InvalidDomain,
    /// The name does not resolve.
    Dns,
    /// No connection could be made, or it broke.
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The deadline passed.
    Timeout,
    /// The site answered with an error status, or redirects went wrong.
    HttpStatus,
    /// Candidates answered, but not with an image.
    NotImage,
    /// The site answered, but no candidate was an icon.
    NoIcon,
    /// The name or a redirect leads to a non-public address.
    Blocked,
    /// An icon is larger than allowed.
    TooLarge,
}

impl FailureCategory {
    /// Every category, in declaration order (a test keeps it complete).
    pub const ALL: [Self; 10] = [
        Self::InvalidDomain,
        Self::Dns,
        Self::Connect,
        Self::Tls,
        Self::Timeout,
        Self::HttpStatus,
        Self::NotImage,
        Self::NoIcon,
        Self::Blocked,
        Self::TooLarge,
    ];

    /// Whether a failure of this category is the site's own, lasting answer unless said
    /// otherwise: an invalid name, an error status, no image, no icon, too large. DNS failures
    /// are not, except NXDOMAIN ([`net::DnsError::is_no_such_name`]); time-outs, connection
    /// and TLS failures and blocks never are.
    fn definite_by_default(self) -> bool {
        matches!(
            self,
            Self::InvalidDomain | Self::HttpStatus | Self::NotImage | Self::NoIcon | Self::TooLarge
        )
    }

    /// The exact name stored and printed, e.g. `http_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidDomain => "invalid_domain",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::HttpStatus => "http_status",
            Self::NotImage => "not_image",
            Self::NoIcon => "no_icon",
            Self::Blocked => "blocked",
            Self::TooLarge => "too_large",
        }
    }
}

impl fmt::Display for FailureCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a domain has no icon: a category and a detail for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{category}: {detail}")]
pub struct Failure {
    /// The kind of failure.
    pub category: FailureCategory,
    /// What happened, for people.
    pub detail: String,
    /// The site's (or its name's) own answer, which asking again soon would get again: the
    /// name does not exist, an error status that is not temporary, no image. False for what
    /// may pass (a time-out, a refused connection, a temporary DNS failure, a 5xx or 429) and
    /// for blocks. Whether a cache may keep the failure depends on it
    /// ([`Resolution::cache_class`]).
    #[serde(skip)]
    pub definite: bool,
    /// Every connection tried was refused (nothing listens there): trying the same again at
    /// once is pointless, so the resolution is not retried.
    #[serde(skip)]
    pub refused: bool,
    /// The name does not exist (NXDOMAIN), so no name under it does (RFC 8020).
    #[serde(skip)]
    pub(crate) nx_domain: bool,
}

impl Failure {
    /// A failure of `category`, definite or not as its category usually is.
    pub fn new(category: FailureCategory, detail: impl Into<String>) -> Self {
        Self {
            category,
            detail: detail.into(),
            definite: category.definite_by_default(),
            refused: false,
            nx_domain: false,
        }
    }

    /// The same failure, said to come from refused connections only, or not.
    pub fn with_refused(mut self, refused: bool) -> Self {
        self.refused = refused;
        self
    }

    /// The same failure, said to be definite (NXDOMAIN) or not (a temporary answer).
    pub fn with_definite(mut self, definite: bool) -> Self {
        self.definite = definite;
        self
    }

    /// True when another attempt may succeed (connection failures and time-outs); a name
    /// that does not resolve, a blocked address or an answer without an icon are final.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.category,
            FailureCategory::Connect | FailureCategory::Timeout
        )
    }
}

/// Why a [`Resolver`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    /// The extra root certificate cannot be read.
    #[error("cannot read the CA certificate {path}: {source}")]
    ReadCaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The extra root certificate is not PEM.
    #[error("invalid CA certificate {path}: {source}")]
    InvalidCaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        source: reqwest::Error,
    },
    /// The extra root certificate file holds a PEM block that is not a certificate.
    #[error("invalid CA certificate {path}: {source}")]
    InvalidCaPem {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The TLS configuration cannot be built (the platform's roots, protocol versions).
    #[error("cannot set up TLS: {0}")]
    Tls(rustls::Error),
    /// The HTTP client cannot be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The DNS client cannot be set up (no usable `/etc/resolv.conf`).
    #[error(transparent)]
    Dns(#[from] DnsSetupError),
}

/// One domain's deadline: `domain_timeout` from the start, pushed back by the time its
/// requests spent waiting for per-host slots (while at least one of them waited), by
/// `max_host_wait` at most. Politeness towards a busy host thus slows its domains down
/// instead of failing them, and a host that never answers still fails them in time.
#[derive(Debug)]
pub(crate) struct Budget {
    base: Instant,
    max_extension: Duration,
    waiting: Mutex<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    /// Requests waiting now.
    requests: usize,
    /// When the current wait began (at least one request waiting).
    since: Instant,
    /// Waits that ended, together.
    waited: Duration,
}

/// A request waiting for a per-host slot; the wait ends when it is dropped.
#[derive(Debug)]
pub(crate) struct WaitingRequest<'a>(&'a Budget);

impl Budget {
    fn new(timeout: Duration, max_extension: Duration) -> Self {
        let now = Instant::now();
        Self {
            base: now + timeout,
            max_extension,
            waiting: Mutex::new(Waiting {
                requests: 0,
                since: now,
                waited: Duration::ZERO,
            }),
        }
    }

    /// The deadline now.
    pub(crate) fn deadline(&self) -> Instant {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let current = if waiting.requests > 0 {
            waiting.since.elapsed()
        } else {
            Duration::ZERO
        };
        self.base + (waiting.waited + current).min(self.max_extension)
    }

    /// Records a request waiting for a per-host slot until the result is dropped.
    pub(crate) fn waiting(&self) -> WaitingRequest<'_> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.requests == 0 {
            waiting.since = Instant::now();
        }
        waiting.requests += 1;
        WaitingRequest(self)
    }

    /// Runs `work` until it ends or until `reserve` before the deadline, following the
    /// deadline as it is pushed back. None when the deadline came first.
    async fn run<F: Future>(&self, reserve: Duration, work: F) -> Option<F::Output> {
        let mut work = std::pin::pin!(work);
        loop {
            let end = self.deadline() - reserve;
            tokio::select! {
                output = &mut work => return Some(output),
                () = sleep_until(end) => {
                    if self.deadline() - reserve <= Instant::now() {
                        return None;
                    }
                }
            }
        }
    }
}

impl Drop for WaitingRequest<'_> {
    fn drop(&mut self) {
        let mut waiting = self
            .0
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        waiting.requests -= 1;
        if waiting.requests == 0 {
            let wait = waiting.since.elapsed();
            waiting.waited += wait;
        }
    }
}

/// Finds favicons. Cheap to clone; clones share connections and per-host limits.
#[derive(Debug, Clone)]
pub struct Resolver {
    fetcher: Fetcher,
    settings: Arc<ResolverSettings>,
}

/// What the home page gave.
#[derive(Debug)]
struct HomePage {
    /// The URL the default probes are relative to (the final one).
    base: Url,
    /// The page, when it answered 2xx with HTML.
    page: Option<Fetched>,
    /// Why the home page is no page (error status, redirect loop).
    failure: Option<Failure>,
}

impl Resolver {
    /// Builds the HTTP client from the settings.
    pub fn new(settings: &ResolverSettings) -> Result<Self, ResolverError> {
        let network = Network::new(settings)?;
        let mut extra_roots = Vec::new();
        if let Some(path) = &settings.ca_cert {
            let pem = std::fs::read(path).map_err(|source| ResolverError::ReadCaCert {
                path: path.clone(),
                source,
            })?;
            // Checked as reqwest reads certificates, for the same errors as before.
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                ResolverError::InvalidCaCert {
                    path: path.clone(),
                    source,
                }
            })?;
            for certificate in CertificateDer::pem_slice_iter(&pem) {
                extra_roots.push(certificate.map_err(|source| ResolverError::InvalidCaPem {
                    path: path.clone(),
                    source,
                })?);
            }
        }
        let builder = reqwest::Client::builder()
            .user_agent(&settings.user_agent)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A host's candidates are fetched one after the other over the connection its home
            // page left: hosts met once keep one connection, for the rest of one domain's
            // resolution (page, then icons), not for minutes, which would hold one open file
            // per domain resolved recently. Hosts that serve many sites' icons (a CDN) keep a
            // few more, reused across domains instead of a TLS handshake each.
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
            .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
            // Connections live for one domain's requests, or half a second idle: TCP keep-alive
            // probes (15 s) would never be sent, and setting them up costs four system calls a
            // connection.
            .tcp_keepalive(None)
            .tcp_keepalive_interval(None)
            .tcp_keepalive_retries(None)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedDns(network.clone())))
            .tls_backend_preconfigured(tls_config(extra_roots)?);
        Ok(Self {
            fetcher: Fetcher {
                client: builder.build()?,
                network,
                hosts: HostLimits::new(
                    settings.per_host_concurrency,
                    settings.static_host_concurrency,
                ),
                max_redirects: settings.max_redirects,
            },
            settings: Arc::new(settings.clone()),
        })
    }

    /// Resolves `domain` within the domain deadline (pushed back by per-host waits, see
    /// [`Budget`]), retrying transient failures with backoff; a failure where every
    /// connection was refused is not retried.
    #[tracing::instrument(level = "debug", skip_all, fields(domain = %domain))]
    pub async fn resolve(&self, domain: &Domain) -> Resolution {
        let budget = Budget::new(self.settings.domain_timeout, self.settings.max_host_wait);
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = budget
                .run(Duration::ZERO, self.attempt(domain, &budget))
                .await
                .unwrap_or_else(|| {
                    Err(Failure::new(
                        FailureCategory::Timeout,
                        format!(
                            "{domain} not resolved within {:?}",
                            self.settings.domain_timeout
                        ),
                    ))
                });
            let backoff = Duration::from_millis(200 * 2_u64.pow(tries.min(10) - 1));
            match outcome {
                Err(failure)
                    if failure.is_transient()
                        && !failure.refused
                        && tries < self.settings.max_tries
                        && Instant::now() + backoff < budget.deadline() =>
                {
                    tracing::debug!(error.message = %failure, "retrying {domain}");
                    tokio::time::sleep(backoff).await;
                }
                outcome => return Resolution { outcome, tries },
            }
        }
    }

    async fn attempt(&self, domain: &Domain, budget: &Budget) -> Result<Icon, Failure> {
        let mut home = self.home_page(domain, budget).await?;
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut manifests = Vec::new();
        let has_page = home.page.is_some();
        // The page's body is dropped as soon as its candidates are out, not held (up to
        // `max_html_bytes`) while the candidates are fetched.
        if let Some(mut page) = home.page.take() {
            // Parsed once: when reading the page stopped after `</head>`, its candidates were
            // extracted to decide it.
            let found = page.candidates.take().unwrap_or_else(|| {
                let charset = page
                    .content_type
                    .as_deref()
                    .and_then(html::content_type_charset);
                html::extract_candidates(&page.body, charset, &page.url)
            });
            for candidate in found {
                match candidate.kind {
                    CandidateKind::Manifest => manifests.push(candidate.url),
                    _ => candidates.push(Candidate {
                        url: candidate.url,
                        source: IconSource::Link,
                        theme: candidate.theme,
                    }),
                }
            }
        }
        // Leave a little of the budget to report what was found, rather than time out.
        let reserve = (self.settings.domain_timeout / 10).min(Duration::from_secs(1));
        if let Some(manifest) = manifests.first() {
            let limit = Limit::Document(self.settings.max_html_bytes);
            if let Some(Ok(fetched)) = budget
                .run(reserve, self.fetcher.get(manifest, limit, budget))
                .await
                && fetched.status.is_success()
            {
                for (url, theme) in manifest::icon_urls(&fetched.body, &fetched.url) {
                    candidates.push(Candidate {
                        url,
                        source: IconSource::Manifest,
                        theme,
                    });
                }
            }
        }
        // `/favicon.ico` is where a browser looks when a page declares no icon (HTML: "in the
        // absence of a link with the icon keyword"). When it declares some, the guess costs a
        // request only if they give no light icon of the preferred size.
        let declared = distinct(candidates);
        let mut favicon_ico: Vec<Candidate> = self
            .fallbacks(&home.base, &["/favicon.ico"])
            .filter(|guess| !declared.iter().any(|c| c.url == guess.url))
            .collect();
        let first = if declared.is_empty() {
            let mut probes = std::mem::take(&mut favicon_ico);
            if !has_page {
                probes.extend(self.fallbacks(&home.base, &["/apple-touch-icon.png"]));
            }
            probes
        } else {
            declared
        };
        let mut count = first.len();
        // Many sites serve a large icon at these paths without linking it: worth two more
        // requests only when the icon found is too small (below).
        let unlinked: Vec<Candidate> = self
            .fallbacks(&home.base, &UNLINKED_APPLE_TOUCH_ICONS)
            .filter(|unlinked| !first.iter().any(|c| c.url == unlinked.url))
            .collect();
        let (mut found, mut failures) = verified(self.fetch_all(first, budget, reserve).await);
        let preferred = self.settings.preferred_size;
        let prefer_svg = self.settings.prefer_svg;
        if found.is_empty() && !favicon_ico.is_empty() {
            // Nothing the page declared is an icon: the browser's guess, whose failure is
            // reported with theirs.
            count += favicon_ico.len();
            let (more, more_failures) = verified(
                self.fetch_all(std::mem::take(&mut favicon_ico), budget, reserve)
                    .await,
            );
            found.extend(more);
            failures.extend(more_failures);
        }
        let wanting = choose(&found, preferred, prefer_svg).is_some_and(|best| {
            !meets(&found[best], preferred) || found[best].image.theme != Theme::Light
        });
        if wanting {
            // Only when an icon was found: a site without one (an error page, a bot wall)
            // gets no more requests. Their failures say nothing about the site (they are
            // guesses): not reported.
            let mut guesses = favicon_ico;
            guesses.extend(unlinked);
            if !guesses.is_empty() {
                let (more, _) = verified(self.fetch_all(guesses, budget, reserve).await);
                found.extend(more);
            }
        }
        let Some(best) = choose(&found, preferred, prefer_svg) else {
            return Err(explain(failures, home.failure, count));
        };
        let chosen = &found[best];
        let icon = Icon {
            url: chosen.image.url.clone(),
            format: chosen.image.format,
            width: chosen.image.width,
            height: chosen.image.height,
            bytes: chosen.image.bytes.len() as u64,
            source: chosen.source,
            images: Vec::new(),
        };
        let images = kept::keep(
            found,
            best,
            self.settings.max_kept_images,
            self.settings.max_kept_image_bytes,
        );
        Ok(Icon { images, ..icon })
    }

    /// The default locations `paths` on the site at `base`, as fallback candidates.
    fn fallbacks<'a>(
        &self,
        base: &'a Url,
        paths: &'a [&'a str],
    ) -> impl Iterator<Item = Candidate> + 'a {
        paths.iter().filter_map(|path| {
            Some(Candidate {
                url: base.join(path).ok()?,
                source: IconSource::Fallback,
                theme: Theme::Light,
            })
        })
    }

    /// Fetches and verifies `candidates`, each by `reserve` before the deadline; results in
    /// order. Candidates on the same origin are fetched one after the other, so that they
    /// reuse the connection the home page (or the previous one) left open instead of each
    /// opening one with a TLS handshake of its own; a few origins are fetched at once.
    async fn fetch_all(
        &self,
        candidates: Vec<Candidate>,
        budget: &Budget,
        reserve: Duration,
    ) -> Vec<Result<Verified, Failure>> {
        let count = candidates.len();
        let mut results: Vec<Option<Result<Verified, Failure>>> = Vec::new();
        results.resize_with(count, || None);
        let fetched: Vec<(usize, Result<Verified, Failure>)> = stream::iter(by_origin(candidates))
            .map(|group| async move {
                let mut fetched = Vec::with_capacity(group.len());
                for (index, candidate) in group {
                    fetched.push((index, self.fetch_by(&candidate, budget, reserve).await));
                }
                fetched
            })
            .buffer_unordered(CANDIDATE_CONCURRENCY)
            .flat_map(stream::iter)
            .collect()
            .await;
        for (index, result) in fetched {
            results[index] = Some(result);
        }
        results.into_iter().flatten().collect()
    }

    /// [`Self::fetch_icon`] by `reserve` before the deadline.
    async fn fetch_by(
        &self,
        candidate: &Candidate,
        budget: &Budget,
        reserve: Duration,
    ) -> Result<Verified, Failure> {
        budget
            .run(reserve, self.fetch_icon(candidate, budget))
            .await
            .unwrap_or_else(|| {
                Err(Failure::new(
                    FailureCategory::Timeout,
                    format!("{} not fetched in time", candidate.url),
                ))
            })
    }

    /// The home page over https, then http, then the same for `www.` when the bare name
    /// cannot be reached, unless the bare name does not exist (NXDOMAIN; not NODATA, a name
    /// without an address): then nothing under it does either (RFC 8020), and `www.` is not
    /// looked up. `Err` only when no attempt got an answer, or one was blocked.
    async fn home_page(&self, domain: &Domain, budget: &Budget) -> Result<HomePage, Failure> {
        let bare = domain.as_str();
        let mut names = vec![bare.to_owned()];
        if !bare.starts_with("www.") {
            names.push(format!("www.{bare}"));
        }
        let mut first_failure: Option<Failure> = None;
        // The failure reported is the first, but it is only as definite as every attempt was:
        // a bare name that does not exist says nothing lasting if `www.` only timed out.
        let mut all_definite = true;
        let mut all_refused = true;
        'names: for name in names {
            for scheme in ["https", "http"] {
                let url = Url::parse(&format!("{scheme}://{name}/")).map_err(|e| {
                    Failure::new(FailureCategory::InvalidDomain, format!("{name}: {e}"))
                })?;
                match self
                    .fetcher
                    .get(&url, Limit::Page(self.settings.max_html_bytes), budget)
                    .await
                {
                    Ok(fetched) => return Ok(HomePage::from(fetched)),
                    Err(failure) if failure.category == FailureCategory::Blocked => {
                        return Err(failure);
                    }
                    Err(failure)
                        if matches!(
                            failure.category,
                            FailureCategory::Dns
                                | FailureCategory::Connect
                                | FailureCategory::Tls
                                | FailureCategory::Timeout
                        ) =>
                    {
                        let dns = failure.category == FailureCategory::Dns;
                        let no_such_name = failure.nx_domain;
                        all_definite &= failure.definite;
                        all_refused &= failure.refused;
                        first_failure.get_or_insert(failure);
                        if no_such_name {
                            // The name does not exist: neither does `www.` under it.
                            break 'names;
                        }
                        if dns {
                            break;
                        }
                    }
                    Err(failure) => {
                        return Ok(HomePage {
                            base: url,
                            page: None,
                            failure: Some(failure),
                        });
                    }
                }
            }
        }
        Err(first_failure
            .map(|failure| {
                let definite = failure.definite && all_definite;
                failure.with_definite(definite).with_refused(all_refused)
            })
            .unwrap_or_else(|| {
                Failure::new(FailureCategory::Connect, format!("{domain}: nothing tried"))
            }))
    }

    /// Fetches one candidate and keeps its bytes when they really are an image.
    async fn fetch_icon(
        &self,
        candidate: &Candidate,
        budget: &Budget,
    ) -> Result<Verified, Failure> {
        let url = &candidate.url;
        let max = self.settings.max_icon_bytes;
        let (final_url, mut body, content_type) = if url.scheme() == "data" {
            (url.clone(), fetch::data_url_bytes(url, max)?, None)
        } else {
            let fetched = self.fetcher.get(url, Limit::Icon(max), budget).await?;
            if fetched.status != reqwest::StatusCode::OK {
                return Err(Failure::new(
                    FailureCategory::HttpStatus,
                    format!("{} answered {}", fetched.url, fetched.status),
                )
                .with_definite(is_lasting_status(fetched.status)));
            }
            (fetched.url, fetched.body, fetched.content_type)
        };
        let Some(info) = image::inspect(&body) else {
            let what = match image::sniff(&body) {
                Some(format) => format!("a {format} too small or unreadable"),
                None => format!(
                    "not an image ({}, {} bytes)",
                    content_type.as_deref().unwrap_or("no Content-Type"),
                    body.len()
                ),
            };
            return Err(Failure::new(
                FailureCategory::NotImage,
                format!("{final_url} is {what}"),
            ));
        };
        // Kept until the resolution chooses, and perhaps in a batch until stored: without the
        // spare room a body of unannounced length grew by.
        body.shrink_to_fit();
        Ok(Verified {
            image: IconImage {
                url: final_url.to_string(),
                format: info.format,
                width: info.width,
                height: info.height,
                theme: candidate.theme,
                // The vector's own buffer: no copy.
                bytes: Bytes::from(body),
            },
            source: candidate.source,
        })
    }
}

impl From<Fetched> for HomePage {
    fn from(fetched: Fetched) -> Self {
        let is_html = fetched
            .content_type
            .as_deref()
            .is_none_or(|content_type| content_type.to_ascii_lowercase().contains("html"));
        if !fetched.status.is_success() {
            let failure = Failure::new(
                FailureCategory::HttpStatus,
                format!("home page {} answered {}", fetched.url, fetched.status),
            )
            .with_definite(is_lasting_status(fetched.status));
            return Self {
                base: fetched.url,
                page: None,
                failure: Some(failure),
            };
        }
        Self {
            base: fetched.url.clone(),
            page: is_html.then_some(fetched),
            failure: None,
        }
    }
}

/// The client's TLS set-up: what reqwest builds by default (the platform's roots and
/// `extra_roots`, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`), cheaper per handshake, which is
/// most of the resolver's CPU:
/// - key exchange by X25519 (then P-256, P-384) only: the post-quantum hybrid
///   X25519MLKEM768, offered first by default, costs an ML-KEM key pair and decapsulation per
///   handshake (plus a second key share) to protect what a site shows everyone anyway;
/// - cipher suites hashing with SHA-256 first (AES-128-GCM before AES-256-GCM), whose
///   transcript hash and key schedule run on the CPU's SHA extensions, unlike SHA-384;
/// - sessions of [`TLS_SESSIONS`] servers kept for resumption (a resumed handshake skips the
///   certificate checks), instead of 256, fewer than the domains resolved at once.
fn tls_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, ResolverError> {
    use rustls::crypto::{CryptoProvider, aws_lc_rs};
    let default = aws_lc_rs::default_provider();
    let mut cipher_suites = default.cipher_suites.clone();
    // A stable sort: the default order otherwise.
    cipher_suites.sort_by_key(|suite| {
        use rustls::CipherSuite::*;
        matches!(
            suite.suite(),
            TLS13_AES_256_GCM_SHA384
                | TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        )
    });
    let provider = Arc::new(CryptoProvider {
        cipher_suites,
        kx_groups: vec![
            aws_lc_rs::kx_group::X25519,
            aws_lc_rs::kx_group::SECP256R1,
            aws_lc_rs::kx_group::SECP384R1,
        ],
        ..default
    });
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, Arc::clone(&provider))
    }
    .map_err(ResolverError::Tls)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ResolverError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::in_memory_sessions(TLS_SESSIONS);
    Ok(config)
}

/// Whether an error status is the site's lasting answer: a 5xx, 429 (too many requests) or
/// 408 (request time-out) says "not now".
fn is_lasting_status(status: reqwest::StatusCode) -> bool {
    !(status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT)
}

/// The index of the best icon: among the light ones (the dark only when there is no light
/// one), an SVG when preferred, else the largest square raster at least `preferred` wide,
/// else an SVG, else the largest raster. Ties go to the earlier candidate.
pub(crate) fn choose(found: &[Verified], preferred: u32, prefer_svg: bool) -> Option<usize> {
    let any_light = found.iter().any(|v| v.image.theme == Theme::Light);
    let eligible = || {
        found
            .iter()
            .enumerate()
            .filter(move |(_, v)| !any_light || v.image.theme == Theme::Light)
            .map(|(index, v)| (index, &v.image))
    };
    let svg = eligible().find(|(_, image)| image.format == ImageFormat::Svg);
    if prefer_svg && svg.is_some() {
        return svg.map(|(index, _)| index);
    }
    let rasters = || eligible().filter(|(_, image)| image.format.is_raster());
    let squares =
        rasters().filter(|(_, image)| image.width == image.height && image.width >= preferred);
    largest(squares)
        .or(svg.map(|(index, _)| index))
        .or_else(|| largest(rasters()))
}

/// Whether `best` is good enough not to look further: an SVG, or a square raster at least
/// `preferred` wide.
fn meets(best: &Verified, preferred: u32) -> bool {
    let image = &best.image;
    !image.format.is_raster() || (image.width == image.height && image.width >= preferred)
}

/// The index of the image with the most pixels; ties go to the earlier one.
fn largest<'a>(images: impl Iterator<Item = (usize, &'a IconImage)>) -> Option<usize> {
    let area = |image: &IconImage| u64::from(image.width) * u64::from(image.height);
    let mut best: Option<(usize, &IconImage)> = None;
    for (index, image) in images {
        if best.is_none_or(|(_, b)| area(image) > area(b)) {
            best = Some((index, image));
        }
    }
    best.map(|(index, _)| index)
}

/// `candidates` with their indices, grouped by origin (scheme, host and port), groups and
/// candidates in the order they first appear; every `data:` URL is a group of its own.
fn by_origin(candidates: Vec<Candidate>) -> Vec<Vec<(usize, Candidate)>> {
    let mut groups: Vec<(url::Origin, Vec<(usize, Candidate)>)> = Vec::new();
    for (index, candidate) in candidates.into_iter().enumerate() {
        // An opaque origin (`data:`) equals no other.
        let origin = candidate.url.origin();
        match groups.iter_mut().find(|(seen, _)| *seen == origin) {
            Some((_, group)) => group.push((index, candidate)),
            None => groups.push((origin, vec![(index, candidate)])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// The icons verified and the failures, apart.
fn verified(results: Vec<Result<Verified, Failure>>) -> (Vec<Verified>, Vec<Failure>) {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(verified) => found.push(verified),
            Err(failure) => failures.push(failure),
        }
    }
    (found, failures)
}

/// `candidates` without a URL seen before, at most [`MAX_DARK_CANDIDATES`] dark ones, at most
/// [`MAX_CANDIDATES`] in all, in order.
fn distinct(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut unique: Vec<Candidate> = Vec::new();
    let mut dark = 0;
    for candidate in candidates {
        if unique.iter().any(|seen| seen.url == candidate.url) {
            continue;
        }
        if candidate.theme == Theme::Dark {
            if dark >= MAX_DARK_CANDIDATES {
                continue;
            }
            dark += 1;
        }
        unique.push(candidate);
    }
    unique.truncate(MAX_CANDIDATES);
    unique
}

/// Why no candidate was an icon: a blocked or oversized candidate first, then the home
/// page's own failure, then candidates that were not images or timed out, else `no_icon`.
fn explain(failures: Vec<Failure>, home: Option<Failure>, candidates: usize) -> Failure {
    for category in [FailureCategory::Blocked, FailureCategory::TooLarge] {
        if let Some(failure) = failures.iter().find(|f| f.category == category) {
            return failure.clone();
        }
    }
    if let Some(home) = home {
        return home;
    }
    for category in [FailureCategory::NotImage, FailureCategory::Timeout] {
        if let Some(failure) = failures.iter().find(|f| f.category == category) {
            return failure.clone();
        }
    }
    let first = failures
        .first()
        .map(|f| format!(" (first: {f})"))
        .unwrap_or_default();
    // Only as definite as the candidates' own failures: a 503 or a reset may pass.
    let definite = failures.iter().all(|f| f.definite);
    Failure::new(
        FailureCategory::NoIcon,
        format!("none of {candidates} candidates is an icon{first}"),
    )
    .with_definite(definite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icon(format: ImageFormat, width: u32, height: u32) -> Verified {
        themed(format, width, height, Theme::Light)
    }

    fn themed(format: ImageFormat, width: u32, height: u32, theme: Theme) -> Verified {
        Verified {
            image: IconImage {
                url: format!("https://example.com/{width}x{height}.{format}"),
                format,
                width,
                height,
                theme,
                bytes: Bytes::from_static(b"image"),
            },
            source: IconSource::Link,
        }
    }

    #[test]
    fn all_lists_every_category_once_in_order() {
        for (index, category) in FailureCategory::ALL.into_iter().enumerate() {
            // Exhaustive: a new category does not compile here until it has a place in ALL.
            let position = match category {
                FailureCategory::InvalidDomain => 0,
                FailureCategory::Dns => 1,
                FailureCategory::Connect => 2,
                FailureCategory::Tls => 3,
                FailureCategory::Timeout => 4,
                FailureCategory::HttpStatus => 5,
                FailureCategory::NotImage => 6,
                FailureCategory::NoIcon => 7,
                FailureCategory::Blocked => 8,
                FailureCategory::TooLarge => 9,
            };
            assert_eq!(position, index, "{category}");
        }
    }

    #[test]
    fn the_largest_square_raster_at_or_above_the_preferred_size_wins() {
        use ImageFormat::*;
        let found = [
            icon(Ico, 16, 16),
            icon(Png, 300, 100),
            icon(Png, 64, 64),
            icon(Svg, 0, 0),
            icon(Png, 192, 192),
            icon(Jpeg, 192, 192),
        ];
        assert_eq!(choose(&found, 32, false), Some(4));
        assert_eq!(choose(&found, 32, true), Some(3));
        assert_eq!(choose(&found, 512, false), Some(3));
        let rasters = [icon(Ico, 16, 16), icon(Png, 300, 100)];
        assert_eq!(choose(&rasters, 32, false), Some(1));
        assert_eq!(choose(&[], 32, false), None);
    }

    #[test]
    fn a_dark_variant_is_chosen_only_when_there_is_no_light_icon() {
        use ImageFormat::*;
        let found = [
            themed(Png, 512, 512, Theme::Dark),
            icon(Png, 16, 16),
            themed(Svg, 0, 0, Theme::Dark),
        ];
        assert_eq!(choose(&found, 32, false), Some(1));
        assert_eq!(choose(&found, 32, true), Some(1));
        assert_eq!(choose(&found[..1], 32, false), Some(0));
        assert_eq!(
            choose(&[found[0].clone(), found[2].clone()], 32, true),
            Some(1)
        );
    }

    #[test]
    fn only_a_small_raster_calls_for_a_larger_one() {
        use ImageFormat::*;
        assert!(meets(&icon(Png, 32, 32), 32));
        assert!(meets(&icon(Svg, 0, 0), 32));
        assert!(!meets(&icon(Png, 16, 16), 32));
        assert!(!meets(&icon(Png, 300, 100), 32));
    }

    #[test]
    fn candidates_are_distinct_with_at_most_two_dark_ones() {
        let candidate = |path: &str, theme| Candidate {
            url: Url::parse(&format!("https://example.com/{path}")).unwrap(),
            source: IconSource::Link,
            theme,
        };
        let kept = distinct(vec![
            candidate("a", Theme::Light),
            candidate("d1", Theme::Dark),
            candidate("a", Theme::Dark),
            candidate("d2", Theme::Dark),
            candidate("d3", Theme::Dark),
            candidate("b", Theme::Light),
        ]);
        let paths: Vec<&str> = kept.iter().map(|c| c.url.path()).collect();
        assert_eq!(paths, ["/a", "/d1", "/d2", "/b"]);
    }

    #[test]
    fn candidates_are_grouped_by_origin_in_order() {
        let candidate = |url: &str| Candidate {
            url: Url::parse(url).unwrap(),
            source: IconSource::Link,
            theme: Theme::Light,
        };
        let groups = by_origin(vec![
            candidate("https://example.com/a.png"),
            candidate("https://static.example/b.png"),
            candidate("data:image/png;base64,iVBORw0KGgo="),
            candidate("https://example.com/favicon.ico"),
            candidate("http://example.com/c.png"),
            candidate("data:image/png;base64,iVBORw0KGgo="),
            candidate("https://example.com:443/d.png"),
        ]);
        let indices: Vec<Vec<usize>> = groups
            .iter()
            .map(|group| group.iter().map(|(index, _)| *index).collect())
            .collect();
        assert_eq!(indices, [vec![0, 3, 6], vec![1], vec![2], vec![4], vec![5]]);
    }

    #[test]
    fn tls_offers_x25519_and_sha256_suites_first_and_keeps_many_sessions() {
        use rustls::{CipherSuite, NamedGroup};
        let config = tls_config(Vec::new()).unwrap();
        let provider = config.crypto_provider();
        let groups: Vec<NamedGroup> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            [
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
        let suites: Vec<CipherSuite> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        let sha384 = suites
            .iter()
            .position(|s| *s == CipherSuite::TLS13_AES_256_GCM_SHA384)
            .unwrap();
        let chacha = suites
            .iter()
            .position(|s| *s == CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
            .unwrap();
        assert!(chacha < sha384, "{suites:?}");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn failures_print_as_category_and_detail() {
        let failure = Failure::new(FailureCategory::HttpStatus, "home page answered 404");
        assert_eq!(failure.to_string(), "http_status: home page answered 404");
        assert!(!failure.is_transient());
        assert!(Failure::new(FailureCategory::Timeout, "").is_transient());
        assert_eq!(FailureCategory::TooLarge.as_str(), "too_large");
        assert_eq!(
            serde_json::to_value(FailureCategory::InvalidDomain).unwrap(),
            "invalid_domain"
        );
        assert_eq!(serde_json::to_value(ImageFormat::Webp).unwrap(), "webp");
    }

    #[test]
    fn only_lasting_answers_are_definite() {
        use reqwest::StatusCode;
        assert!(Failure::new(FailureCategory::HttpStatus, "404").definite);
        assert!(!Failure::new(FailureCategory::Dns, "SERVFAIL").definite);
        assert!(!Failure::new(FailureCategory::Timeout, "").definite);
        assert!(!Failure::new(FailureCategory::Blocked, "").definite);
        assert!(is_lasting_status(StatusCode::NOT_FOUND));
        assert!(is_lasting_status(StatusCode::GONE));
        for passing in [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::BAD_GATEWAY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::REQUEST_TIMEOUT,
        ] {
            assert!(!is_lasting_status(passing), "{passing}");
        }
        let gone = Failure::new(FailureCategory::HttpStatus, "404");
        let busy = Failure::new(FailureCategory::HttpStatus, "503").with_definite(false);
        assert!(explain(vec![gone.clone()], None, 1).definite);
        assert!(!explain(vec![gone, busy], None, 2).definite);
    }

    #[test]
    fn the_most_telling_failure_is_reported() {
        let home = Failure::new(FailureCategory::HttpStatus, "home");
        let not_image = Failure::new(FailureCategory::NotImage, "soft 404");
        let too_large = Failure::new(FailureCategory::TooLarge, "big");
        assert_eq!(
            explain(
                vec![not_image.clone(), too_large.clone()],
                Some(home.clone()),
                2
            ),
            too_large
        );
        assert_eq!(
            explain(vec![not_image.clone()], Some(home.clone()), 1),
            home
        );
        assert_eq!(explain(vec![not_image.clone()], None, 1), not_image);
        let missing = Failure::new(FailureCategory::HttpStatus, "404");
        assert_eq!(
            explain(vec![missing], None, 1).category,
            FailureCategory::NoIcon
        );
    }
}
