//! Request timeouts that answer with the API's JSON error.
//!
//! The limit bounds the time until the response *head* is ready: reading the request (for an
//! upload, receiving the whole file and storing it in S3), the handler and its database
//! queries. A streamed body (the CSV download) is sent after that and is not bounded, so a
//! large download is never cut off midway. tower-http's `TimeoutLayer` bounds the same span
//! but answers with an empty body; this answers `408 {"error":{"code":"request_timeout",…}}`.
//!
//! On timeout the handler's future is dropped: work it had not finished is abandoned (a
//! partly sent multipart upload to S3 is aborted by [`crate::upload::S3StreamWriter`]'s
//! `Drop`).

use std::time::Duration;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::ApiError;

/// Middleware for `axum::middleware::from_fn_with_state(limit, bound)`: answers 408 when the
/// inner service has not produced a response head within `limit`.
pub async fn bound(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                http.path = %path,
                timeout.ms = limit.as_millis(),
                "request to {path} timed out after {limit:?}"
            );
            ApiError::Timeout { after: limit }.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::StatusCode, routing::get};
    use futures::StreamExt;
    use tower::ServiceExt;

    use super::*;

    fn app(limit: Duration) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route(
                "/stream",
                get(|| async {
                    let chunks = futures::stream::iter(0..4).then(|i| async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, std::io::Error>(format!("chunk {i}\n"))
                    });
                    Body::from_stream(chunks)
                }),
            )
            .layer(axum::middleware::from_fn_with_state(limit, bound))
    }

    async fn call(app: Router, path: &str) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_slow_handler_gets_a_json_408() {
        let (status, body) = call(app(Duration::from_millis(50)), "/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "request_timeout");
    }

    #[tokio::test]
    async fn a_streamed_body_may_outlast_the_limit() {
        // The head is immediate; the four chunks take 400 ms, eight times the limit.
        let (status, body) = call(app(Duration::from_millis(50)), "/stream").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.lines().count(), 4, "{body}");
    }
}
