//! `results`: one row per distinct domain of a file; `(file_id, domain)` is unique so that
//! redelivered work can never duplicate a row.

use sea_orm::entity::prelude::*;

use crate::ResultStatus;

/// A per-domain result row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub file_id: Uuid,
    /// Index of the domain among the file's distinct entries, from 0: gives a stable order and
    /// lets deep pages be found by range instead of by offset.
    pub position: i32,
    pub domain: String,
    pub favicon_url: Option<String>,
    pub status: ResultStatus,
    pub error: Option<String>,
    pub tries: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations of a result.
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
