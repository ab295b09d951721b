//! `GET /files/{id}/icons.zip`: every found icon of a file as `<domain>.<ext>`, plus an
//! `index.csv`, streamed in flat memory by `zip_stream` (STORED entries, ZIP64 when needed).
//!
//! A ZIP entry's size and CRC-32 are written before its data, and the central directory after
//! all of them, so the archive is built from passes over the same keyset-paged query
//! ([`store::icons::file_icons_after`]), none of which holds more than one page: one to size
//! and checksum `index.csv`, one that sends each icon's bytes (read from S3, a few at once)
//! and then `index.csv`, and one that the central directory is written from. Icon sizes and
//! CRCs come from the `icons` rows, recorded when the bytes were stored.

use std::{io, pin::Pin, sync::Arc};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use icon_render::SourceFormat;
use sea_orm::DatabaseConnection;
use store::icons::FileIcon;
use uuid::Uuid;
use zip_stream::{EntryMeta, ZipStreamError, single_chunk, zip_stream};

use crate::{csv_export::spreadsheet_safe, icon_lookup::IconLookups};

/// Results read per database round trip.
const PAGE: u64 = 1000;
/// Icons read from S3 at once, ahead of the one being sent.
const READ_AHEAD: usize = 8;
/// The index's name in the archive.
pub const INDEX_NAME: &str = "index.csv";
/// The index's header.
const INDEX_HEADER: [&str; 6] = [
    "domain",
    "file_name",
    "media_type",
    "width",
    "height",
    "favicon_url",
];

/// One entry's data, whatever it is.
type Data = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The size and CRC-32 of `file_id`'s `index.csv`: the first pass, read before the archive
/// starts (its entry's header carries them).
pub async fn index_entry(db: &DatabaseConnection, file_id: Uuid) -> io::Result<EntryMeta> {
    let mut crc = crc32fast::Hasher::new();
    let mut size = 0_u64;
    let mut pages = std::pin::pin!(index_pages(db.clone(), file_id));
    while let Some(page) = pages.next().await {
        let page = page?;
        crc.update(&page);
        size += page.len() as u64;
    }
    Ok(EntryMeta::new(INDEX_NAME, size, crc.finalize()))
}

/// The archive of `file_id`'s icons, `index` (from [`index_entry`]) last.
pub fn archive(
    db: DatabaseConnection,
    icons: Arc<IconLookups>,
    file_id: Uuid,
    index: EntryMeta,
) -> impl Stream<Item = Result<Bytes, ZipStreamError<io::Error>>> + Send {
    let icon_entries = file_icons(db.clone(), file_id)
        .map_ok(move |icon| {
            let icons = icons.clone();
            async move {
                let bytes = icons
                    .bytes(&icon.icon.hash)
                    .await
                    .map_err(|error| io::Error::other(error.to_string()))?;
                io::Result::Ok((entry_meta(&icon), Box::pin(single_chunk(bytes)) as Data))
            }
        })
        .try_buffered(READ_AHEAD);
    let with_data = {
        let (db, index) = (db.clone(), index.clone());
        icon_entries.chain(stream::once(async move {
            io::Result::Ok((index, Box::pin(index_pages(db, file_id)) as Data))
        }))
    };
    let metadata_again = file_icons(db, file_id)
        .map_ok(|icon| entry_meta(&icon))
        .chain(stream::once(async move { io::Result::Ok(index) }));
    zip_stream(with_data, metadata_again)
}

/// An icon's name in the archive: `<domain>.<ext>`.
pub fn entry_name(icon: &FileIcon) -> String {
    let extension =
        SourceFormat::from_media_type(&icon.icon.media_type).map_or("bin", SourceFormat::as_str);
    format!("{}.{extension}", icon.domain)
}

fn entry_meta(icon: &FileIcon) -> EntryMeta {
    EntryMeta::new(
        entry_name(icon),
        u64::try_from(icon.icon.byte_size).unwrap_or_default(),
        u32::try_from(icon.icon.crc32).unwrap_or_default(),
    )
}

/// Every found icon of `file_id`, in position order, one page at a time.
fn file_icons(
    db: DatabaseConnection,
    file_id: Uuid,
) -> impl Stream<Item = io::Result<FileIcon>> + Send {
    pages(db, file_id)
        .map_ok(|page| stream::iter(page.into_iter().map(io::Result::Ok)))
        .try_flatten()
}

/// The pages of [`file_icons`].
fn pages(
    db: DatabaseConnection,
    file_id: Uuid,
) -> impl Stream<Item = io::Result<Vec<FileIcon>>> + Send {
    stream::try_unfold(Some(-1), move |after| {
        let db = db.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let (icons, last) = store::icons::file_icons_after(&db, file_id, after, PAGE)
                .await
                .map_err(io::Error::other)?;
            Ok(last.map(|last| (icons, Some(last))))
        }
    })
}

/// `index.csv`, one page of rows at a time (the header with the first).
fn index_pages(
    db: DatabaseConnection,
    file_id: Uuid,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let header = stream::once(async { index_rows(&[], true) });
    header.chain(pages(db, file_id).and_then(|page| async move { index_rows(&page, false) }))
}

fn index_rows(icons: &[FileIcon], header: bool) -> io::Result<Bytes> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(icons.len() * 96));
    if header {
        writer
            .write_record(INDEX_HEADER)
            .map_err(io::Error::other)?;
    }
    for icon in icons {
        writer
            .write_record([
                spreadsheet_safe(&icon.domain).as_ref(),
                &entry_name(icon),
                &icon.icon.media_type,
                &icon.icon.width.to_string(),
                &icon.icon.height.to_string(),
                spreadsheet_safe(icon.favicon_url.as_deref().unwrap_or_default()).as_ref(),
            ])
            .map_err(io::Error::other)?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|error| io::Error::other(error.to_string()))
}
