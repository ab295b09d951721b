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
    /// `ico`, `png`, `gif`, `jpeg`, `webp`, `bmp` or `svg`, read from the icon's bytes.
    pub icon_format: Option<String>,
    /// Real width in pixels, read from the icon's bytes (0 for SVG without a size).
    pub icon_width: Option<i32>,
    /// Real height in pixels.
    pub icon_height: Option<i32>,
    /// Size of the icon in bytes.
    pub icon_bytes: Option<i64>,
    /// Where the icon was declared: `link`, `manifest` or `fallback`.
    pub icon_source: Option<String>,
    /// Why it failed, by kind: `invalid_domain`, `dns`, `timeout`, …
    pub error_category: Option<String>,
    /// Answered from an earlier result of the same domain, without fetching.
    pub from_cache: bool,
    /// What the resolver's cache may copy from this fetched result: `icon`, `no_such_name`
    /// (NXDOMAIN) or `site_answer` (the site's definite answer without an icon), each kept for
    /// its own time; `None` when it must be fetched again.
    pub cache_class: Option<String>,
    /// The resolution whose images this result serves: its own fetch, or the one a cached
    /// result copies (`icon_resolutions.id`).
    pub resolution_id: Option<Uuid>,
    /// The stored chosen icon (`icons.hash`); its media type and stored size are the icon's.
    pub icon_hash: Option<String>,
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
