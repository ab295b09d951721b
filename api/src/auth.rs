//! The extractor that turns `Authorization: Bearer <key>` into the calling client. How keys
//! look and are stored is the data layer's ([`store::clients`]).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use store::clients::{hash_key, is_well_formed};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

/// The client making the request, established from its API key. Extracting it also takes a
/// token from the client's rate-limit bucket, so every authenticated endpoint is limited per
/// client and the open ones (`/health`, `/ready`, `/openapi.json`) are not. A wrong key counts
/// against the peer's failed authentications ([`crate::auth_failures`]), which once used up
/// refuse unknown keys before the database is asked.
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
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let key_hash = hash_key(key);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        state
            .auth_failures
            .admit(peer, &key_hash)
            .map_err(|retry_after| ApiError::TooManyAuthFailures { retry_after })?;
        let client = if is_well_formed(key) {
            store::clients::find_by_key_hash(&state.db, &key_hash).await?
        } else {
            None
        };
        let Some(client) = client else {
            state.auth_failures.failed(peer);
            return Err(ApiError::Unauthorized);
        };
        state.auth_failures.succeeded(&key_hash);
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
