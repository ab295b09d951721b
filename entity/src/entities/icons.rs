//! `icons`: each distinct stored icon, content-addressed; its bytes are the S3 object
//! `icons/sha256/<hash>`.

use sea_orm::entity::prelude::*;

/// A stored icon.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "icons")]
pub struct Model {
    /// SHA-256 of the bytes, lower-case hex.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// `image/png`, `image/x-icon`, `image/svg+xml`, …
    pub media_type: String,
    /// Size of the bytes.
    pub byte_size: i64,
    /// CRC-32 of the bytes (what a ZIP entry records).
    pub crc32: i64,
    /// Width in pixels (the largest image of an ICO; 0 for an SVG without a size).
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    pub created_at: DateTimeUtc,
}

/// An icon has no relation the code follows from this side.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
