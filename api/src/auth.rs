//! The extractor that establishes the calling client, from `Authorization: Bearer <key>` or
//! from the dashboard's session cookie ([`crate::session`]). How keys and sessions look and
//! are stored is the data layer's ([`store::clients`], [`store::sessions`]). A key is never
//! read from a query string: URLs end up in logs, histories and `Referer` headers. The client
//! of a key found recently is taken from [`crate::key_cache`] without a query; a replaced key
//! is forgotten there as soon as the database announces the change.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{Method, request::Parts},
};
use store::clients::{hash_key, is_well_formed};
use uuid::Uuid;

use crate::{error::ApiError, session, state::AppState};

/// The client making the request, established from its API key or its session cookie.
/// Extracting it also takes a token from the client's rate-limit bucket, so every
/// authenticated endpoint is limited per client and the open ones (`/health`, `/ready`,
/// `/openapi.json`, the page) are not. A wrong key or session counts against the peer's failed
/// authentications ([`crate::auth_failures`]), which once used up refuse unknown keys before
/// the database is asked. With the cookie, a state-changing method also needs the session's
/// `X-CSRF-Token` ([`session::CSRF_HEADER`]), or gets 403 `csrf_failed`.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The client's id; every query is scoped by it.
    pub id: Uuid,
    /// The client's name, for logs.
    pub name: String,
}

impl FromRequestParts<AppState> for AuthenticatedClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = peer_of(parts);
        let client = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(authorization) => {
                let key = authorization
                    .to_str()
                    .ok()
                    .and_then(|value| {
                        let (scheme, token) = value.split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                    })
                    .filter(|token| !token.is_empty())
                    .ok_or(ApiError::Unauthorized)?;
                // Reads (GET, HEAD) look the key up on the read pool, so that a listing never
                // waits for a connection behind uploads; everything else on the main pool.
                let pool = if is_state_changing(&parts.method) {
                    &state.db
                } else {
                    &state.reads
                };
                key_holder(state, pool, peer, key).await?
            }
            None => {
                let cookie = session::cookie_token(&parts.headers, &state.settings.api.session)
                    .ok_or(ApiError::Unauthorized)?;
                let (_, client) = session::client_of_cookie(state, peer, cookie).await?;
                if is_state_changing(&parts.method) {
                    session::check_csrf(&parts.headers, cookie)?;
                }
                client
            }
        };
        tracing::Span::current().record("client.id", tracing::field::display(client.id));
        state
            .rate_limiter
            .check(client.id)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
        Ok(Self {
            id: client.id,
            name: client.name,
        })
    }
}

/// The address the request came from, when known.
pub fn peer_of(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// Whether `method` may change something, and so needs the CSRF token with a cookie.
fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The client whose API key is `key`, counting a wrong key against `peer`'s failures.
pub async fn client_of_key(
    state: &AppState,
    peer: Option<IpAddr>,
    key: &str,
) -> Result<entity::clients::Model, ApiError> {
    key_holder(state, &state.db, peer, key).await
}

/// [`client_of_key`], looked up on `pool` unless [`crate::key_cache`] knows the key.
///
/// A key found in the cache is answered without the failure check ([`crate::auth_failures`]
/// admits keys that authenticated recently anyway) and records no `Auth` phase: that metric
/// times database lookups only, so its count is the number of lookups the cache missed.
async fn key_holder(
    state: &AppState,
    pool: &sea_orm::DatabaseConnection,
    peer: Option<IpAddr>,
    key: &str,
) -> Result<entity::clients::Model, ApiError> {
    let key_hash = hash_key(key);
    if let Some(client) = state.key_cache.get(&key_hash) {
        return Ok(client);
    }
    state
        .auth_failures
        .admit(peer, &key_hash)
        .map_err(|retry_after| ApiError::TooManyAuthFailures { retry_after })?;
    let client = if is_well_formed(key) {
        // Noted before asking, so that an answer older than a key change is not cached.
        let generation = state.key_cache.generation();
        let started = std::time::Instant::now();
        let found = store::clients::find_by_key_hash(pool, &key_hash).await?;
        common::metrics::api_phase(common::metrics::ApiPhase::Auth, started.elapsed());
        if let Some(client) = &found {
            state
                .key_cache
                .insert(&key_hash, client.clone(), generation);
        }
        found
    } else {
        None
    };
    let Some(client) = client else {
        state.auth_failures.failed(peer);
        return Err(ApiError::Unauthorized);
    };
    state.auth_failures.succeeded(&key_hash);
    Ok(client)
}
