//! The HTTP surface: one module per resource, merged here with the request-id, tracing and
//! metrics middleware (a client's request id is kept only when it is a short safe token), the
//! body limit and the request timeouts. Per-client rate limiting happens when
//! a request authenticates ([`crate::auth::AuthenticatedClient`]).

pub mod events;
pub mod file_actions;
pub mod file_counts;
pub mod file_endpoints;
pub mod health;
pub mod icons;
pub mod jobs;
pub mod metrics;
pub mod page;
pub mod session;
pub mod webhooks;

use std::time::Instant;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use tower::{ServiceBuilder, util::MapRequestLayer};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{error, state::AppState, timeout};

/// The header carrying the request id, set when absent and returned on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id kept from a client.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's request id is kept: 1 to 64 ASCII letters, digits, `.`, `_` and `-`.
/// It is logged with every line of the request and returned, so anything else (spaces,
/// quotes, `=`, escape sequences, bytes that are not ASCII) could forge log fields or lines.
pub fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Removes a request id that is not [safe](is_safe_request_id), so that a fresh one is made
/// for the request instead.
fn drop_unsafe_request_id<B>(mut request: Request<B>) -> Request<B> {
    let headers = request.headers_mut();
    let values = headers.get_all(REQUEST_ID_HEADER);
    let mut values = values.iter();
    let keep = values
        .next()
        .is_some_and(|value| is_safe_request_id(value.as_bytes()))
        && values.next().is_none();
    if !keep {
        headers.remove(REQUEST_ID_HEADER);
    }
    request
}

/// Counts the request and its latency (to the response head) by method, route template and
/// status. The template, never the path, so `/files/{id}` is one series whatever the id.
async fn count_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    common::metrics::http_request(
        method.as_str(),
        route.as_ref().map(MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

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
    let uploads = file_endpoints::upload_router(&state)
        .layer(time_limit(api.upload_timeout))
        .layer(axum::middleware::map_response(
            file_endpoints::close_unless_accepted,
        ));
    let everything_else = Router::new()
        .merge(health::router())
        .merge(file_endpoints::router())
        .merge(file_actions::router())
        // Bounded to the response head like the others: a stream's head is sent at once.
        .merge(events::router())
        .merge(jobs::router())
        .merge(icons::router())
        .merge(metrics::router())
        .merge(webhooks::router())
        .merge(session::router())
        .merge(file_counts::router())
        .merge(page::router())
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
                .layer(MapRequestLayer::new(drop_unsafe_request_id))
                .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
                .layer(trace)
                .layer(axum::middleware::from_fn(count_request))
                .layer(PropagateRequestIdLayer::new(header)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_tokens_are_kept_as_request_ids() {
        for safe in [
            "a",
            "abc-123_X.y",
            "01a20a5d-eda6-7453-87af-b08040fbf206",
            &"a".repeat(64),
        ] {
            assert!(is_safe_request_id(safe.as_bytes()), "{safe}");
        }
        for unsafe_id in [
            "",
            "a b",
            "id=\"x\" level=ERROR",
            "\u{1b}[31mred",
            "caf\u{e9}",
            &"a".repeat(65),
        ] {
            assert!(!is_safe_request_id(unsafe_id.as_bytes()), "{unsafe_id:?}");
        }
    }
}
