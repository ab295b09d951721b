//! The async writer: two passes over the entries in, a stream of archive bytes out.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::records::{
    EntryMeta, InvalidEntry, central_directory_header, end_records, local_header,
};

/// Central directory headers are sent in chunks of about this many bytes rather than one
/// small chunk per entry.
const CENTRAL_DIRECTORY_CHUNK: usize = 64 * 1024;

/// Why an archive stream stopped before its end. The bytes sent until then are no valid
/// archive: a server should abort the response rather than end it.
#[derive(Debug, thiserror::Error)]
pub enum ZipStreamError<E> {
    /// One of the caller's streams (entries or data) failed.
    #[error("{0}")]
    Source(E),
    /// An entry's name cannot be written.
    #[error(transparent)]
    InvalidEntry(#[from] InvalidEntry),
    /// An entry's data was longer or shorter than its declared size.
    #[error("zip entry {name:?} declared {declared} bytes but its data had {actual}{}", if *.more { " or more" } else { "" })]
    SizeMismatch {
        /// The entry's name.
        name: String,
        /// The size the caller declared.
        declared: u64,
        /// The bytes received (when `more`, at least this many).
        actual: u64,
        /// Whether the data went on past `actual`.
        more: bool,
    },
    /// An entry's data did not have the CRC-32 the caller declared.
    #[error("zip entry {name:?} declared CRC-32 {declared:08x} but its data has {actual:08x}")]
    CrcMismatch {
        /// The entry's name.
        name: String,
        /// The CRC-32 the caller declared.
        declared: u32,
        /// The CRC-32 of the data received.
        actual: u32,
    },
    /// The second pass did not list the same entries, in the same order, as the first.
    #[error(
        "the second pass over the zip entries differs from the first ({first_count} entries, then {second_count})"
    )]
    PassesDiffer {
        /// Entries in the first pass.
        first_count: u64,
        /// Entries in the second pass.
        second_count: u64,
    },
}

/// An entry's data held whole in memory, as the data stream [`zip_stream`] takes (an icon
/// fetched from storage in one piece).
pub fn single_chunk<E>(data: Bytes) -> futures::stream::Iter<std::iter::Once<Result<Bytes, E>>> {
    futures::stream::iter(std::iter::once(Ok(data)))
}

/// Streams a ZIP archive of STORED entries in flat memory.
///
/// `with_data` yields each entry's metadata with its data as a stream of chunks; once it
/// ends, `metadata_again` must yield the same entries' metadata in the same order (for
/// example from a second database query): it is read only after `with_data` ended, and is
/// what the central directory is written from. Memory stays flat whatever the number of
/// entries: one entry's data stream at a time and a 64 KiB central directory buffer.
///
/// The stream checks every promise and ends with an error instead of a corrupt archive: an
/// invalid name, data whose length or CRC-32 differs from the declared ones, or a second pass
/// that differs from the first (count, names, sizes or CRCs, compared through a running hash).
pub fn zip_stream<E, D, P1, P2>(
    with_data: P1,
    metadata_again: P2,
) -> impl Stream<Item = Result<Bytes, ZipStreamError<E>>>
where
    P1: Stream<Item = Result<(EntryMeta, D), E>>,
    D: Stream<Item = Result<Bytes, E>>,
    P2: Stream<Item = Result<EntryMeta, E>>,
{
    let writer = Writer {
        with_data: Box::pin(with_data),
        metadata_again: Box::pin(metadata_again),
        phase: Phase::Entries,
        first_pass: PassSummary::default(),
        second_pass: PassSummary::default(),
        offset: 0,
        central_directory_offset: 0,
        second_pass_offset: 0,
        central_directory_size: 0,
    };
    futures::stream::unfold(writer, |mut writer| async move {
        match writer.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), writer)),
            Ok(None) => None,
            Err(error) => {
                writer.phase = Phase::Done;
                Some((Err(error), writer))
            }
        }
    })
}

/// What a pass saw, to check that the second pass lists what the first wrote.
#[derive(Default)]
struct PassSummary {
    count: u64,
    fingerprint: DefaultHasher,
}

impl PassSummary {
    fn add(&mut self, entry: &EntryMeta) {
        self.count += 1;
        entry.hash(&mut self.fingerprint);
    }
}

enum Phase<D> {
    /// Next: the next entry of the first pass.
    Entries,
    /// Sending one entry's data.
    Data {
        entry: EntryMeta,
        data: Pin<Box<D>>,
        received: u64,
        crc: crc32fast::Hasher,
    },
    /// Writing the central directory from the second pass.
    CentralDirectory,
    Done,
}

struct Writer<P1, D, P2> {
    with_data: Pin<Box<P1>>,
    metadata_again: Pin<Box<P2>>,
    phase: Phase<D>,
    first_pass: PassSummary,
    second_pass: PassSummary,
    /// Bytes sent so far in the first pass.
    offset: u64,
    central_directory_offset: u64,
    /// The running sum of local entry lengths in the second pass: each entry's offset.
    second_pass_offset: u64,
    central_directory_size: u64,
}

impl<E, D, P1, P2> Writer<P1, D, P2>
where
    P1: Stream<Item = Result<(EntryMeta, D), E>>,
    D: Stream<Item = Result<Bytes, E>>,
    P2: Stream<Item = Result<EntryMeta, E>>,
{
    /// The next chunk of the archive, `None` after the last.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ZipStreamError<E>> {
        loop {
            match &mut self.phase {
                Phase::Entries => match self.with_data.next().await {
                    Some(Ok((entry, data))) => {
                        let header = local_header(&entry)?;
                        self.first_pass.add(&entry);
                        self.offset += header.len() as u64;
                        self.phase = Phase::Data {
                            entry,
                            data: Box::pin(data),
                            received: 0,
                            crc: crc32fast::Hasher::new(),
                        };
                        return Ok(Some(Bytes::from(header)));
                    }
                    Some(Err(error)) => return Err(ZipStreamError::Source(error)),
                    None => {
                        self.central_directory_offset = self.offset;
                        self.phase = Phase::CentralDirectory;
                    }
                },
                Phase::Data {
                    entry,
                    data,
                    received,
                    crc,
                } => match data.next().await {
                    Some(Ok(chunk)) => {
                        *received += chunk.len() as u64;
                        if *received > entry.size {
                            return Err(ZipStreamError::SizeMismatch {
                                name: entry.name.clone(),
                                declared: entry.size,
                                actual: *received,
                                more: true,
                            });
                        }
                        crc.update(&chunk);
                        self.offset += chunk.len() as u64;
                        if !chunk.is_empty() {
                            return Ok(Some(chunk));
                        }
                    }
                    Some(Err(error)) => return Err(ZipStreamError::Source(error)),
                    None => {
                        if *received != entry.size {
                            return Err(ZipStreamError::SizeMismatch {
                                name: entry.name.clone(),
                                declared: entry.size,
                                actual: *received,
                                more: false,
                            });
                        }
                        let actual = crc.clone().finalize();
                        if actual != entry.crc32 {
                            return Err(ZipStreamError::CrcMismatch {
                                name: entry.name.clone(),
                                declared: entry.crc32,
                                actual,
                            });
                        }
                        self.phase = Phase::Entries;
                    }
                },
                Phase::CentralDirectory => return self.central_directory_chunk().await.map(Some),
                Phase::Done => return Ok(None),
            }
        }
    }

    /// The next chunk of central directory headers; the last one ends with the end records.
    async fn central_directory_chunk(&mut self) -> Result<Bytes, ZipStreamError<E>> {
        let mut chunk = BytesMut::with_capacity(CENTRAL_DIRECTORY_CHUNK + 1024);
        while chunk.len() < CENTRAL_DIRECTORY_CHUNK {
            match self.metadata_again.next().await {
                Some(Ok(entry)) => {
                    let header = central_directory_header(&entry, self.second_pass_offset)?;
                    self.second_pass.add(&entry);
                    self.second_pass_offset += entry.local_header_len() + entry.size;
                    self.central_directory_size += header.len() as u64;
                    chunk.extend_from_slice(&header);
                }
                Some(Err(error)) => return Err(ZipStreamError::Source(error)),
                None => {
                    let same = self.first_pass.count == self.second_pass.count
                        && self.first_pass.fingerprint.finish()
                            == self.second_pass.fingerprint.finish()
                        && self.second_pass_offset == self.central_directory_offset;
                    if !same {
                        return Err(ZipStreamError::PassesDiffer {
                            first_count: self.first_pass.count,
                            second_count: self.second_pass.count,
                        });
                    }
                    chunk.extend_from_slice(&end_records(
                        self.second_pass.count,
                        self.central_directory_offset,
                        self.central_directory_size,
                    ));
                    self.phase = Phase::Done;
                    break;
                }
            }
        }
        Ok(chunk.freeze())
    }
}
