//! One GET with bounded reads: redirects followed by hand (at most N, loops detected, every
//! hop checked by [`Network`]), bodies read chunk by chunk after decompression and cut off at
//! a limit, and per-host concurrency limits whose waits push the domain's deadline back
//! ([`Budget`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use base64::Engine;
use reqwest::{
    StatusCode,
    header::{CONTENT_TYPE, HOST, LOCATION},
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use url::Url;

use super::{
    Budget, Failure, FailureCategory, html,
    net::{BlockedAddress, DnsError, Network},
};

/// How much of a body is read, and what happens past that.
#[derive(Debug, Clone, Copy)]
pub(super) enum Limit {
    /// A home page: cut at `max` bytes, or as soon as `</head>` has been read and icons were
    /// found before it.
    Page(usize),
    /// A manifest: cut at `max` bytes.
    Document(usize),
    /// An icon: more than `max` bytes fails with `too_large`.
    Icon(usize),
}

impl Limit {
    /// Which per-host limit a request for this counts against.
    fn class(self) -> RequestClass {
        match self {
            Self::Page(_) => RequestClass::Page,
            Self::Document(_) | Self::Icon(_) => RequestClass::Static,
        }
    }
}

/// Which per-host limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum RequestClass {
    /// A home page, which a site renders for each request: `per_host_concurrency`.
    Page,
    /// A static file (icon, manifest), which shared hosts and CDNs serve by the thousand:
    /// `static_host_concurrency`.
    Static,
}

/// A response after redirects.
#[derive(Debug)]
pub(super) struct Fetched {
    /// The final URL, after redirects.
    pub url: Url,
    /// The final status.
    pub status: StatusCode,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The (decompressed, bounded) body of a 2xx response; empty otherwise.
    pub body: Vec<u8>,
    /// A home page's candidates, when reading it already extracted them from `body` (to
    /// stop after `</head>`): the page need not be parsed again.
    pub candidates: Option<Vec<html::Candidate>>,
}

/// The HTTP client with its guards.
#[derive(Debug, Clone)]
pub(super) struct Fetcher {
    pub client: reqwest::Client,
    pub network: Network,
    pub hosts: HostLimits,
    pub max_redirects: usize,
}

impl Fetcher {
    /// GETs `start`, following redirects. The time spent waiting for a per-host slot is
    /// recorded in `budget`, which pushes the domain's deadline back by it.
    pub async fn get(
        &self,
        start: &Url,
        limit: Limit,
        budget: &Budget,
    ) -> Result<Fetched, Failure> {
        let mut url = start.clone();
        url.set_fragment(None);
        let mut visited = vec![url.clone()];
        loop {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Failure::new(
                    FailureCategory::HttpStatus,
                    format!("{start} redirects to unsupported {url}"),
                ));
            }
            self.network
                .check_url(&url)
                .map_err(|blocked| Failure::new(FailureCategory::Blocked, blocked.to_string()))?;
            let (transport_url, host_header) = self.network.transport_url(&url);
            let host = url.host_str().unwrap_or_default();
            let _permit = match self.hosts.try_acquire(host, limit.class()) {
                Some(permit) => permit,
                None => {
                    let _waiting = budget.waiting();
                    self.hosts.acquire(host, limit.class()).await
                }
            };
            let mut request = self.client.get(transport_url);
            if let Some(host) = host_header {
                request = request.header(HOST, host);
            }
            let response = request.send().await.map_err(|e| classify(&e, &url))?;
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(LOCATION)
            {
                let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                let mut next = url.join(location.trim()).map_err(|e| {
                    Failure::new(
                        FailureCategory::HttpStatus,
                        format!("{url} redirects to an invalid location {location:?}: {e}"),
                    )
                })?;
                next.set_fragment(None);
                if visited.contains(&next) {
                    return Err(Failure::new(
                        FailureCategory::HttpStatus,
                        format!("redirect loop from {start} at {next}"),
                    ));
                }
                if visited.len() > self.max_redirects {
                    return Err(Failure::new(
                        FailureCategory::HttpStatus,
                        format!("more than {} redirects from {start}", self.max_redirects),
                    ));
                }
                visited.push(next.clone());
                drain(response, budget).await;
                url = next;
                continue;
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            let Body { body, candidates } = if status.is_success() {
                read_body(response, limit, &url, content_type.as_deref()).await?
            } else {
                drain(response, budget).await;
                Body::default()
            };
            return Ok(Fetched {
                url,
                status,
                content_type,
                body,
                candidates,
            });
        }
    }
}

/// The largest unwanted body (a redirect's, an error page's) read to its end so that its
/// connection can carry the origin's next request.
const DRAINED_BODY_MAX: usize = 8 * 1024;

/// The longest wait for the rest of an unwanted body: about what a new connection's TCP and
/// TLS handshakes cost on the internet, past which reconnecting is no slower.
const DRAIN_WAIT_MAX: Duration = Duration::from_millis(250);

/// Reads an unwanted body (a redirect's, an error page's) to its end when it is small, so that
/// hyper can put its connection back in the pool: a response dropped unread closes it, and the
/// origin's next request (its `/favicon.ico` after a 404 page, a redirect's next hop) would
/// need a new TCP and TLS handshake. A body announced or found larger than
/// [`DRAINED_BODY_MAX`], or not read within [`DRAIN_WAIT_MAX`] and the domain's deadline, is
/// dropped with its connection, as before. What is read is discarded; errors do not matter.
async fn drain(mut response: reqwest::Response, budget: &Budget) {
    if response
        .content_length()
        .is_some_and(|length| length > DRAINED_BODY_MAX as u64)
    {
        return;
    }
    let wait = budget
        .deadline()
        .saturating_duration_since(Instant::now())
        .min(DRAIN_WAIT_MAX);
    let read_to_end = async {
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read > DRAINED_BODY_MAX {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(wait, read_to_end).await;
}

/// What [`read_body`] read.
#[derive(Debug, Default)]
struct Body {
    body: Vec<u8>,
    /// The candidates of a page cut after `</head>`, extracted from `body` to decide it.
    candidates: Option<Vec<html::Candidate>>,
}

async fn read_body(
    mut response: reqwest::Response,
    limit: Limit,
    url: &Url,
    content_type: Option<&str>,
) -> Result<Body, Failure> {
    let too_large = |max: usize| {
        Failure::new(
            FailureCategory::TooLarge,
            format!("{url} is larger than {max} bytes"),
        )
    };
    let announced = response
        .content_length()
        .and_then(|length| usize::try_from(length).ok());
    if let Limit::Icon(max) = limit
        && announced.is_some_and(|length| length > max)
    {
        return Err(too_large(max));
    }
    let max = match limit {
        Limit::Icon(max) | Limit::Document(max) | Limit::Page(max) => max,
    };
    // One allocation when the length is announced (a compressed body's is not: it grows).
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(max));
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e, url))? {
        match limit {
            Limit::Icon(max) => {
                if body.len() + chunk.len() > max {
                    return Err(too_large(max));
                }
                body.extend_from_slice(&chunk);
            }
            Limit::Document(max) | Limit::Page(max) => {
                let searched_from = body.len().saturating_sub(6);
                let room = max.saturating_sub(body.len()).min(chunk.len());
                body.extend_from_slice(&chunk[..room]);
                if body.len() >= max {
                    break;
                }
                if matches!(limit, Limit::Page(_))
                    && contains_ignore_case(&body[searched_from..], b"</head")
                {
                    let charset = content_type.and_then(html::content_type_charset);
                    let candidates = html::extract_candidates(&body, charset, url);
                    if !candidates.is_empty() {
                        return Ok(Body {
                            body,
                            candidates: Some(candidates),
                        });
                    }
                }
            }
        }
    }
    Ok(Body {
        body,
        candidates: None,
    })
}

/// Whether `haystack` holds `needle`, ASCII case ignored: a vectorised scan for its first byte,
/// which is rare in a page (`<`), then a comparison of the rest there.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((first, rest)) = needle.split_first() else {
        return true;
    };
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        haystack,
    )
    .any(|at| {
        haystack
            .get(at + 1..at + needle.len())
            .is_some_and(|after| after.eq_ignore_ascii_case(rest))
    })
}

/// The category of a client error, found by walking its sources. A failed lookup reads as
/// the lookup's own message (`b.invalid: no such name (NXDOMAIN)`); other errors as the URL
/// and the chain of their sources.
fn classify(error: &reqwest::Error, url: &Url) -> Failure {
    let mut category = None;
    let mut dns_message = None;
    let mut no_such_name = false;
    let mut nx_domain = false;
    let mut refused = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut messages = Vec::new();
    while let Some(current) = source {
        messages.push(current.to_string());
        if current.downcast_ref::<BlockedAddress>().is_some() {
            category = Some(FailureCategory::Blocked);
        } else if let Some(dns) = current.downcast_ref::<DnsError>() {
            category = category.or(Some(FailureCategory::Dns));
            no_such_name = dns.is_no_such_name();
            nx_domain = dns.is_nx_domain();
            dns_message = Some(dns.to_string());
        } else if current.downcast_ref::<rustls::Error>().is_some() {
            category = category.or(Some(FailureCategory::Tls));
        }
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            refused = true;
        }
        // `io::Error::source` skips the error it wraps: descend into it instead.
        source = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    let category = category.unwrap_or(if error.is_timeout() {
        FailureCategory::Timeout
    } else {
        FailureCategory::Connect
    });
    let message = match (category, dns_message) {
        (FailureCategory::Dns, Some(dns)) => dns,
        _ => {
            messages.dedup();
            let chain = messages
                .iter()
                .skip(1)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(": ");
            format!("{url}: {chain}")
        }
    };
    let failure = Failure::new(category, message);
    match category {
        FailureCategory::Dns => Failure {
            nx_domain,
            ..failure.with_definite(no_such_name)
        },
        FailureCategory::Connect => failure.with_refused(refused),
        _ => failure,
    }
}

/// The bytes of a `data:` URL, at most `max` of them.
pub(super) fn data_url_bytes(url: &Url, max: usize) -> Result<Vec<u8>, Failure> {
    let not_image = |why: &str| Failure::new(FailureCategory::NotImage, format!("data: URL {why}"));
    let rest = url
        .as_str()
        .strip_prefix("data:")
        .ok_or_else(|| not_image("expected"))?;
    let (header, data) = rest
        .split_once(',')
        .ok_or_else(|| not_image("without a comma"))?;
    let decoded: Vec<u8> = percent_decode(data.as_bytes());
    let bytes = if header.to_ascii_lowercase().ends_with(";base64") {
        let compact: Vec<u8> = decoded
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
            .map_err(|_| not_image("with invalid base64"))?
    } else {
        decoded
    };
    if bytes.len() > max {
        return Err(Failure::new(
            FailureCategory::TooLarge,
            format!("data: URL is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[index] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).and_then(|b| hex(*b)),
                bytes.get(index + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(u8::try_from(high * 16 + low).unwrap_or_default());
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    out
}

/// At most N requests at once to one host, across every domain this resolver works on: home
/// pages and static files (icons, manifests) counted apart, each class with its own N. A host
/// asked only for files (a CDN, a shared asset host) thus gets the larger static limit, and a
/// site's own host gets at most both at once.
#[derive(Debug, Clone)]
pub(super) struct HostLimits {
    per_host_pages: usize,
    per_host_static: usize,
    hosts: Arc<Mutex<HostSemaphores>>,
}

type HostSemaphores = HashMap<(String, RequestClass), Arc<Semaphore>>;

/// A place in one host's queue; the host's entry goes when its last holder does.
#[derive(Debug)]
pub(super) struct HostPermit {
    key: (String, RequestClass),
    hosts: Arc<Mutex<HostSemaphores>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl HostLimits {
    pub fn new(per_host_pages: usize, per_host_static: usize) -> Self {
        Self {
            per_host_pages: per_host_pages.max(1),
            per_host_static: per_host_static.max(1),
            hosts: Arc::default(),
        }
    }

    fn semaphore(&self, key: &(String, RequestClass)) -> Arc<Semaphore> {
        let places = match key.1 {
            RequestClass::Page => self.per_host_pages,
            RequestClass::Static => self.per_host_static,
        };
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            hosts
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(places))),
        )
    }

    /// A place at `host` for a request of `class` when one is free now.
    pub fn try_acquire(&self, host: &str, class: RequestClass) -> Option<HostPermit> {
        let key = (host.to_owned(), class);
        let permit = self.semaphore(&key).try_acquire_owned().ok();
        let got = permit.is_some();
        // Dropped at once when no place was free, removing an entry made for nothing.
        let permit = HostPermit {
            key,
            hosts: Arc::clone(&self.hosts),
            permit,
        };
        got.then_some(permit)
    }

    /// A place at `host` for a request of `class`, waiting for one.
    pub async fn acquire(&self, host: &str, class: RequestClass) -> HostPermit {
        let key = (host.to_owned(), class);
        let semaphore = self.semaphore(&key);
        // The semaphore is never closed, so acquiring only waits.
        let permit = semaphore.acquire_owned().await.ok();
        HostPermit {
            key,
            hosts: Arc::clone(&self.hosts),
            permit,
        }
    }
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        drop(self.permit.take());
        // Only the map holds it: nobody holds or waits for a place.
        if hosts
            .get(&self.key)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            hosts.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[test]
    fn data_urls_are_decoded() {
        let url = Url::parse("data:image/png;base64,iVBO%52w0K%0AGgo=").unwrap();
        assert_eq!(data_url_bytes(&url, 100).unwrap(), b"\x89PNG\r\n\x1a\n");
        let url = Url::parse("data:image/svg+xml,%3Csvg%20viewBox='0 0 8 8'%3E").unwrap();
        assert_eq!(
            data_url_bytes(&url, 100).unwrap(),
            b"<svg viewBox='0 0 8 8'>"
        );
        assert_eq!(
            data_url_bytes(&url, 4).unwrap_err().category,
            FailureCategory::TooLarge
        );
    }

    /// A 200 response whose body comes in `chunks`, then fails if read further.
    fn chunked(chunks: &[&'static str]) -> reqwest::Response {
        let mut parts: Vec<Result<&'static str, std::io::Error>> =
            chunks.iter().map(|chunk| Ok(*chunk)).collect();
        parts.push(Err(std::io::Error::other("read past the end")));
        let body = reqwest::Body::wrap_stream(futures::stream::iter(parts));
        reqwest::Response::from(http::Response::new(body))
    }

    #[test]
    fn the_end_of_a_head_is_found_in_any_case() {
        assert!(contains_ignore_case(b"<title>x</title></HeAd>", b"</head"));
        assert!(contains_ignore_case(b"</head", b"</head"));
        assert!(!contains_ignore_case(b"</hea", b"</head"));
        assert!(!contains_ignore_case(b"<head></body>", b"</head"));
    }

    #[tokio::test]
    async fn a_page_is_read_up_to_the_head_that_declares_icons_and_parsed_there_once() {
        let url = Url::parse("https://example.com/").unwrap();
        let head = "<html><head><link rel=icon href=/a.png></he";
        let response = chunked(&[head, "ad><body>", "never read"]);
        let read = read_body(response, Limit::Page(1 << 20), &url, Some("text/html"))
            .await
            .unwrap();
        assert_eq!(read.body, format!("{head}ad><body>").as_bytes());
        let candidates = read.candidates.expect("the candidates found at </head>");
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].url.as_str(), "https://example.com/a.png");
    }

    #[tokio::test]
    async fn a_page_without_icons_in_its_head_is_read_on_and_left_to_parse() {
        let url = Url::parse("https://example.com/").unwrap();
        let response = chunked(&["<html><head></head>", "<body><link rel=icon href=/b.png>"]);
        let failure = read_body(response, Limit::Page(1 << 20), &url, None)
            .await
            .unwrap_err();
        assert_eq!(failure.category, FailureCategory::Connect, "{failure}");
        let response = chunked(&["<html><head></head>", "<body>"]);
        let read = read_body(response, Limit::Page(25), &url, None)
            .await
            .unwrap();
        assert_eq!(read.body, b"<html><head></head><body>");
        assert!(read.candidates.is_none());
        let response = chunked(&["<link rel=icon href=/c.png>"]);
        let read = read_body(response, Limit::Document(8), &url, None)
            .await
            .unwrap();
        assert_eq!(read.body, b"<link re");
        assert!(read.candidates.is_none());
    }

    #[tokio::test]
    async fn a_host_gets_at_most_n_requests_at_once_and_its_entry_goes_after() {
        use RequestClass::{Page, Static};
        let limits = HostLimits::new(2, 3);
        let first = limits.acquire("a.test", Page).await;
        let second = limits.acquire("a.test", Page).await;
        assert!(
            limits.acquire("a.test", Page).now_or_never().is_none(),
            "a third place was given"
        );
        assert!(limits.try_acquire("a.test", Page).is_none());
        assert!(limits.acquire("b.test", Page).now_or_never().is_some());
        // Static files have places of their own, more of them.
        let files: Vec<_> = (0..3)
            .map(|_| {
                limits
                    .try_acquire("a.test", Static)
                    .expect("a static place")
            })
            .collect();
        assert!(limits.try_acquire("a.test", Static).is_none());
        drop(files);
        drop(first);
        let third = limits.acquire("a.test", Page).now_or_never();
        assert!(third.is_some());
        drop(third);
        drop(second);
        assert!(limits.hosts.lock().unwrap().is_empty());
    }
}
