//! `redrives`: how often the dead-letter consumer sent a file (or one of its chunks) back to
//! the queue because it had made progress since it was last sent, and that progress.

use sea_orm::entity::prelude::*;

/// The redrives of one file or chunk.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redrives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub file_id: Uuid,
    /// The chunk's number, or -1 for the whole file.
    #[sea_orm(primary_key, auto_increment = false)]
    pub chunk: i32,
    /// Times sent back.
    pub redrive_count: i32,
    /// Results recorded (by the file, or the chunk) when it was last sent back.
    pub progress_mark: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations of a redrive.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::files::Entity",
        from = "Column::FileId",
        to = "super::files::Column::Id",
        on_delete = "Cascade"
    )]
    Files,
}

impl Related<super::files::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Files.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
