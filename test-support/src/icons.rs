//! A local web server that answers for every host name, so favicon lookups in tests never
//! leave the machine. Hosts whose name starts with `missing` have no icon.

use std::net::SocketAddr;

use axum::{
    Router,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::get,
};

/// A 1-entry, 16x16 ICO header followed by filler bytes.
pub const ICO_BYTES: &[u8] = &[
    0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 8, 0, 0, 0, 22, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
];

async fn favicon(headers: HeaderMap) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if host.starts_with("missing") {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            b"<h1>not found</h1>".as_slice(),
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "image/x-icon")],
        ICO_BYTES,
    )
}

/// Starts the server on a random loopback port and returns its address.
pub async fn spawn_icon_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind icon server");
    let address = listener.local_addr().expect("icon server address");
    let app = Router::new().route("/favicon.ico", get(favicon));
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}
