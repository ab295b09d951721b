//! An archive past 4 GiB: an entry of 4 GiB + 10 bytes, then one whose local header lies past
//! 4 GiB. The zeros are never held in memory: the stream's zero chunks are skipped and the
//! archive is written as a sparse file, which `unzip -t` and the `zip` crate read in full.

use std::io::{Read, Seek, SeekFrom, Write};

use bytes::Bytes;
use futures::{StreamExt, stream};
use zip_stream::{EntryMeta, crc32, zip_stream};

use crate::{SourceError, unzip_test_file};

const ZERO_CHUNK_LEN: usize = 1 << 20;
static ZEROS: [u8; ZERO_CHUNK_LEN] = [0; ZERO_CHUNK_LEN];

#[tokio::test]
async fn an_archive_past_four_gib_uses_zip64_offsets_and_sizes() {
    let big_size: u64 = (4 << 30) + 10;
    let whole_chunks = big_size / ZERO_CHUNK_LEN as u64;
    let tail = (big_size % ZERO_CHUNK_LEN as u64) as usize;
    // The CRC of 4 GiB of zeros, combined from the CRC of one chunk rather than computed.
    let mut big_crc = crc32fast::Hasher::new();
    let mut chunk_crc = crc32fast::Hasher::new();
    chunk_crc.update(&ZEROS);
    for _ in 0..whole_chunks {
        big_crc.combine(&chunk_crc);
    }
    big_crc.update(&ZEROS[..tail]);
    let big = EntryMeta::new("big.bin", big_size, big_crc.finalize());
    let before = EntryMeta::new("before.txt", 6, crc32(b"before"));
    let after = EntryMeta::new("after.txt", 5, crc32(b"after"));

    let big_data = stream::iter(0..whole_chunks)
        .map(|_| Ok(Bytes::from_static(&ZEROS)))
        .chain(stream::iter([Ok(Bytes::from_static(&ZEROS[..tail]))]));
    let data = |bytes: &'static [u8]| stream::iter([Ok(Bytes::from_static(bytes))]).left_stream();
    let first = stream::iter([
        Ok::<_, SourceError>((before.clone(), data(b"before"))),
        Ok((big.clone(), big_data.right_stream())),
        Ok((after.clone(), data(b"after"))),
    ]);
    let second = stream::iter([Ok(before), Ok(big), Ok(after)]);

    // Writes every chunk but the zeros into a sparse file of the archive's length.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut position = 0_u64;
    let mut archive = Box::pin(zip_stream(first, second));
    while let Some(chunk) = archive.next().await {
        let chunk = chunk.unwrap();
        if chunk.as_ptr() != ZEROS.as_ptr() {
            file.seek(SeekFrom::Start(position)).unwrap();
            file.write_all(&chunk).unwrap();
        }
        position += chunk.len() as u64;
    }
    file.as_file().set_len(position).unwrap();
    file.flush().unwrap();
    assert!(position > 4 << 30);

    let mut zip = zip::ZipArchive::new(file.reopen().unwrap()).unwrap();
    assert_eq!(zip.len(), 3);
    assert_eq!(zip.by_name("big.bin").unwrap().size(), big_size);
    let mut after_entry = zip.by_name("after.txt").unwrap();
    assert!(after_entry.header_start() > 4 << 30);
    let mut text = String::new();
    after_entry.read_to_string(&mut text).unwrap();
    assert_eq!(text, "after");
    drop(after_entry);

    // unzip reads the 4 GiB entry too and checks its CRC.
    unzip_test_file(file.path());
}
