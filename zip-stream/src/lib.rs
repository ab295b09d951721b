//! Streams a ZIP archive of any number of entries in flat memory.
//!
//! The archive is written in two passes over the same entries, in the same order, so the
//! writer keeps no per-entry state: every entry is STORED (icons are already compressed)
//! and its name, size and CRC-32 are known before its data is sent, so each local header
//! carries them up front (no data descriptors), a local header's offset is a running sum,
//! and the central directory is written from a second pass over the entries' metadata
//! (for example a second database query) instead of from a list kept in memory. ZIP64
//! records are written when they are needed: more than 65,535 entries, an entry of 4 GiB
//! or more, or an archive past 4 GiB. Names are stored as UTF-8 (general purpose bit 11).
//!
//! ```
//! # futures::executor::block_on(async {
//! use bytes::Bytes;
//! use futures::{stream, TryStreamExt};
//! use zip_stream::{EntryMeta, crc32, single_chunk, zip_stream};
//!
//! let files = [("a.txt", &b"hello"[..]), ("dir/b.txt", &b"world!"[..])];
//! let meta = |(name, data): &(&str, &[u8])| EntryMeta::new(*name, data.len() as u64, crc32(data));
//!
//! // Pass 1: each entry with its data (a stream of chunks, here one chunk).
//! let with_data = stream::iter(files.iter().map(|file| {
//!     let data = single_chunk::<std::io::Error>(Bytes::copy_from_slice(file.1));
//!     Ok((meta(file), data))
//! }));
//! // Pass 2: the same entries in the same order, metadata only.
//! let again = stream::iter(files.iter().map(|file| Ok(meta(file))));
//!
//! let chunks: Vec<Bytes> = zip_stream(with_data, again).try_collect().await?;
//! let archive = chunks.concat();
//! assert_eq!(&archive[..4], b"PK\x03\x04");
//! assert_eq!(archive.len() as u64, zip_stream::ArchiveLength::of(files.iter().map(meta))?);
//! # Ok::<_, zip_stream::ZipStreamError<std::io::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The building blocks ([`local_header`], [`central_directory_header`], [`end_records`],
//! [`ArchiveLength`]) are public for callers that write the bytes their own way; the
//! [`zip_stream`] helper checks what the caller promised (each entry's size and CRC-32 against
//! its data, and that the second pass lists the same entries as the first) and fails the
//! stream rather than end a corrupt archive quietly.

mod records;
mod stream;

pub use records::{
    ArchiveLength, EntryMeta, InvalidEntry, central_directory_header, crc32, end_records,
    local_header,
};
pub use stream::{ZipStreamError, single_chunk, zip_stream};
