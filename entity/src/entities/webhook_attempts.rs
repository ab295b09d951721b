//! `webhook_attempts`: every attempt to deliver a webhook notification, as the API shows it.

use sea_orm::entity::prelude::*;

/// One attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: Uuid,
    /// 1 for the first attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    pub started_at: DateTimeUtc,
    pub duration_ms: i32,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// Why it failed without an answer (or the answer's status, in words).
    pub error: Option<String>,
}

/// Relations of an attempt.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::webhook_deliveries::Entity",
        from = "Column::DeliveryId",
        to = "super::webhook_deliveries::Column::Id",
        on_delete = "Cascade"
    )]
    WebhookDeliveries,
}

impl Related<super::webhook_deliveries::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WebhookDeliveries.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
