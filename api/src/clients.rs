//! Creating clients and (re)issuing their keys, for the `api create-client` command.

use chrono::Utc;
use entity::clients;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::auth::NewApiKey;

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
pub async fn create_client(
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
