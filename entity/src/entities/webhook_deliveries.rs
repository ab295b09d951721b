//! `webhook_deliveries`: the outbox of webhook notifications, one row per terminal status a
//! file reached while a callback URL applied.

use sea_orm::entity::prelude::*;

use crate::{DeliveryState, FileStatus};

/// A notification to deliver, being delivered, or finished.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// Also the event id the receiver sees, so that it can ignore a repeated delivery.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub file_id: Uuid,
    /// Where it goes: the file's own callback URL, else the client's at the time.
    pub url: String,
    /// The terminal status it announces.
    pub file_status: FileStatus,
    pub state: DeliveryState,
    pub attempt_count: i32,
    /// When it is due while pending (or when the lease of the worker sending it ends).
    pub next_attempt_at: DateTimeUtc,
    pub last_error: Option<String>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations of a delivery.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::files::Entity",
        from = "Column::FileId",
        to = "super::files::Column::Id",
        on_delete = "Cascade"
    )]
    Files,
    #[sea_orm(has_many = "super::webhook_attempts::Entity")]
    WebhookAttempts,
}

impl Related<super::files::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Files.def()
    }
}

impl Related<super::webhook_attempts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WebhookAttempts.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
