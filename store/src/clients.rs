//! The `clients` table and its API keys: how a key looks, how it is stored (SHA-256, never in
//! clear), creating a client or issuing it a new key, and finding the client of a key.

use chrono::Utc;
use entity::clients;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What every key starts with, so a leaked one is recognisable.
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

/// Whether `key` has the shape of the keys [`NewApiKey::generate`] makes; any other cannot be
/// valid and is refused without a query.
pub fn is_well_formed(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

/// The client whose key hashes to `key_hash`.
pub async fn find_by_key_hash(
    db: &DatabaseConnection,
    key_hash: &str,
) -> Result<Option<clients::Model>, DbErr> {
    clients::Entity::find()
        .filter(clients::Column::ApiKeyHash.eq(key_hash))
        .one(db)
        .await
}

/// Why a client could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateClientError {
    /// The name is taken and rotation was not asked for.
    #[error("a client named {0:?} exists already (pass --rotate to issue it a new key)")]
    NameTaken(String),
    /// The name is empty or too long.
    #[error("a client name must have 1 to 200 characters")]
    InvalidName,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Creates a client named `name` and returns it with its key. With `rotate`, an existing
/// client of that name keeps its id and files but gets a new key (the old one stops working).
pub async fn create(
    db: &DatabaseConnection,
    name: &str,
    rotate: bool,
) -> Result<(clients::Model, NewApiKey), CreateClientError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(CreateClientError::InvalidName);
    }
    let key = NewApiKey::generate();
    let now = Utc::now();
    let existing = clients::Entity::find()
        .filter(clients::Column::Name.eq(name))
        .one(db)
        .await?;
    let client = match existing {
        Some(_) if !rotate => return Err(CreateClientError::NameTaken(name.to_owned())),
        Some(client) => {
            let mut active: clients::ActiveModel = client.into();
            active.api_key_hash = Set(key.hash());
            active.updated_at = Set(now);
            active.update(db).await?
        }
        None => {
            clients::ActiveModel {
                id: Set(Uuid::now_v7()),
                name: Set(name.to_owned()),
                api_key_hash: Set(key.hash()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?
        }
    };
    Ok((client, key))
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
