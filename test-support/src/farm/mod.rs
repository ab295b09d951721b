//! A local web farm: ONE listener on a random loopback port serving many virtual hosts over
//! HTTP and HTTPS, so that the resolver, pointed at it with `connect_to`, meets every case a
//! real web has without leaving the machine.
//!
//! The first byte of each connection tells TLS (0x16, a handshake record) from plain HTTP; the
//! host is the SNI name and the `Host` header. Each SNI name gets a certificate of its own from
//! a test CA made at start ([`Farm::ca_cert_path`] for `--ca-cert`). What each host answers is
//! in [`scenarios`]; how long it waits first, in [`Latency`].
//!
//! Dead hosts are decided per name once the client has spoken: after the ClientHello (SNI) a
//! TLS connection can be reset (`refused`) or left unanswered (`tls-stall`); after the request
//! head a connection can be reset or left unanswered (`hang`). Waits cost the farm no CPU: a
//! hanging connection is a parked task, released when the client gives up.

pub mod dns;
pub mod images;
pub mod latency;
pub mod scenarios;
mod tls;

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::body::Body;
use common::config::ResolverSettings;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite},
    net::{TcpListener, TcpStream},
};

pub use latency::Latency;
use scenarios::{Handshake, Reply};
pub use scenarios::{NXDOMAIN_OVERRIDE, SCENARIOS};

/// How the farm behaves.
#[derive(Debug, Clone, Default)]
pub struct FarmConfig {
    /// Waited before every response (benchmarks).
    pub latency: Latency,
}

/// A running farm; stops accepting when dropped.
#[derive(Debug)]
pub struct Farm {
    /// Where it listens: give it to the resolver as `connect_to`.
    pub addr: SocketAddr,
    /// The test CA, PEM.
    pub ca_pem: String,
    ca_file: tempfile::NamedTempFile,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

/// What the farm has done so far, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FarmStats {
    /// HTTP requests received, every host and scheme.
    pub requests: u64,
    /// 2xx HTML responses sent over https (home pages, after redirects).
    pub html_pages_https: u64,
    /// The same over plain http.
    pub html_pages_http: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// Those of them that resumed an earlier session (a session ticket: no certificate
    /// sent or checked).
    pub tls_resumed: u64,
    /// TLS handshakes that failed after the ClientHello: the client refused the certificate,
    /// the name has none, or the client gave up (its deadline passed) mid-handshake.
    pub tls_failures: u64,
    /// Leaf certificates issued (one per SNI name not in the cache).
    pub certificates_issued: u64,
    /// Time spent issuing them, in microseconds.
    pub certificate_micros: u64,
    /// Connections open now.
    pub open_connections: u64,
}

/// Why a connection is closed without an answer.
#[derive(Debug, thiserror::Error)]
#[error("the farm refuses this host")]
struct Refused;

#[derive(Debug, Default)]
struct Counters {
    html_pages_https: AtomicU64,
    html_pages_http: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_resumed: AtomicU64,
    tls_failures: AtomicU64,
    open_connections: AtomicU64,
}

#[derive(Debug)]
struct State {
    tls: Arc<rustls::ServerConfig>,
    issuing: Arc<tls::IssuingStats>,
    latency: Latency,
    requests: Mutex<HashMap<String, u64>>,
    /// Per host: requests being answered now, and the most ever at once.
    in_flight: Mutex<HashMap<String, InFlight>>,
    /// Hosts that wait this long before every response, whatever the latency.
    slow_hosts: Mutex<HashMap<String, Duration>>,
    counters: Counters,
}

#[derive(Debug, Default, Clone, Copy)]
struct InFlight {
    now: u64,
    peak: u64,
}

/// Counts a request to a host as being answered while it lives.
struct Answering<'a> {
    host: String,
    in_flight: &'a Mutex<HashMap<String, InFlight>>,
}

impl<'a> Answering<'a> {
    fn new(host: &str, in_flight: &'a Mutex<HashMap<String, InFlight>>) -> Self {
        let mut hosts = in_flight.lock().expect("requests in flight");
        let counts = hosts.entry(host.to_owned()).or_default();
        counts.now += 1;
        counts.peak = counts.peak.max(counts.now);
        Self {
            host: host.to_owned(),
            in_flight,
        }
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        let mut hosts = self.in_flight.lock().expect("requests in flight");
        if let Some(counts) = hosts.get_mut(&self.host) {
            counts.now -= 1;
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenConnection<'a>(&'a AtomicU64);

impl<'a> OpenConnection<'a> {
    fn new(open: &'a AtomicU64) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Farm {
    /// Starts a farm with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(FarmConfig::default()).await
    }

    /// Starts a farm.
    pub async fn start_with(config: FarmConfig) -> Self {
        let refuse: Vec<&str> = scenarios::REFUSED
            .iter()
            .chain(scenarios::REFUSE_TLS_ONLY)
            .copied()
            .collect();
        let tls = tls::generate(&refuse, scenarios::UNTRUSTED);
        let mut ca_file = tempfile::NamedTempFile::new().expect("CA file");
        std::io::Write::write_all(&mut ca_file, tls.ca_pem.as_bytes()).expect("write CA file");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the farm");
        let addr = listener.local_addr().expect("farm address");
        let state = Arc::new(State {
            tls: tls.config,
            issuing: tls.issuing,
            latency: config.latency,
            requests: Mutex::default(),
            in_flight: Mutex::default(),
            slow_hosts: Mutex::default(),
            counters: Counters::default(),
        });
        let serving = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, Arc::clone(&serving)));
            }
        });
        Self {
            addr,
            ca_pem: tls.ca_pem,
            ca_file,
            state,
            accept,
        }
    }

    /// A PEM file holding the test CA, for `--ca-cert` and `RESOLVER_CA_CERT`.
    pub fn ca_cert_path(&self) -> &Path {
        self.ca_file.path()
    }

    /// Requests received so far with this `Host`.
    pub fn requests_to(&self, host: &str) -> u64 {
        let requests = self.state.requests.lock().expect("request counts");
        requests.get(host).copied().unwrap_or_default()
    }

    /// The most requests to `host` the farm was answering at once so far (a request counts
    /// from its head received to its response's head sent, or until the client gives up).
    pub fn peak_concurrent_requests_to(&self, host: &str) -> u64 {
        let in_flight = self.state.in_flight.lock().expect("requests in flight");
        in_flight
            .get(host)
            .map(|counts| counts.peak)
            .unwrap_or_default()
    }

    /// Makes `host` wait `wait` before every response from now on, instead of the latency
    /// (e.g. a slow shared icon host).
    pub fn slow_down(&self, host: &str, wait: Duration) {
        let mut slow_hosts = self.state.slow_hosts.lock().expect("slow hosts");
        slow_hosts.insert(host.to_ascii_lowercase(), wait);
    }

    /// Requests received so far, all hosts together.
    pub fn total_requests(&self) -> u64 {
        let requests = self.state.requests.lock().expect("request counts");
        requests.values().sum()
    }

    /// What the farm has done so far.
    pub fn stats(&self) -> FarmStats {
        let counters = &self.state.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FarmStats {
            requests: self.total_requests(),
            html_pages_https: load(&counters.html_pages_https),
            html_pages_http: load(&counters.html_pages_http),
            tls_handshakes: load(&counters.tls_handshakes),
            tls_resumed: load(&counters.tls_resumed),
            tls_failures: load(&counters.tls_failures),
            certificates_issued: self.state.issuing.issued(),
            certificate_micros: self.state.issuing.micros(),
            open_connections: load(&counters.open_connections),
        }
    }

    /// Resolver settings that send everything to this farm and trust its CA, with private
    /// addresses blocked, `loopback.test` resolving to 127.0.0.1 and `private.test` to
    /// 10.0.0.1 (both checked like DNS answers), names under `nx.test` not existing, a 5 s
    /// deadline and no retries.
    pub fn resolver_settings(&self) -> ResolverSettings {
        ResolverSettings {
            domain_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_tries: 1,
            user_agent: "favicon-farm-tests".to_owned(),
            connect_to: Some(self.addr),
            dns_override: vec![
                ("loopback.test".to_owned(), [127, 0, 0, 1].into()),
                ("private.test".to_owned(), [10, 0, 0, 1].into()),
            ],
            dns_nxdomain: vec![NXDOMAIN_OVERRIDE.to_owned()],
            ca_cert: Some(self.ca_cert_path().to_owned()),
            allow_private: false,
            ..ResolverSettings::default()
        }
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let _open = OpenConnection::new(&state.counters.open_connections);
    let mut first = [0_u8; 1];
    if !matches!(stream.peek(&mut first).await, Ok(1)) {
        return;
    }
    let reset = if first[0] == 0x16 {
        serve_tls(&mut stream, &state).await
    } else {
        serve_http(&mut stream, &state, "http").await
    };
    if reset {
        reset_connection(stream);
    }
}

/// Reads the ClientHello, then completes the handshake, stalls or resets as the SNI name's
/// scenario says. True when the connection is to be reset.
async fn serve_tls(stream: &mut TcpStream, state: &Arc<State>) -> bool {
    let acceptor = rustls::server::Acceptor::default();
    let Ok(start) = tokio_rustls::LazyConfigAcceptor::new(acceptor, &mut *stream).await else {
        return false;
    };
    let name = start
        .client_hello()
        .server_name()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scenarios::handshake(&name) {
        Handshake::Reset => true,
        Handshake::Stall => {
            drop(start);
            hold(stream).await;
            false
        }
        Handshake::Complete => match start.into_stream(Arc::clone(&state.tls)).await {
            Ok(tls) => {
                state
                    .counters
                    .tls_handshakes
                    .fetch_add(1, Ordering::Relaxed);
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    state.counters.tls_resumed.fetch_add(1, Ordering::Relaxed);
                }
                serve_http(tls, state, "https").await
            }
            Err(_) => {
                state.counters.tls_failures.fetch_add(1, Ordering::Relaxed);
                false
            }
        },
    }
}

/// Keeps a connection open without a word until the client closes it (or [`HANG_LIMIT`]).
///
/// [`HANG_LIMIT`]: scenarios::HANG_LIMIT
async fn hold(stream: &mut TcpStream) {
    let mut sink = [0_u8; 1024];
    let _ = tokio::time::timeout(scenarios::HANG_LIMIT, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Closes with a reset (RST), as a host with nothing listening answers a connection.
fn reset_connection(stream: TcpStream) {
    // A zero linger makes close send RST at once: it never blocks, which is what the
    // deprecation warns about.
    #[expect(deprecated, reason = "a zero linger never blocks the thread")]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Serves HTTP/1.1 on `io`. True when a reply asked for the connection to be reset.
async fn serve_http<I>(io: I, state: &Arc<State>, scheme: &'static str) -> bool
where
    I: AsyncRead + AsyncWrite + Unpin + Send,
{
    let reset = Arc::new(AtomicBool::new(false));
    let service = {
        let (state, reset) = (Arc::clone(state), Arc::clone(&reset));
        service_fn(move |request: Request<Incoming>| {
            let (state, reset) = (Arc::clone(&state), Arc::clone(&reset));
            async move { state.answer(&request, scheme, &reset).await }
        })
    };
    // Clients that go away, and refused hosts, end connections with errors: that is fine.
    // A client that gives up on a pending answer closes the connection, which hyper sees
    // and drops the answer's task: nothing is left waiting.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
    reset.load(Ordering::Relaxed)
}

impl State {
    async fn answer(
        &self,
        request: &Request<Incoming>,
        scheme: &'static str,
        reset: &AtomicBool,
    ) -> Result<Response<Body>, Refused> {
        let host = request
            .headers()
            .get(hyper::header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| request.uri().host())
            .unwrap_or_default();
        let host = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
        *self
            .requests
            .lock()
            .expect("request counts")
            .entry(host.clone())
            .or_default() += 1;
        let _answering = Answering::new(&host, &self.in_flight);
        let path = request.uri().path().to_owned();
        let slow = self
            .slow_hosts
            .lock()
            .expect("slow hosts")
            .get(&host)
            .copied();
        let wait = slow.unwrap_or_else(|| self.latency.for_response(&host, &path));
        let reply = scenarios::reply(&scenarios::Request { scheme, host, path });
        match reply {
            Reply::Refuse => {
                reset.store(true, Ordering::Relaxed);
                return Err(Refused);
            }
            Reply::Hang => {
                tokio::time::sleep(scenarios::HANG_LIMIT).await;
                return Err(Refused);
            }
            _ => {}
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let pages = match scheme {
            "https" => &self.counters.html_pages_https,
            _ => &self.counters.html_pages_http,
        };
        Ok(match reply {
            Reply::Refuse | Reply::Hang => return Err(Refused),
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let html = headers
                    .iter()
                    .any(|(name, value)| *name == "content-type" && value.starts_with("text/html"));
                if html && (200..300).contains(&status) {
                    pages.fetch_add(1, Ordering::Relaxed);
                }
                let mut response = Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                response.body(Body::from(body)).expect("a valid response")
            }
            Reply::Drip {
                prefix,
                interval,
                max,
            } => {
                pages.fetch_add(1, Ordering::Relaxed);
                let start = (0_usize, Some(prefix));
                let drip = futures::stream::unfold(start, move |(sent, prefix)| async move {
                    if sent >= max {
                        return None;
                    }
                    let chunk = match prefix {
                        Some(prefix) => prefix,
                        None => {
                            tokio::time::sleep(interval).await;
                            b" ".to_vec()
                        }
                    };
                    Some((Ok::<_, Infallible>(chunk), (sent + 1, None)))
                });
                Response::builder()
                    .header("content-type", "text/html")
                    .body(Body::from_stream(drip))
                    .expect("a valid response")
            }
            Reply::Trickle {
                body,
                chunk,
                interval,
            } => {
                pages.fetch_add(1, Ordering::Relaxed);
                let chunks = body.chunks(chunk.max(1)).enumerate();
                let trickle = futures::StreamExt::then(
                    futures::stream::iter(chunks),
                    move |(n, piece)| async move {
                        if n > 0 {
                            tokio::time::sleep(interval).await;
                        }
                        Ok::<_, Infallible>(piece)
                    },
                );
                Response::builder()
                    .header("content-type", "text/html; charset=utf-8")
                    .body(Body::from_stream(trickle))
                    .expect("a valid response")
            }
        })
    }
}
