//! The HTTP surface: one module per resource, merged here with the request-id and tracing
//! middleware.

mod files;
mod health;

use axum::{Router, extract::MatchedPath, http::Request};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::state::AppState;

/// The header carrying the request id, set when absent and returned on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// All routes with their middleware.
pub fn router(state: AppState) -> Router {
    let header = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
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
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(header)),
        )
}
