//! A local web server that answers for every host name, so favicon lookups in tests never
//! leave the machine. Every host has `/favicon.ico` except those whose name starts with
//! `missing`; every other path is 404. It counts the
//! requests each host receives, so tests can tell when a domain was fetched twice.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};

/// A 1-entry, 16x16 ICO header followed by filler bytes.
pub const ICO_BYTES: &[u8] = &[
    0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 8, 0, 0, 0, 22, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// A running icon server.
#[derive(Debug, Clone)]
pub struct IconServer {
    /// Where it listens (loopback, random port).
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

#[derive(Debug)]
struct ServerState {
    delay: Duration,
    requests: Mutex<HashMap<String, u32>>,
}

impl IconServer {
    /// Starts a server that answers at once.
    pub async fn start() -> Self {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// Starts a server that waits `delay` before every answer, like a distant web server.
    pub async fn start_with_delay(delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind icon server");
        let addr = listener.local_addr().expect("icon server address");
        let state = Arc::new(ServerState {
            delay,
            requests: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    /// Requests received so far, per host name.
    pub fn requests_by_host(&self) -> HashMap<String, u32> {
        self.state.requests.lock().expect("request counts").clone()
    }
}

async fn answer(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    *state
        .requests
        .lock()
        .expect("request counts")
        .entry(host.clone())
        .or_default() += 1;
    tokio::time::sleep(state.delay).await;
    if host.starts_with("missing") || uri.path() != "/favicon.ico" {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            b"<h1>not found</h1>".as_slice(),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "image/x-icon")],
        ICO_BYTES,
    )
        .into_response()
}
