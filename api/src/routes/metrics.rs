//! `GET /metrics`: every metric of this process in Prometheus's text format
//! ([`common::metrics`] names and describes them).
//!
//! Without auth, like `/health`: it is for scrapers inside the VPC. The load balancer answers
//! 404 for `/metrics*` (`HideMetricsRule` in `infra/production.yaml`), so it never reaches the
//! internet, and the labels hold no client, file or domain.

use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};

use crate::state::AppState;

/// `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Request counts and latencies of this api instance, in Prometheus's text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, common::metrics::CONTENT_TYPE)],
        common::metrics::render(),
    )
}
