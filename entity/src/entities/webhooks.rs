//! `webhooks`: a client's callback URL and the secret that signs what is sent to it.

use sea_orm::entity::prelude::*;

/// A client's webhook.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: Uuid,
    pub url: String,
    /// Signs every delivery (HMAC-SHA256); kept in clear because the worker needs it.
    pub secret: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Never prints the secret.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("client_id", &self.client_id)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// Relations of a webhook.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::clients::Entity",
        from = "Column::ClientId",
        to = "super::clients::Column::Id",
        on_delete = "Cascade"
    )]
    Clients,
}

impl Related<super::clients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Clients.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
