//! `files`: one uploaded domain list, its place in S3, its status and progress counters.

use sea_orm::entity::prelude::*;

use crate::{FileStatus, FileType};

/// A file row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub original_name: String,
    pub s3_bucket: String,
    pub s3_key: String,
    pub file_type: FileType,
    pub size_bytes: i64,
    pub status: FileStatus,
    pub error_message: Option<String>,
    pub total_count: i32,
    pub succeeded_count: i32,
    pub failed_count: i32,
    pub published_at: Option<DateTimeUtc>,
    /// The worker holding the file while it runs, so that two workers never process it at once.
    pub lease_owner: Option<Uuid>,
    /// When that hold lapses unless renewed (a crashed worker's file is taken over after it).
    pub lease_expires_at: Option<DateTimeUtc>,
    pub processed_at: Option<DateTimeUtc>,
    /// How many chunks the file was split into for parallel processing; 0 when it is
    /// processed whole (or not planned yet).
    pub chunk_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The number of the file's last change a user sees (created, status, counters, error),
    /// from one sequence in commit order; set by the database when the change commits
    /// (0 until then and for files from before). The event id of the live streams.
    pub change_seq: i64,
}

/// Relations of a file.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::clients::Entity",
        from = "Column::ClientId",
        to = "super::clients::Column::Id",
        on_delete = "Cascade"
    )]
    Clients,
    #[sea_orm(has_many = "super::results::Entity")]
    Results,
}

impl Related<super::clients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Clients.def()
    }
}

impl Related<super::results::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Results.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
