//! Liveness, readiness and the OpenAPI document, without auth.

use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::{
    error::{ApiError, ErrorBody},
    openapi::ApiDoc,
    state::AppState,
};

/// `/health`, `/ready` and `/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi))
}

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The database, the bucket and the topic are reachable.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Status), (status = 503, description = "A dependency is down", body = ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    store::ping(&state.db)
        .await
        .map_err(|error| unavailable("database", &error))?;
    state
        .aws
        .s3
        .head_bucket()
        .bucket(&state.settings.aws.bucket)
        .send()
        .await
        .map_err(|error| unavailable("s3", &error))?;
    state
        .aws
        .sns
        .get_topic_attributes()
        .topic_arn(&state.settings.aws.topic_arn)
        .send()
        .await
        .map_err(|error| unavailable("sns", &error))?;
    Ok(Json(Status { status: "ready" }))
}

/// This document: the API in OpenAPI 3.1.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn unavailable(dependency: &str, error: &dyn std::error::Error) -> ApiError {
    tracing::warn!(dependency, error.message = %error, "readiness check failed");
    ApiError::Unavailable(format!("{dependency} is not reachable"))
}
