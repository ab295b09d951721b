//! Removing a file's S3 objects when its owner deletes it: the upload and the chunk objects a
//! worker wrote if the file was split. Icons are content-addressed and shared between files
//! (`icons/`): they are never removed here.

use anyhow::Context;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use entity::files;

use crate::state::AppState;

/// Deletes the objects of `file`: its upload and every object under its chunk prefix. Objects
/// already gone are no error (S3 deletes are idempotent), so a failed delete can be asked
/// again.
pub async fn delete_objects(state: &AppState, file: &files::Model) -> anyhow::Result<()> {
    let s3 = &state.aws.s3;
    s3.delete_object()
        .bucket(&file.s3_bucket)
        .key(&file.s3_key)
        .send()
        .await
        .with_context(|| format!("failed to delete s3://{}/{}", file.s3_bucket, file.s3_key))?;
    let prefix = common::event::chunk_objects_prefix(file.id);
    let mut pages = s3
        .list_objects_v2()
        .bucket(&file.s3_bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.with_context(|| format!("failed to list s3://{}/{prefix}", file.s3_bucket))?;
        let keys = page
            .contents()
            .iter()
            .filter_map(|object| object.key())
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .context("failed to name a chunk object")?;
        if keys.is_empty() {
            continue;
        }
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .context("failed to build a delete request")?;
        let deleted = s3
            .delete_objects()
            .bucket(&file.s3_bucket)
            .delete(delete)
            .send()
            .await
            .with_context(|| format!("failed to delete the chunk objects of file {}", file.id))?;
        if let Some(error) = deleted.errors().first() {
            anyhow::bail!(
                "S3 refused to delete {}: {}",
                error.key().unwrap_or_default(),
                error.message().unwrap_or_default()
            );
        }
    }
    Ok(())
}
