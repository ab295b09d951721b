//! The HTTP/1 server loop, in place of `axum::serve`, for two limits that `axum::serve` cannot
//! set:
//!
//! - **Request heads are read within a deadline** (`HEADER_READ_TIMEOUT_SECS`): hyper closes a
//!   connection that has not sent a whole request head in time, so a client dripping one
//!   header line at a time (slowloris) cannot hold a connection. hyper's timer covers only the
//!   head; bodies are bounded by the request timeouts ([`crate::timeout`]). The same deadline
//!   closes a keep-alive connection left idle that long.
//! - **Open connections are capped** (`MAX_CONNECTIONS`): a permit of a semaphore is taken
//!   before each `accept` and held by the connection's task, so at the cap the loop stops
//!   accepting and new connections wait in the kernel's listen backlog until one closes,
//!   instead of each costing a task, buffers and a file descriptor.
//!
//! Each request carries the peer's address as [`ConnectInfo`], for the per-address limit on
//! failed authentication. On shutdown the loop stops accepting, asks every connection to
//! finish its request in flight and close, and returns once all have (all permits are back).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long to pause after a failed `accept` (usually out of file descriptors) before trying
/// again, as `axum::serve` does.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time allowed to send a whole request head.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener` within `limits` until `shutdown` is cancelled, then waits for
/// the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let max_connections = u32::try_from(limits.max_connections)
        .unwrap_or(u32::MAX)
        .max(1);
    let connections = Arc::new(Semaphore::new(max_connections as usize));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_closed) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(error.message = %error, "failed to accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                log_connection_error(peer, &error);
            }
        });
    }
    drop(listener);
    // Every connection holds a permit until it closes: all of them back means all closed.
    let _ = connections.acquire_many(max_connections).await;
}

/// A connection that ended in an error: the client went away or, for a header timeout, was
/// too slow. Neither is the server's fault, so it is a debug line, not a warning.
fn log_connection_error(peer: SocketAddr, error: &hyper::Error) {
    if error.is_timeout() {
        tracing::debug!(net.peer = %peer, "closed a connection that sent no request head in time");
    } else {
        tracing::debug!(net.peer = %peer, error.message = %error, "connection ended with an error");
    }
}
