//! Liveness and readiness, without auth.

use axum::{Json, Router, extract::State, routing::get};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{error::ApiError, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// The process is alive.
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database, the bucket and the topic are reachable; 503 naming the first that is not.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .db
        .execute_unprepared("SELECT 1")
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
    Ok(Json(
        json!({ "status": "ready", "checks": { "database": "ok", "s3": "ok", "sns": "ok" } }),
    ))
}

fn unavailable(dependency: &str, error: &dyn std::error::Error) -> ApiError {
    tracing::warn!(dependency, error.message = %error, "readiness check failed");
    ApiError::Unavailable(format!("{dependency} is not reachable"))
}
