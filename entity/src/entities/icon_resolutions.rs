//! `icon_resolutions`: one fetch of a domain's icons, by the worker or on demand by the api,
//! found or not. Its images are `resolution_images`.

use sea_orm::entity::prelude::*;

/// One fetch of a domain's icons.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "icon_resolutions")]
pub struct Model {
    /// A UUIDv7: newer resolutions sort last.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The normalised domain.
    pub domain: String,
    /// What a cache may reuse of it (`icon`, `no_such_name`, `site_answer`), or `None`.
    pub cache_class: Option<String>,
    pub resolved_at: DateTimeUtc,
}

/// Relations of a resolution.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::resolution_images::Entity")]
    ResolutionImages,
}

impl Related<super::resolution_images::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ResolutionImages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
