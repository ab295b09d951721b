//! The stored icons: `icons` (each distinct icon once, content-addressed), `icon_resolutions`
//! (one fetch of a domain's icons, found or not) and `resolution_images` (what a fetch kept).
//!
//! The bytes live in object storage under [`object_key`]; this module only records them and
//! finds them again. Whoever stores an icon asks [`stored_hashes`] first and writes only the
//! objects not recorded yet, then records the resolution with [`record_resolution`], which
//! inserts icon rows `ON CONFLICT DO NOTHING` (two writers of the same bytes agree).
//!
//! Results point at the resolution whose images they serve (`results.resolution_id`) and at
//! the chosen image (`results.icon_hash`): a result copied from the cache copies both, so it
//! adds no resolution, no row here and no object.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{icon_resolutions, icons, resolution_images, results};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{errors::retrying, results::rows_per_insert};

/// The object key of an icon's bytes: `icons/sha256/<hex>`.
pub fn object_key(hash: &str) -> String {
    format!("icons/sha256/{hash}")
}

/// SHA-256 of `bytes`, lower-case hex: an icon's identity.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Which colour scheme an image is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Theme {
    /// The default.
    Light,
    /// `prefers-color-scheme: dark`.
    Dark,
}

impl Theme {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// The theme a stored name spells; anything unknown is light.
    pub fn from_stored(name: &str) -> Self {
        if name == "dark" {
            Self::Dark
        } else {
            Self::Light
        }
    }
}

/// An icon's bytes as described in `icons`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIcon {
    /// [`content_hash`] of the bytes.
    pub hash: String,
    /// Its `Content-Type`.
    pub media_type: String,
    /// Size of the bytes.
    pub byte_size: i64,
    /// CRC-32 of the bytes.
    pub crc32: u32,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
}

impl NewIcon {
    /// The description of `bytes`.
    pub fn of(bytes: &[u8], media_type: &str, width: u32, height: u32) -> Self {
        Self {
            hash: content_hash(bytes),
            media_type: media_type.to_owned(),
            byte_size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            crc32: crc32fast::hash(bytes),
            width: i32::try_from(width).unwrap_or(i32::MAX),
            height: i32::try_from(height).unwrap_or(i32::MAX),
        }
    }
}

/// One image a resolution keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptImage {
    /// The icon.
    pub icon: NewIcon,
    /// `png`, `ico`, … as read from the bytes.
    pub format: String,
    /// Light or dark.
    pub theme: Theme,
    /// The resolver's choice.
    pub chosen: bool,
}

/// A result's stored icon: the resolution it serves and the chosen image's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIcon {
    /// `icon_resolutions.id`.
    pub resolution_id: Uuid,
    /// `icons.hash` of the chosen image.
    pub hash: String,
}

/// Which of `hashes` already have an icon row (so their objects exist). Outages are retried.
pub async fn stored_hashes(
    db: &DatabaseConnection,
    hashes: Vec<String>,
) -> Result<HashSet<String>, DbErr> {
    if hashes.is_empty() {
        return Ok(HashSet::new());
    }
    retrying("reading stored icons", || {
        let hashes = hashes.clone();
        async move {
            let found: Vec<String> = icons::Entity::find()
                .select_only()
                .column(icons::Column::Hash)
                .filter(icons::Column::Hash.is_in(hashes))
                .into_tuple()
                .all(db)
                .await?;
            Ok(found.into_iter().collect())
        }
    })
    .await
}

/// Records one fetch of `domain`: its icons (rows that exist are kept; each insert committed
/// at once), then the resolution and the images it kept in one transaction; the new
/// resolution's id. `images` may be empty (a definite answer without an icon). Outages are
/// retried. [`record_resolutions`] with one fetch.
pub async fn record_resolution(
    db: &DatabaseConnection,
    domain: &str,
    cache_class: Option<&str>,
    images: &[KeptImage],
) -> Result<Uuid, DbErr> {
    let resolution = NewResolution {
        domain: domain.to_owned(),
        cache_class: cache_class.map(str::to_owned),
        images: images.to_vec(),
    };
    let ids = record_resolutions(db, std::slice::from_ref(&resolution)).await?;
    ids.into_iter()
        .next()
        .ok_or_else(|| DbErr::Custom("no resolution recorded".to_owned()))
}

/// One fetch of a domain to record with [`record_resolutions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResolution {
    /// The domain fetched.
    pub domain: String,
    /// What a cache may reuse of it, or `None`.
    pub cache_class: Option<String>,
    /// The images it kept, the chosen one first; empty for a definite answer without an icon.
    pub images: Vec<KeptImage>,
}

/// Records many fetches at once (one with [`record_resolution`]): the icons of all of
/// them first (one statement per bind-parameter limit, in hash order, committed at once),
/// then every resolution and its images in one transaction. The new resolutions' ids, in the
/// order of `resolutions`. A worker writing a batch of results pays a few round trips for
/// the whole batch instead of six per domain. Outages are retried.
pub async fn record_resolutions(
    db: &DatabaseConnection,
    resolutions: &[NewResolution],
) -> Result<Vec<Uuid>, DbErr> {
    if resolutions.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = resolutions.iter().map(|_| Uuid::now_v7()).collect();
    let now = Utc::now();
    let ids = &ids;
    retrying("recording icons", || async move {
        let mut distinct_icons: std::collections::BTreeMap<&str, &NewIcon> =
            std::collections::BTreeMap::new();
        for image in resolutions.iter().flat_map(|resolution| &resolution.images) {
            distinct_icons.insert(&image.icon.hash, &image.icon);
        }
        let icon_rows: Vec<icons::ActiveModel> = distinct_icons
            .values()
            .map(|icon| icons::ActiveModel {
                hash: Set(icon.hash.clone()),
                media_type: Set(icon.media_type.clone()),
                byte_size: Set(icon.byte_size),
                crc32: Set(i64::from(icon.crc32)),
                width: Set(icon.width),
                height: Set(icon.height),
                created_at: Set(now),
            })
            .collect();
        for part in icon_rows.chunks(rows_per_insert(7)) {
            icons::Entity::insert_many(part.to_vec())
                .on_conflict_do_nothing_on([icons::Column::Hash])
                .exec_without_returning(db)
                .await?;
        }
        let resolution_rows: Vec<icon_resolutions::ActiveModel> = resolutions
            .iter()
            .zip(ids)
            .map(|(resolution, id)| icon_resolutions::ActiveModel {
                id: Set(*id),
                domain: Set(resolution.domain.clone()),
                cache_class: Set(resolution.cache_class.clone()),
                resolved_at: Set(now),
            })
            .collect();
        let image_rows: Vec<resolution_images::ActiveModel> = resolutions
            .iter()
            .zip(ids)
            .flat_map(|(resolution, id)| {
                let mut seen = HashSet::new();
                resolution
                    .images
                    .iter()
                    .filter(move |image| seen.insert((image.icon.hash.as_str(), image.theme)))
                    .map(|image| resolution_images::ActiveModel {
                        resolution_id: Set(*id),
                        icon_hash: Set(image.icon.hash.clone()),
                        theme: Set(image.theme.as_str().to_owned()),
                        format: Set(image.format.clone()),
                        width: Set(image.icon.width),
                        height: Set(image.icon.height),
                        chosen: Set(image.chosen),
                    })
            })
            .collect();
        let txn = db.begin().await?;
        for part in resolution_rows.chunks(rows_per_insert(4)) {
            icon_resolutions::Entity::insert_many(part.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        for part in image_rows.chunks(rows_per_insert(7)) {
            resolution_images::Entity::insert_many(part.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids.clone())
    })
    .await
}

/// A kept image with what serving it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// `icons.hash`.
    pub hash: String,
    /// Its `Content-Type`.
    pub media_type: String,
    /// `png`, `ico`, `svg`, …
    pub format: String,
    /// Light or dark.
    pub theme: Theme,
    /// Width in pixels (0 for an SVG without a size).
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Size of the bytes.
    pub byte_size: i64,
    /// The resolver's choice.
    pub chosen: bool,
}

/// The newest fetch of a domain and what it kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewestResolution {
    /// `icon_resolutions.id`.
    pub id: Uuid,
    /// When it was fetched.
    pub resolved_at: DateTime<Utc>,
    /// What a cache may reuse of it, or `None`.
    pub cache_class: Option<String>,
    /// Its images, the chosen one first; empty when none was found.
    pub images: Vec<StoredImage>,
}

/// The newest fetch of `domain` (index `(domain, resolved_at DESC)`) with its images.
pub async fn newest_resolution(
    db: &DatabaseConnection,
    domain: &str,
) -> Result<Option<NewestResolution>, DbErr> {
    let Some(resolution) = icon_resolutions::Entity::find()
        .filter(icon_resolutions::Column::Domain.eq(domain))
        .order_by_desc(icon_resolutions::Column::ResolvedAt)
        .limit(1)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let mut images: Vec<StoredImage> = resolution_images::Entity::find()
        .filter(resolution_images::Column::ResolutionId.eq(resolution.id))
        .find_also_related(icons::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(image, icon)| {
            let icon = icon?;
            Some(StoredImage {
                hash: image.icon_hash,
                media_type: icon.media_type,
                format: image.format,
                theme: Theme::from_stored(&image.theme),
                width: image.width,
                height: image.height,
                byte_size: icon.byte_size,
                chosen: image.chosen,
            })
        })
        .collect();
    images.sort_by_key(|image| !image.chosen);
    Ok(Some(NewestResolution {
        id: resolution.id,
        resolved_at: resolution.resolved_at,
        cache_class: resolution.cache_class,
        images,
    }))
}

/// The stored icon `hash`, if any.
pub async fn icon(db: &DatabaseConnection, hash: &str) -> Result<Option<icons::Model>, DbErr> {
    icons::Entity::find_by_id(hash.to_owned()).one(db).await
}

/// One found icon of a file, for its ZIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIcon {
    /// The result's position.
    pub position: i32,
    /// The domain.
    pub domain: String,
    /// Where the origin served it.
    pub favicon_url: Option<String>,
    /// The stored icon.
    pub icon: icons::Model,
    /// `png`, `ico`, … of the result.
    pub format: Option<String>,
}

/// Up to `limit` results of `file_id` after position `after` that have a stored icon, with the
/// icon, in position order: a keyset page (`(file_id, position)` is unique and indexed), so a
/// ZIP of any size is read in pages of the same cost.
pub async fn file_icons_after(
    db: &DatabaseConnection,
    file_id: Uuid,
    after: i32,
    limit: u64,
) -> Result<(Vec<FileIcon>, Option<i32>), DbErr> {
    let rows = results::Entity::find()
        .filter(results::Column::FileId.eq(file_id))
        .filter(results::Column::Position.gt(after))
        .order_by_asc(results::Column::Position)
        .limit(limit)
        .all(db)
        .await?;
    let last = rows.last().map(|row| row.position);
    let hashes: HashSet<String> = rows
        .iter()
        .filter_map(|row| row.icon_hash.clone())
        .collect();
    let found: HashMap<String, icons::Model> = if hashes.is_empty() {
        HashMap::new()
    } else {
        icons::Entity::find()
            .filter(icons::Column::Hash.is_in(hashes))
            .all(db)
            .await?
            .into_iter()
            .map(|icon| (icon.hash.clone(), icon))
            .collect()
    };
    let icons = rows
        .into_iter()
        .filter_map(|row| {
            let icon = found.get(row.icon_hash.as_deref()?)?.clone();
            Some(FileIcon {
                position: row.position,
                domain: row.domain,
                favicon_url: row.favicon_url,
                icon,
                format: row.icon_format,
            })
        })
        .collect();
    Ok((icons, last))
}

#[cfg(test)]
mod tests {
    use sea_orm::{Database, PaginatorTrait};

    use super::*;

    async fn database() -> DatabaseConnection {
        let url = test_support::database::isolated_database().await;
        Database::connect(&url).await.expect("connect")
    }

    fn image(bytes: &[u8], chosen: bool) -> KeptImage {
        KeptImage {
            icon: NewIcon::of(bytes, "image/png", 16, 16),
            format: "png".to_owned(),
            theme: Theme::Light,
            chosen,
        }
    }

    /// A batch records each resolution with its images, each distinct icon once (shared and
    /// already stored ones too), and answers the ids in order; the newest is found again.
    #[tokio::test]
    async fn a_batch_records_each_resolution_and_each_icon_once() {
        let db = database().await;
        let shared = image(b"shared", true);
        record_resolution(
            &db,
            "before.test",
            Some("icon"),
            std::slice::from_ref(&shared),
        )
        .await
        .unwrap();
        let batch = vec![
            NewResolution {
                domain: "a.test".to_owned(),
                cache_class: Some("icon".to_owned()),
                images: vec![shared.clone(), image(b"a-other", false)],
            },
            NewResolution {
                domain: "b.test".to_owned(),
                cache_class: Some("icon".to_owned()),
                images: vec![image(b"b", true), image(b"b", true)],
            },
            NewResolution {
                domain: "gone.test".to_owned(),
                cache_class: Some("no_such_name".to_owned()),
                images: Vec::new(),
            },
        ];
        let ids = record_resolutions(&db, &batch).await.unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(icons::Entity::find().count(&db).await.unwrap(), 3);
        assert_eq!(
            icon_resolutions::Entity::find().count(&db).await.unwrap(),
            4
        );
        // The duplicate image of b.test is kept once.
        assert_eq!(
            resolution_images::Entity::find().count(&db).await.unwrap(),
            4
        );
        let newest = newest_resolution(&db, "a.test").await.unwrap().unwrap();
        assert_eq!(newest.id, ids[0]);
        assert_eq!(newest.images.len(), 2);
        assert_eq!(newest.images[0].hash, shared.icon.hash);
        let gone = newest_resolution(&db, "gone.test").await.unwrap().unwrap();
        assert_eq!((gone.id, gone.images.len()), (ids[2], 0));
        assert_eq!(gone.cache_class.as_deref(), Some("no_such_name"));
        assert!(record_resolutions(&db, &[]).await.unwrap().is_empty());
    }
}
