//! `result_retries`: the failed results that a retry of their file resolves again, one row
//! each until its result has been re-resolved.

use sea_orm::entity::prelude::*;

/// A failed result waiting to be resolved again.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "result_retries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub result_id: Uuid,
    pub file_id: Uuid,
    /// The result's position, so that a retry reads them in file order.
    pub position: i32,
    pub created_at: DateTimeUtc,
}

/// Relations of a pending retry.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::results::Entity",
        from = "Column::ResultId",
        to = "super::results::Column::Id",
        on_delete = "Cascade"
    )]
    Results,
    #[sea_orm(
        belongs_to = "super::files::Entity",
        from = "Column::FileId",
        to = "super::files::Column::Id",
        on_delete = "Cascade"
    )]
    Files,
}

impl Related<super::results::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Results.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
