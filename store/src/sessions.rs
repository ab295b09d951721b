//! The `sessions` table: browser sign-ins of the dashboard.
//!
//! A browser cannot send an API key in an `EventSource` request, and a key must never travel in
//! a URL; so the page exchanges the key once for a random session token, kept in an HttpOnly
//! cookie. Only the token's SHA-256 is stored (tokens carry 256 bits of entropy, like keys). The
//! CSRF token the page sends with its state-changing requests is derived from the session
//! token ([`csrf_token_of`]): nothing more is stored, and it cannot be computed from what is.
//! A session ends when it expires, when it is revoked (sign-out), or when its client is issued
//! a new key. Sessions live in PostgreSQL, so every api instance knows them all.

use chrono::{DateTime, Utc};
use entity::{clients, sessions};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What every session token starts with, so a leaked one is recognisable.
const TOKEN_PREFIX: &str = "fps_";

/// A freshly started session: its token goes into the cookie, and is never stored.
#[derive(Debug)]
pub struct NewSession {
    token: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

impl NewSession {
    /// The token, for the cookie.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CSRF token of this session.
    pub fn csrf_token(&self) -> String {
        csrf_token_of(&self.token)
    }
}

/// SHA-256 of a session token, hex-encoded: what the database stores.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of the session `token`: a hash of it under its own label, so it proves
/// knowledge of the session (a page of another site cannot read it) and the stored hash does
/// not give it away.
pub fn csrf_token_of(token: &str) -> String {
    hex::encode(Sha256::digest(format!("csrf:{token}").as_bytes()))
}

/// Whether `token` has the shape of the tokens this module makes; any other cannot be valid
/// and is refused without a query.
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

/// Starts a session of `client`, valid for `ttl`, and drops the sessions that have expired.
pub async fn start(
    db: &DatabaseConnection,
    client: &clients::Model,
    ttl: chrono::Duration,
) -> Result<NewSession, DbErr> {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let now = Utc::now();
    let expires_at = now + ttl;
    sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    sessions::ActiveModel {
        token_hash: Set(hash_token(&token)),
        client_id: Set(client.id),
        api_key_hash: Set(client.api_key_hash.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(NewSession { token, expires_at })
}

/// The live session whose token hashes to `token_hash`, with its client: `None` when there is
/// none, it has expired, or the client's key changed since it began.
pub async fn find_live(
    db: &DatabaseConnection,
    token_hash: &str,
) -> Result<Option<(sessions::Model, clients::Model)>, DbErr> {
    let found = sessions::Entity::find_by_id(token_hash.to_owned())
        .filter(sessions::Column::ExpiresAt.gt(Utc::now()))
        .find_also_related(clients::Entity)
        .one(db)
        .await?;
    Ok(match found {
        Some((session, Some(client))) if client.api_key_hash == session.api_key_hash => {
            Some((session, client))
        }
        _ => None,
    })
}

/// Ends the session whose token hashes to `token_hash`; whether there was one.
pub async fn revoke(db: &DatabaseConnection, token_hash: &str) -> Result<bool, DbErr> {
    let deleted = sessions::Entity::delete_by_id(token_hash.to_owned())
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Ends every session of `client_id` (tests and operators; a new key does it implicitly).
pub async fn revoke_all_of(db: &DatabaseConnection, client_id: Uuid) -> Result<u64, DbErr> {
    let deleted = sessions::Entity::delete_many()
        .filter(sessions::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hash_and_derive_a_csrf_token_that_the_hash_does_not_reveal() {
        let token = format!("{TOKEN_PREFIX}{}", "ab".repeat(32));
        assert!(is_well_formed(&token));
        assert_ne!(hash_token(&token), csrf_token_of(&token));
        assert_eq!(csrf_token_of(&token), csrf_token_of(&token));
        assert_eq!(csrf_token_of(&token).len(), 64);
        for malformed in ["", "fps_", "fps_xyz", &token.to_uppercase(), &token[4..]] {
            assert!(!is_well_formed(malformed), "{malformed}");
        }
    }
}
