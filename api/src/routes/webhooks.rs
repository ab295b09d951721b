//! `/webhook`: a client's callback URL and signing secret, and `/files/{id}/webhook-deliveries`:
//! what was sent about a file. The worker delivers (`worker::webhooks`); the rule for URLs is
//! [`common::callback_url`].

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post, put},
};
use chrono::{DateTime, Utc};
use common::callback_url::CallbackUrl;
use entity::{DeliveryState, FileStatus, webhook_attempts, webhook_deliveries, webhooks};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::file_endpoints::owned_file;
use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppJson, AppPath, ErrorBody},
    state::AppState,
};

/// The webhook endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/webhook",
            put(register_webhook)
                .get(get_webhook)
                .delete(delete_webhook),
        )
        .route("/webhook/rotate-secret", post(rotate_secret))
        .route("/files/{id}/webhook-deliveries", get(file_deliveries))
}

/// Checks `text` as a callback URL by the rule of favicon fetches (https or http, no
/// credentials, every address public): `400 invalid_callback_url` with the reason otherwise.
pub async fn checked_callback_url(state: &AppState, text: &str) -> Result<CallbackUrl> {
    CallbackUrl::check(text, &state.settings.callback_urls)
        .await
        .map_err(|reason| {
            ApiError::bad_request(
                "invalid_callback_url",
                format!("invalid callback URL: {reason}"),
            )
        })
}

/// A per-upload (or per-job) callback URL, checked; the client must have a webhook, whose
/// secret signs every delivery.
pub async fn override_callback_url(
    state: &AppState,
    client_id: Uuid,
    text: &str,
) -> Result<String> {
    let url = checked_callback_url(state, text).await?;
    if store::webhooks::find(&state.db, client_id).await?.is_none() {
        return Err(ApiError::bad_request(
            "invalid_callback_url",
            "invalid callback URL: register a webhook with PUT /webhook first; its secret \
             signs every delivery",
        ));
    }
    Ok(url.as_str().to_owned())
}

/// Body of `PUT /webhook`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookRequest {
    /// Where notifications are POSTed: `https` or `http`, no credentials, a public host.
    pub url: String,
}

/// A webhook as `GET /webhook` shows it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Where notifications go.
    pub url: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its URL or secret last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<webhooks::Model> for WebhookView {
    fn from(webhook: webhooks::Model) -> Self {
        Self {
            url: webhook.url,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
        }
    }
}

/// A webhook just registered or given a new secret, with that secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredWebhookView {
    /// Where notifications go.
    pub url: String,
    /// Signs every notification (`Favicon-Signature`); keep it secret.
    pub secret: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its URL or secret last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<store::webhooks::RegisteredWebhook> for RegisteredWebhookView {
    fn from(registered: store::webhooks::RegisteredWebhook) -> Self {
        let webhook = registered.webhook;
        Self {
            url: webhook.url,
            secret: webhook.secret,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
        }
    }
}

/// Register (or replace) the caller's webhook; a new signing secret is generated and shown.
#[utoipa::path(put, path = "/webhook", tag = "webhooks", request_body = WebhookRequest,
    responses(
        (status = 200, description = "Registered; the secret is shown only now", body = RegisteredWebhookView),
        (status = 400, description = "`invalid_callback_url`: not https or http, credentials in the URL, a host that does not resolve or is not public; `invalid_json`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "The JSON has no string `url`", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn register_webhook(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppJson(request): AppJson<WebhookRequest>,
) -> Result<AppJson<RegisteredWebhookView>> {
    let url = checked_callback_url(&state, &request.url).await?;
    let registered = store::webhooks::register(&state.db, client.id, url.as_str()).await?;
    tracing::info!(client.id = %client.id, "client {} registered a webhook", client.id);
    Ok(AppJson(registered.into()))
}

/// The caller's webhook, without its secret.
#[utoipa::path(get, path = "/webhook", tag = "webhooks",
    responses((status = 200, body = WebhookView), (status = 401, body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    client: AuthenticatedClient,
) -> Result<AppJson<WebhookView>> {
    let webhook = store::webhooks::find(&state.db, client.id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(AppJson(webhook.into()))
}

/// Remove the caller's webhook; notifications not delivered yet are given up.
#[utoipa::path(delete, path = "/webhook", tag = "webhooks",
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    client: AuthenticatedClient,
) -> Result<StatusCode> {
    if store::webhooks::delete(&state.db, client.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("webhook"))
    }
}

/// Give the caller's webhook a new signing secret, shown once; the old one stops signing at
/// once.
#[utoipa::path(post, path = "/webhook/rotate-secret", tag = "webhooks",
    responses((status = 200, body = RegisteredWebhookView), (status = 401, body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    client: AuthenticatedClient,
) -> Result<AppJson<RegisteredWebhookView>> {
    let rotated = store::webhooks::rotate_secret(&state.db, client.id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(AppJson(rotated.into()))
}

/// One attempt to deliver a notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first.
    pub number: i32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// Until the answer (or the failure), in milliseconds.
    pub duration_ms: i32,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// What went wrong, when something did.
    pub error: Option<String>,
}

impl From<webhook_attempts::Model> for AttemptView {
    fn from(attempt: webhook_attempts::Model) -> Self {
        Self {
            number: attempt.number,
            started_at: attempt.started_at,
            duration_ms: attempt.duration_ms,
            status_code: attempt.status_code,
            error: attempt.error,
        }
    }
}

/// A notification about a file and its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The notification's id, also sent as the body's `id`, so that a receiver can ignore a
    /// repeat.
    pub id: Uuid,
    /// Where it goes.
    pub url: String,
    /// The status it announces.
    pub file_status: FileStatus,
    /// `pending`, `delivered` or `failed`.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempt_count: i32,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's failure, if any.
    pub last_error: Option<String>,
    /// When the file reached that status.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptView>,
}

impl From<(webhook_deliveries::Model, Vec<webhook_attempts::Model>)> for DeliveryView {
    fn from(
        (delivery, attempts): (webhook_deliveries::Model, Vec<webhook_attempts::Model>),
    ) -> Self {
        Self {
            id: delivery.id,
            url: delivery.url,
            file_status: delivery.file_status,
            state: delivery.state,
            attempt_count: delivery.attempt_count,
            next_attempt_at: (delivery.state == DeliveryState::Pending)
                .then_some(delivery.next_attempt_at),
            last_error: delivery.last_error,
            created_at: delivery.created_at,
            finished_at: delivery.finished_at,
            attempts: attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

/// Answer of `GET /files/{id}/webhook-deliveries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Oldest first.
    pub items: Vec<DeliveryView>,
}

/// The webhook notifications about one of the caller's files, with every attempt.
#[utoipa::path(get, path = "/files/{id}/webhook-deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "File id")),
    responses((status = 200, body = DeliveryList), (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or another client's", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn file_deliveries(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<DeliveryList>> {
    let file = owned_file(&state, &client, id).await?;
    let deliveries = store::webhook_deliveries::of_file(&state.db, file.id).await?;
    Ok(AppJson(DeliveryList {
        items: deliveries.into_iter().map(DeliveryView::from).collect(),
    }))
}
