//! The writer's memory stays flat however many entries it streams: the resident set size is
//! measured around an archive of 300,000 entries whose chunks are dropped as they come.
//!
//! A test binary of its own: other tests running in the same process (the 70,000-entry
//! archive kept in memory) would move the resident set size it measures.

#![expect(clippy::unwrap_used, reason = "tests")]

use bytes::Bytes;
use futures::{StreamExt, stream};
use zip_stream::{EntryMeta, crc32, zip_stream};

/// The process's resident set size in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn entry(index: u64) -> EntryMeta {
    let data = index.to_le_bytes();
    EntryMeta::new(format!("site-{index}.example/icon.png"), 8, crc32(&data))
}

/// Streams an archive of `count` entries, dropping each chunk; returns its length.
fn stream_archive(count: u64) -> u64 {
    let with_data = stream::iter(0..count).map(|index| {
        let data = stream::iter([Ok(Bytes::copy_from_slice(&index.to_le_bytes()))]);
        Ok::<_, std::convert::Infallible>((entry(index), data))
    });
    let again = stream::iter(0..count).map(|index| Ok(entry(index)));
    futures::executor::block_on(async {
        let mut archive = Box::pin(zip_stream(with_data, again));
        let mut length = 0;
        while let Some(chunk) = archive.next().await {
            length += chunk.unwrap().len() as u64;
        }
        length
    })
}

#[test]
fn memory_stays_flat_for_hundreds_of_thousands_of_entries() {
    // Warm up the allocator and the code paths, then measure.
    stream_archive(20_000);
    let before = rss_kib();
    let length = stream_archive(300_000);
    let growth = rss_kib().saturating_sub(before);
    assert!(length > 30 << 20, "the archive is {length} bytes");
    // Keeping even 16 bytes per entry would add 4.7 MiB.
    assert!(growth < 2048, "the resident set grew by {growth} KiB");
}

#[test]
fn the_archive_stream_is_send_for_a_server() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let with_data = stream::iter(Vec::<
        Result<
            (
                EntryMeta,
                stream::Iter<std::vec::IntoIter<Result<Bytes, std::io::Error>>>,
            ),
            std::io::Error,
        >,
    >::new());
    let again = stream::iter(Vec::<Result<EntryMeta, std::io::Error>>::new());
    assert_send(&zip_stream(with_data, again));
}
