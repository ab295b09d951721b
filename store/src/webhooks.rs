//! The `webhooks` table: a client's callback URL and its signing secret. The URL is checked
//! by the caller (the api); this module only stores it.

use chrono::Utc;
use entity::webhooks;
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set, sea_query::OnConflict};
use uuid::Uuid;

/// What every signing secret starts with, so a leaked one is recognisable.
const SECRET_PREFIX: &str = "whsec_";

/// A webhook as stored, with its secret: what registration and rotation give back, once.
#[derive(Debug)]
pub struct RegisteredWebhook {
    /// The row (its `Debug` hides the secret).
    pub webhook: webhooks::Model,
}

impl RegisteredWebhook {
    /// The signing secret, to show the client now and never again.
    pub fn secret(&self) -> &str {
        &self.webhook.secret
    }
}

/// 32 random bytes, hex-encoded, with a recognisable prefix.
fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// Registers `url` as `client_id`'s webhook, replacing the URL of one it had; a new secret is
/// generated each time (registering again is how a client that lost it gets one).
pub async fn register(
    db: &impl ConnectionTrait,
    client_id: Uuid,
    url: &str,
) -> Result<RegisteredWebhook, DbErr> {
    let now = Utc::now();
    let row = webhooks::ActiveModel {
        client_id: Set(client_id),
        url: Set(url.to_owned()),
        secret: Set(new_secret()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    webhooks::Entity::insert(row)
        .on_conflict(
            OnConflict::column(webhooks::Column::ClientId)
                .update_columns([
                    webhooks::Column::Url,
                    webhooks::Column::Secret,
                    webhooks::Column::CreatedAt,
                    webhooks::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    let webhook = find(db, client_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("webhook of client {client_id}")))?;
    Ok(RegisteredWebhook { webhook })
}

/// `client_id`'s webhook, if it registered one.
pub async fn find(
    db: &impl ConnectionTrait,
    client_id: Uuid,
) -> Result<Option<webhooks::Model>, DbErr> {
    webhooks::Entity::find_by_id(client_id).one(db).await
}

/// Gives `client_id`'s webhook a new secret; `None` when it has none.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    client_id: Uuid,
) -> Result<Option<RegisteredWebhook>, DbErr> {
    let Some(webhook) = find(db, client_id).await? else {
        return Ok(None);
    };
    let mut row: webhooks::ActiveModel = webhook.into();
    row.secret = Set(new_secret());
    row.updated_at = Set(Utc::now());
    let webhook = row.update(db).await?;
    Ok(Some(RegisteredWebhook { webhook }))
}

/// Removes `client_id`'s webhook; true when it had one. Deliveries still pending are then
/// given up by the worker (no secret signs them any more).
pub async fn delete(db: &impl ConnectionTrait, client_id: Uuid) -> Result<bool, DbErr> {
    let deleted = webhooks::Entity::delete_by_id(client_id).exec(db).await?;
    Ok(deleted.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 64);
    }
}
