//! `file_chunks`: the slices of a large file that workers process in parallel. A chunk's
//! domains are stored in S3 at `s3_key`; `done` flips once all of them have results.

use sea_orm::entity::prelude::*;

/// One chunk of a file.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "file_chunks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub file_id: Uuid,
    /// From 0, in file order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    /// Where its entries are, in the file's bucket.
    pub s3_key: String,
    /// How many domains it holds.
    pub domain_count: i32,
    /// Every domain of the chunk has a result.
    pub done: bool,
    /// The worker processing it, while its lease lasts.
    pub lease_owner: Option<Uuid>,
    /// When that worker's claim lapses unless renewed.
    pub lease_expires_at: Option<DateTimeUtc>,
    /// Results written for it so far: its progress, which the dead-letter consumer compares.
    pub recorded_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations of a chunk.
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
