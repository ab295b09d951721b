//! Properties shared by the fuzz targets in `fuzz_targets/`.

use std::io::{self, Read};

use domain_lists::{
    entries::DistinctEntries,
    parse::{ReadError, read_entries},
    stored_text::{MAX_DOMAIN_CHARS, MAX_ERROR_CHARS, is_storable},
};
use entity::{FileType, results};
use favicon::{Failure, FailureCategory};
use store::results::{FailureRecord, IconRecord, NewResult, result_row};

/// What reading a whole file gave: its entries, then the error that stopped it, if any.
type Outcome = (Vec<String>, Option<String>);

/// Every type of file the worker reads.
const FILE_TYPES: [FileType; 4] = [
    FileType::Csv,
    FileType::Tsv,
    FileType::Json,
    FileType::Ndjson,
];

/// Reads `data` as a domain list of `file_type` and checks what the worker relies on: no
/// panic, only non-blank entries, no I/O error from an in-memory reader, and the same
/// entries and error whether the bytes come at once or one at a time (S3 streams arrive in
/// chunks of any size, and byte order marks are looked for across them). The entries read.
pub fn check_read_entries(file_type: FileType, data: &[u8]) -> Vec<String> {
    let whole = read_all(file_type, data);
    let trickled = read_all(file_type, OneByteAtATime(data));
    for entry in &whole.0 {
        assert!(!entry.trim().is_empty(), "blank entry {entry:?}");
    }
    assert_eq!(
        whole, trickled,
        "reading in one-byte chunks changed the outcome"
    );
    whole.0
}

/// `data` through the worker's whole write path, short of the database, as every type of
/// file: read ([`check_read_entries`]), normalised and kept distinct as the worker keeps
/// entries, then turned into the result rows it writes: an invalid entry's failed result,
/// and for a domain both an icon and a failure that quotes it. Every text column of every row
/// must be something PostgreSQL stores: no NUL (a `String` is valid UTF-8 already), the
/// domain and the error bounded, the domain unique among the file's rows.
pub fn check_results_rows(data: &[u8]) {
    let file_id = uuid::Uuid::nil();
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    for file_type in FILE_TYPES {
        let mut distinct = DistinctEntries::new(usize::MAX);
        for entry in check_read_entries(file_type, data) {
            distinct.push(&entry);
        }
        let mut domains = std::collections::HashSet::new();
        for entry in distinct.into_entries() {
            assert!(domains.insert(entry.key.clone()), "{:?} twice", entry.key);
            let results = match entry.domain {
                Err(failure) => vec![NewResult {
                    position: entry.position,
                    domain: entry.key,
                    outcome: Err(failure_record(failure)),
                    tries: 0,
                    from_cache: false,
                    cache_class: None,
                }],
                Ok(domain) => {
                    let icon = IconRecord {
                        url: format!("https://{domain}/favicon.ico"),
                        format: "ico".to_owned(),
                        width: 16,
                        height: 16,
                        bytes: 100,
                        source: "fallback".to_owned(),
                        stored: None,
                    };
                    let failure = failure_record(Failure::new(
                        FailureCategory::Timeout,
                        format!("{domain} not resolved"),
                    ));
                    [Ok(icon), Err(failure)]
                        .into_iter()
                        .map(|outcome| NewResult {
                            position: entry.position,
                            domain: entry.key.clone(),
                            outcome,
                            tries: 1,
                            from_cache: false,
                            cache_class: None,
                        })
                        .collect()
                }
            };
            for result in results {
                assert_storable(&result_row(file_id, result, now));
            }
        }
    }
}

/// A failure as the worker records it (`worker::answers::failure_record`, mirrored here so
/// that fuzzing builds neither the worker nor its AWS clients).
fn failure_record(failure: Failure) -> FailureRecord {
    FailureRecord {
        category: failure.category.as_str().to_owned(),
        message: failure.to_string(),
    }
}

/// Asserts that PostgreSQL can store every text column of `row` as it is.
fn assert_storable(row: &results::Model) {
    assert!(
        is_storable(&row.domain, MAX_DOMAIN_CHARS),
        "domain {:?}",
        row.domain
    );
    let bounded = [(&row.error, MAX_ERROR_CHARS), (&row.error_category, 32)];
    for (text, max) in bounded {
        if let Some(text) = text {
            assert!(is_storable(text, max), "{text:?}");
        }
    }
    let unbounded = [&row.favicon_url, &row.icon_format, &row.icon_source];
    for text in unbounded.into_iter().flatten() {
        assert!(!text.contains('\0'), "{text:?}");
    }
}

fn read_all(file_type: FileType, input: impl Read) -> Outcome {
    let mut entries = Vec::new();
    let error = match read_entries(file_type, input, |entry| entries.push(entry)) {
        Ok(()) => None,
        Err(ReadError::Io(error)) => panic!("I/O error from an in-memory reader: {error}"),
        Err(ReadError::Parse(error)) => Some(error.to_string()),
    };
    (entries, error)
}

/// A reader that hands out one byte per `read`, the worst chunking a stream can have.
#[derive(Debug)]
struct OneByteAtATime<'a>(&'a [u8]);

impl Read for OneByteAtATime<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&byte, rest)), Some(slot)) => {
                *slot = byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}
