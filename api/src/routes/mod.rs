//! The HTTP surface: one module per resource, merged here with the request-id and tracing
//! middleware.

pub mod files;
pub mod health;
pub mod jobs;

use axum::{Router, extract::MatchedPath, http::Request};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::state::AppState;

/// The header carrying the request id, set when absent and returned on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// All routes with their middleware.
pub fn router(state: AppState) -> Router {
    let header = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    let trace = TraceLayer::new_for_http()
        .on_response(
            DefaultOnResponse::new()
                .level(tracing::Level::INFO)
                .latency_unit(tower_http::LatencyUnit::Millis),
        )
        .make_span_with(|request: &Request<_>| {
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or_default();
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or(request.uri().path(), MatchedPath::as_str);
            tracing::info_span!(
                "http.request",
                http.request_id = %request_id,
                http.method = %request.method(),
                http.route = %route,
                http.path = %request.uri().path(),
                client.id = tracing::field::Empty,
            )
        });
    Router::new()
        .merge(health::router())
        .merge(files::router(&state))
        .merge(jobs::router(&state))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(header)),
        )
}
