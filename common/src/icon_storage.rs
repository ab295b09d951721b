//! Storing the icons a resolution kept, one way for the worker and the api: each image's bytes
//! become the S3 object `icons/sha256/<hash>` (written once, whoever else shares it), then the
//! resolution and its images are recorded through the data layer ([`store::icons`]).
//!
//! Written once: the icons table is asked first, and only images it does not hold are
//! written, with `If-None-Match: *` so that S3 itself refuses to overwrite an object. Two
//! writers racing on the same new icon both find no row; one write wins, the other gets
//! `412 Precondition Failed` (or `409` while the first is in flight) and counts as reused. As the
//! key is the hash of the bytes, whichever write won holds exactly the same bytes. An object
//! is written before its row, so a row always means the object exists.

use std::collections::HashMap;

use bytes::Bytes;
use favicon::{Resolution, Theme};
use futures::{StreamExt, TryStreamExt};
use sea_orm::{DatabaseConnection, DbErr};
use store::icons::{KeptImage, NewIcon, NewResolution, StoredIcon, object_key};

use crate::metrics;

/// Why icons could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum IconStorageError {
    /// S3 failed.
    #[error("failed to {action} s3://{bucket}/{key}: {source}")]
    Object {
        /// `write` or `read`.
        action: &'static str,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What S3 said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database failed.
    #[error("failed to record icons: {0}")]
    Database(#[from] DbErr),
}

/// Where icons are kept: a bucket, under `icons/sha256/`.
#[derive(Debug, Clone)]
pub struct IconStorage {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl IconStorage {
    /// Icons in `bucket`.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }

    /// Stores the images of a freshly fetched `resolution` of `domain` and records it: the
    /// chosen icon's stored copy, or `None` when nothing was found. A failure is recorded
    /// (without images) only when a cache may reuse it, so `/icons/{domain}` can answer it
    /// without fetching again. [`Self::record_many`] with one resolution.
    pub async fn record(
        &self,
        db: &DatabaseConnection,
        domain: &str,
        resolution: &Resolution,
    ) -> Result<Option<StoredIcon>, IconStorageError> {
        let mut stored = self.record_many(db, &[(domain, resolution)]).await?;
        Ok(stored.pop().flatten())
    }

    /// Stores and records many freshly fetched resolutions at once ([`Self::record`] for
    /// one): one query for the icons already stored, one write per distinct new icon (a few
    /// at once), and one [`store::icons::record_resolutions`] for them all. The stored copy
    /// of each, in the order of `resolutions`.
    pub async fn record_many(
        &self,
        db: &DatabaseConnection,
        resolutions: &[(&str, &Resolution)],
    ) -> Result<Vec<Option<StoredIcon>>, IconStorageError> {
        // What each resolution records: `None` when nothing (a failure no cache may reuse).
        let mut recorded: Vec<Option<NewResolution>> = Vec::with_capacity(resolutions.len());
        let mut bytes_of: HashMap<String, Bytes> = HashMap::new();
        for (domain, resolution) in resolutions {
            let cache_class = resolution.cache_class().map(favicon::CacheClass::as_str);
            let images = match &resolution.outcome {
                Ok(icon) if !icon.images.is_empty() => kept_images(icon),
                Ok(_) => {
                    recorded.push(None);
                    continue;
                }
                Err(_) if cache_class.is_none() => {
                    recorded.push(None);
                    continue;
                }
                Err(_) => Vec::new(),
            };
            for (image, bytes) in &images {
                bytes_of
                    .entry(image.icon.hash.clone())
                    .or_insert_with(|| (*bytes).clone());
            }
            recorded.push(Some(NewResolution {
                domain: (*domain).to_owned(),
                cache_class: cache_class.map(str::to_owned),
                images: images.into_iter().map(|(image, _)| image).collect(),
            }));
        }
        let media_types: HashMap<String, String> = recorded
            .iter()
            .flatten()
            .flat_map(|resolution| &resolution.images)
            .map(|image| (image.icon.hash.clone(), image.icon.media_type.clone()))
            .collect();
        let stored = store::icons::stored_hashes(db, bytes_of.keys().cloned().collect()).await?;
        let writes = bytes_of
            .into_iter()
            .filter(|(hash, _)| !stored.contains(hash))
            .map(|(hash, bytes)| {
                let media_type = media_types.get(&hash).map_or("", String::as_str);
                async move { put_once(&self.s3, &self.bucket, &hash, media_type, bytes).await }
            });
        let written: Vec<bool> = futures::stream::iter(writes)
            .buffer_unordered(CONCURRENT_ICON_WRITES)
            .try_collect()
            .await?;
        let occurrences: usize = recorded
            .iter()
            .flatten()
            .map(|resolution| resolution.images.len())
            .sum();
        let new = written.iter().filter(|new| **new).count();
        for _ in 0..new {
            metrics::icon_object(true);
        }
        for _ in new..occurrences {
            metrics::icon_object(false);
        }
        let to_record: Vec<NewResolution> = recorded.iter().flatten().cloned().collect();
        let mut ids = store::icons::record_resolutions(db, &to_record)
            .await?
            .into_iter();
        Ok(recorded
            .into_iter()
            .map(|resolution| {
                let resolution = resolution?;
                let resolution_id = ids.next()?;
                let chosen = resolution.images.first()?;
                Some(StoredIcon {
                    resolution_id,
                    hash: chosen.icon.hash.clone(),
                })
            })
            .collect())
    }

    /// The bytes of the stored icon `hash`.
    pub async fn read(&self, hash: &str) -> Result<Bytes, IconStorageError> {
        let key = object_key(hash);
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| IconStorageError::Object {
            action: "read",
            bucket: self.bucket.clone(),
            key: key.clone(),
            source,
        };
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|error| failed(Box::new(error)))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|error| failed(Box::new(error)))?;
        Ok(body.into_bytes())
    }
}

/// New icon objects written at once by [`IconStorage::record_many`].
const CONCURRENT_ICON_WRITES: usize = 8;

/// The images `icon` kept, described for the data layer, each with its bytes.
fn kept_images(icon: &favicon::Icon) -> Vec<(KeptImage, &Bytes)> {
    icon.images
        .iter()
        .enumerate()
        .map(|(index, image)| {
            let kept = KeptImage {
                icon: NewIcon::of(
                    &image.bytes,
                    image.format.media_type(),
                    image.width,
                    image.height,
                ),
                format: image.format.as_str().to_owned(),
                theme: match image.theme {
                    Theme::Dark => store::icons::Theme::Dark,
                    Theme::Light => store::icons::Theme::Light,
                },
                chosen: index == 0,
            };
            (kept, &image.bytes)
        })
        .collect()
}

/// Writes an icon's object in `bucket` unless one exists: true when this call wrote it.
async fn put_once(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    hash: &str,
    media_type: &str,
    bytes: Bytes,
) -> Result<bool, IconStorageError> {
    let key = object_key(hash);
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type(media_type)
        .cache_control("public, max-age=31536000, immutable")
        .if_none_match("*")
        .body(bytes.into())
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .raw_response()
                .is_some_and(|raw| matches!(raw.status().as_u16(), 409 | 412)) =>
        {
            Ok(false)
        }
        Err(error) => Err(IconStorageError::Object {
            action: "write",
            bucket: bucket.to_owned(),
            key,
            source: Box::new(error),
        }),
    }
}
