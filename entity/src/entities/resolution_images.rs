//! `resolution_images`: the images one resolution kept (the chosen one, other sizes and
//! formats, dark variants), each a stored icon.

use sea_orm::entity::prelude::*;

/// One kept image of a resolution.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resolution_images")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub resolution_id: Uuid,
    /// The stored icon (`icons.hash`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub icon_hash: String,
    /// `light` or `dark`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub theme: String,
    /// `ico`, `png`, `svg`, … as read from the bytes.
    pub format: String,
    /// Width in pixels (0 for an SVG without a size).
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// The resolver's choice among the images.
    pub chosen: bool,
}

/// Relations of a kept image.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::icon_resolutions::Entity",
        from = "Column::ResolutionId",
        to = "super::icon_resolutions::Column::Id",
        on_delete = "Cascade"
    )]
    IconResolutions,
    #[sea_orm(
        belongs_to = "super::icons::Entity",
        from = "Column::IconHash",
        to = "super::icons::Column::Hash"
    )]
    Icons,
}

impl Related<super::icon_resolutions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::IconResolutions.def()
    }
}

impl Related<super::icons::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Icons.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
