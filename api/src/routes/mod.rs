//! The HTTP surface: one module per resource, merged here with the request-id and tracing
//! middleware, the body limit and the request timeouts. Per-client rate limiting happens when
//! a request authenticates ([`crate::auth::AuthenticatedClient`]).

pub mod files;
pub mod health;
pub mod jobs;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath},
    http::Request,
};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{error, state::AppState, timeout};

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
    let settings = state.settings.clone();
    let api = &settings.api;
    let time_limit = |limit| axum::middleware::from_fn_with_state(limit, timeout::bound);
    let uploads = files::upload_router(&state)
        .layer(time_limit(api.upload_timeout))
        .layer(axum::middleware::map_response(files::close_unless_accepted));
    let everything_else = Router::new()
        .merge(health::router())
        .merge(files::router())
        .merge(jobs::router())
        .layer(time_limit(api.request_timeout));
    Router::new()
        .merge(uploads)
        .merge(everything_else)
        .fallback(error::unknown_path)
        .method_not_allowed_fallback(error::method_not_allowed)
        // Every body an extractor reads is limited; the upload route sets its own, larger one.
        .layer(DefaultBodyLimit::max(api.max_json_body_bytes))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(header)),
        )
}
