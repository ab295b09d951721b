//! A local web farm: ONE listener on a random loopback port serving many virtual hosts over
//! HTTP and HTTPS, so that the resolver, pointed at it with `connect_to`, meets every case a
//! real web has without leaving the machine.
//!
//! The first byte of each connection tells TLS (0x16, a handshake record) from plain HTTP; the
//! host is the SNI name and the `Host` header. Each SNI name gets a certificate of its own from
//! a test CA made at start ([`Farm::ca_cert_path`] for `--ca-cert`). What each host answers is
//! in [`scenarios`].

pub mod images;
pub mod scenarios;
mod tls;

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::body::Body;
use common::config::ResolverSettings;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
};

use scenarios::Reply;
pub use scenarios::SCENARIOS;

/// How the farm behaves.
#[derive(Debug, Clone, Default)]
pub struct FarmConfig {
    /// Waited before every response (benchmarks).
    pub latency: Duration,
}

/// A running farm; stops accepting when dropped.
#[derive(Debug)]
pub struct Farm {
    /// Where it listens: give it to the resolver as `connect_to`.
    pub addr: SocketAddr,
    /// The test CA, PEM.
    pub ca_pem: String,
    ca_file: tempfile::NamedTempFile,
    requests: Arc<Mutex<HashMap<String, u64>>>,
    accept: tokio::task::JoinHandle<()>,
}

/// Why a connection is closed without an answer.
#[derive(Debug, thiserror::Error)]
#[error("the farm refuses this host")]
struct Refused;

#[derive(Debug)]
struct State {
    tls: Arc<rustls::ServerConfig>,
    latency: Duration,
    requests: Arc<Mutex<HashMap<String, u64>>>,
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
        let requests = Arc::new(Mutex::new(HashMap::new()));
        let state = Arc::new(State {
            tls: tls.config,
            latency: config.latency,
            requests: Arc::clone(&requests),
        });
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, Arc::clone(&state)));
            }
        });
        Self {
            addr,
            ca_pem: tls.ca_pem,
            ca_file,
            requests,
            accept,
        }
    }

    /// A PEM file holding the test CA, for `--ca-cert` and `RESOLVER_CA_CERT`.
    pub fn ca_cert_path(&self) -> &Path {
        self.ca_file.path()
    }

    /// Requests received so far with this `Host`.
    pub fn requests_to(&self, host: &str) -> u64 {
        let requests = self.requests.lock().expect("request counts");
        requests.get(host).copied().unwrap_or_default()
    }

    /// Requests received so far, all hosts together.
    pub fn total_requests(&self) -> u64 {
        let requests = self.requests.lock().expect("request counts");
        requests.values().sum()
    }

    /// Resolver settings that send everything to this farm and trust its CA, with private
    /// addresses blocked, `loopback.test` resolving to 127.0.0.1 and `private.test` to
    /// 10.0.0.1 (both checked like DNS answers), a 5 s deadline and no retries.
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

async fn serve(stream: TcpStream, state: Arc<State>) {
    let mut first = [0_u8; 1];
    if !matches!(stream.peek(&mut first).await, Ok(1)) {
        return;
    }
    if first[0] == 0x16 {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&state.tls));
        if let Ok(tls) = acceptor.accept(stream).await {
            serve_http(tls, state, "https").await;
        }
    } else {
        serve_http(stream, state, "http").await;
    }
}

async fn serve_http<I>(io: I, state: Arc<State>, scheme: &'static str)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { state.answer(&request, scheme).await }
    });
    // Clients that go away, and refused hosts, end connections with errors: that is fine.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

impl State {
    async fn answer(
        &self,
        request: &Request<Incoming>,
        scheme: &'static str,
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
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let reply = scenarios::reply(&scenarios::Request {
            scheme,
            host,
            path: request.uri().path().to_owned(),
        });
        Ok(match reply {
            Reply::Refuse => return Err(Refused),
            Reply::Full {
                status,
                headers,
                body,
            } => {
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
        })
    }
}
