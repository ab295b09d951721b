//! API keys: how they look, how they are stored (SHA-256, never in clear) and the extractor
//! that turns `Authorization: Bearer <key>` into the calling client.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use entity::clients;
use rand::RngCore;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

const KEY_PREFIX: &str = "fpk_";

/// A freshly generated API key. Shown once; only its hash is stored.
#[derive(Debug)]
pub struct NewApiKey(String);

impl NewApiKey {
    /// 32 random bytes, hex-encoded, with a recognisable prefix.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
    }

    /// The key, to give to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores.
    pub fn hash(&self) -> String {
        hash_key(&self.0)
    }
}

/// SHA-256 of a key, hex-encoded. Keys carry 256 bits of entropy, so a fast hash is enough.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

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
            clients::Entity::find()
                .filter(clients::Column::ApiKeyHash.eq(&key_hash))
                .one(&state.db)
                .await?
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

/// Whether `key` has the shape of the keys [`NewApiKey::generate`] makes; any other cannot be
/// valid and is refused without a query.
fn is_well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_prefixed_and_hashed() {
        let a = NewApiKey::generate();
        let b = NewApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_eq!(a.expose().len(), KEY_PREFIX.len() + 64);
        assert_eq!(a.hash(), hash_key(a.expose()));
        assert_ne!(a.hash(), a.expose());
        assert!(is_well_formed(a.expose()));
        for malformed in [
            "fpk_wrong",
            "",
            "fpk_",
            &a.expose().to_uppercase(),
            &a.expose()[4..],
        ] {
            assert!(!is_well_formed(malformed), "{malformed}");
        }
    }
}
