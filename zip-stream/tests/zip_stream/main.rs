//! Archives written by `zip_stream`, read back by the `zip` crate and by Info-ZIP's `unzip -t`.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod large;

use std::io::{Read, Write};
use std::process::Command;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use zip_stream::{ArchiveLength, EntryMeta, ZipStreamError, crc32, zip_stream};

/// Stands for the caller's errors (a database or S3 error in the api).
#[derive(Debug, PartialEq, Eq)]
struct SourceError(&'static str);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

type DataStream = stream::Iter<std::vec::IntoIter<Result<Bytes, SourceError>>>;

/// An entry's data in chunks of at most 3 bytes, so chunk boundaries are exercised.
fn chunked(data: &[u8]) -> DataStream {
    let chunks: Vec<_> = data
        .chunks(3)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(chunks)
}

/// Both passes over `files`, with metadata computed from the data.
fn passes(
    files: &[(String, Vec<u8>)],
) -> (
    impl Stream<Item = Result<(EntryMeta, DataStream), SourceError>> + '_,
    impl Stream<Item = Result<EntryMeta, SourceError>> + '_,
) {
    let meta = |(name, data): &(String, Vec<u8>)| {
        EntryMeta::new(name.clone(), data.len() as u64, crc32(data))
    };
    let first = stream::iter(files).map(move |file| Ok((meta(file), chunked(&file.1))));
    let second = stream::iter(files).map(move |file| Ok(meta(file)));
    (first, second)
}

async fn archive_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let (first, second) = passes(files);
    let chunks: Vec<Bytes> = zip_stream(first, second).try_collect().await.unwrap();
    chunks.concat()
}

/// Writes `archive` to a file and asks `unzip -t` to test every entry's CRC; fails when unzip
/// is missing rather than skip.
fn unzip_test(archive: &[u8]) -> String {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(archive).unwrap();
    file.flush().unwrap();
    unzip_test_file(file.path())
}

/// Runs `unzip -t` on the archive at `path`.
fn unzip_test_file(path: &std::path::Path) -> String {
    let output = Command::new("unzip")
        .arg("-tqq")
        .arg(path)
        .output()
        .expect("`unzip` must be installed for these tests (apt-get install unzip)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "unzip -t failed: {text}");
    text
}

fn sample_files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("example.com.png".to_owned(), b"\x89PNG not really".to_vec()),
        (
            "bücher.de/icon.svg".to_owned(),
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
        ),
        ("empty.txt".to_owned(), Vec::new()),
    ]
}

#[tokio::test]
async fn three_entries_read_back_with_names_contents_and_crcs() {
    let files = sample_files();
    let archive = archive_of(&files).await;
    assert_eq!(
        archive.len() as u64,
        ArchiveLength::of(files.iter().map(|(n, d)| EntryMeta::new(
            n.clone(),
            d.len() as u64,
            crc32(d)
        )))
        .unwrap()
    );

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&archive)).unwrap();
    assert_eq!(zip.len(), 3);
    for (index, (name, data)) in files.iter().enumerate() {
        let mut entry = zip.by_index(index).unwrap();
        assert_eq!(entry.name().unwrap(), name.as_str());
        assert_eq!(entry.crc32(), crc32(data));
        assert_eq!(entry.size(), data.len() as u64);
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        let mut read = Vec::new();
        // Reading to the end makes the zip crate check the CRC.
        entry.read_to_end(&mut read).unwrap();
        assert_eq!(&read, data);
    }
    unzip_test(&archive);
}

#[tokio::test]
async fn seventy_thousand_entries_use_zip64_and_read_back() {
    let files: Vec<(String, Vec<u8>)> = (0..70_000_u32)
        .map(|i| {
            (
                format!("d{i}.example/icon-{i}.png"),
                i.to_le_bytes()[..(i % 5) as usize].to_vec(),
            )
        })
        .collect();
    let archive = archive_of(&files).await;

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&archive)).unwrap();
    assert_eq!(zip.len(), 70_000);
    for index in [0, 1, 4, 65_534, 65_535, 65_536, 69_999] {
        let (name, data) = &files[index];
        let mut entry = zip.by_index(index).unwrap();
        assert_eq!(entry.name().unwrap(), name.as_str());
        assert_eq!(entry.crc32(), crc32(data));
        let mut read = Vec::new();
        entry.read_to_end(&mut read).unwrap();
        assert_eq!(&read, data);
    }
    let report = unzip_test(&archive);
    assert!(!report.contains("error"), "{report}");
}

#[tokio::test]
async fn a_wrong_crc_fails_the_stream() {
    let data = Bytes::from_static(b"icon bytes");
    let wrong = EntryMeta::new("a.png", data.len() as u64, crc32(&data) ^ 1);
    let first = stream::iter([Ok::<_, SourceError>((
        wrong.clone(),
        stream::iter([Ok(data)]),
    ))]);
    let second = stream::iter([Ok(wrong)]);
    let result: Result<Vec<Bytes>, _> = zip_stream(first, second).try_collect().await;
    assert!(
        matches!(result, Err(ZipStreamError::CrcMismatch { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_size_fails_the_stream() {
    for declared in [3, 30] {
        let data = Bytes::from_static(b"icon bytes");
        let entry = EntryMeta::new("a.png", declared, crc32(&data));
        let first = stream::iter([Ok::<_, SourceError>((
            entry.clone(),
            stream::iter([Ok(data)]),
        ))]);
        let second = stream::iter([Ok(entry)]);
        let result: Result<Vec<Bytes>, _> = zip_stream(first, second).try_collect().await;
        assert!(
            matches!(result, Err(ZipStreamError::SizeMismatch { .. })),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn a_second_pass_that_differs_fails_the_stream() {
    let files = sample_files();
    let (first, _) = passes(&files);
    let mut reordered = files.clone();
    reordered.swap(0, 1);
    let (_, second) = passes(&reordered);
    let result: Result<Vec<Bytes>, _> = zip_stream(first, second).try_collect().await;
    assert!(
        matches!(result, Err(ZipStreamError::PassesDiffer { .. })),
        "{result:?}"
    );

    let (first, _) = passes(&files);
    let (_, second) = passes(&files[..2]);
    let result: Result<Vec<Bytes>, _> = zip_stream(first, second).try_collect().await;
    assert!(
        matches!(
            result,
            Err(ZipStreamError::PassesDiffer {
                first_count: 3,
                second_count: 2
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn source_errors_and_bad_names_end_the_stream() {
    let first = stream::iter([Err::<(EntryMeta, DataStream), _>(SourceError("db down"))]);
    let second = stream::iter(Vec::<Result<EntryMeta, SourceError>>::new());
    let mut stream = Box::pin(zip_stream(first, second));
    assert!(matches!(
        stream.next().await,
        Some(Err(ZipStreamError::Source(SourceError("db down"))))
    ));
    assert!(
        stream.next().await.is_none(),
        "the stream ends after an error"
    );

    let entry = EntryMeta::new("../evil.png", 0, 0);
    let first = stream::iter([Ok::<_, SourceError>((entry.clone(), chunked(b"")))]);
    let second = stream::iter([Ok(entry)]);
    let result: Result<Vec<Bytes>, _> = zip_stream(first, second).try_collect().await;
    assert!(
        matches!(result, Err(ZipStreamError::InvalidEntry(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_empty_archive_is_valid() {
    let archive = archive_of(&[]).await;
    assert_eq!(archive.len(), 22);
    let zip = zip::ZipArchive::new(std::io::Cursor::new(&archive)).unwrap();
    assert_eq!(zip.len(), 0);
}
