//! `/session`: the dashboard's sign-in ([`crate::session`] says why a cookie and a CSRF
//! token). `POST` exchanges an API key for the cookie, `GET` tells a reloaded page whether it
//! is signed in (and its CSRF token again), `DELETE` signs out.

use std::net::IpAddr;

use axum::{
    Router,
    extract::{FromRequestParts, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    Result,
    auth::{client_of_key, peer_of},
    error::{ApiError, AppJson, ErrorBody},
    session,
    state::AppState,
};

/// The `/session` endpoints.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/session",
        post(sign_in).get(current_session).delete(sign_out),
    )
}

/// The address a request came from, for failed-authentication counts.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_of(parts)))
    }
}

/// Body of `POST /session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The client's API key.
    pub api_key: String,
}

/// A signed-in browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Send it as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE made with the cookie.
    pub csrf_token: String,
    /// The signed-in client's name.
    pub client_name: String,
    /// When the session ends; sign in again after.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Exchange an API key for a session cookie (`HttpOnly; SameSite=Strict; Secure`) and a CSRF
/// token, for browsers. The key travels in the body, never in the URL.
#[utoipa::path(post, path = "/session", tag = "session",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie` carries the session", body = SessionView,
            headers(("Set-Cookie" = String, description = "`__Host-fp_session=<token>; Max-Age=…; Path=/; HttpOnly; SameSite=Strict; Secure`"))),
        (status = 400, description = "Not JSON, or no `api_key`", body = ErrorBody),
        (status = 401, description = "Unknown API key", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 429, description = "`too_many_auth_failures` or `rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    Peer(peer): Peer,
    AppJson(body): AppJson<SignIn>,
) -> Result<Response> {
    let client = client_of_key(&state, peer, body.api_key.trim()).await?;
    state
        .rate_limiter
        .check(client.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let settings = &state.settings.api.session;
    let ttl = i64::try_from(settings.ttl.as_secs())
        .ok()
        .and_then(chrono::TimeDelta::try_seconds)
        .ok_or_else(|| anyhow::anyhow!("SESSION_TTL_SECS is out of range"))?;
    let started = store::sessions::start(&state.db, &client, ttl).await?;
    tracing::info!(client.id = %client.id, "client {} signed in to the dashboard", client.id);
    let view = SessionView {
        csrf_token: started.csrf_token(),
        client_name: client.name,
        expires_at: started.expires_at,
    };
    Ok((
        StatusCode::CREATED,
        [(
            header::SET_COOKIE,
            session::set_cookie(settings, started.token(), settings.ttl.as_secs()),
        )],
        AppJson(view),
    )
        .into_response())
}

/// The session of the request's cookie: whether the page is signed in, and its CSRF token.
#[utoipa::path(get, path = "/session", tag = "session",
    responses(
        (status = 200, body = SessionView),
        (status = 401, description = "No cookie, or its session ended", body = ErrorBody),
    ))]
pub async fn current_session(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Result<AppJson<SessionView>> {
    let settings = &state.settings.api.session;
    let token = session::cookie_token(&headers, settings).ok_or(ApiError::Unauthorized)?;
    let (session, client) = session::client_of_cookie(&state, peer, token).await?;
    state
        .rate_limiter
        .check(client.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    Ok(AppJson(SessionView {
        csrf_token: store::sessions::csrf_token_of(token),
        client_name: client.name,
        expires_at: session.expires_at,
    }))
}

/// Sign out: the session ends on every api instance and the cookie is removed. Needs
/// `X-CSRF-Token` when the session is live; answers 204 (and removes the cookie) when there
/// is none.
#[utoipa::path(delete, path = "/session", tag = "session",
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Signed out; `Set-Cookie` removes the cookie"),
        (status = 403, description = "`csrf_failed`: the session is live and the CSRF token is missing or wrong", body = ErrorBody),
    ))]
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let settings = &state.settings.api.session;
    if let Some(token) = session::cookie_token(&headers, settings) {
        let token_hash = store::sessions::hash_token(token);
        if store::sessions::is_well_formed(token)
            && store::sessions::find_live(&state.db, &token_hash)
                .await?
                .is_some()
        {
            session::check_csrf(&headers, token)?;
            store::sessions::revoke(&state.db, &token_hash).await?;
        }
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::clear_cookie(settings))],
    )
        .into_response())
}
