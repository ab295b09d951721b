//! Properties shared by the fuzz targets in `fuzz_targets/`.

use std::io::{self, Read};

use entity::FileType;
use worker::parse::{ReadError, read_entries};

/// What reading a whole file gave: its entries, then the error that stopped it, if any.
type Outcome = (Vec<String>, Option<String>);

/// Reads `data` as a domain list of `file_type` and checks what the worker relies on: no
/// panic, only non-blank entries, no I/O error from an in-memory reader, and the same
/// entries and error whether the bytes come at once or one at a time (S3 streams arrive in
/// chunks of any size, and the byte order mark is looked for across them).
pub fn check_read_entries(file_type: FileType, data: &[u8]) {
    let whole = read_all(file_type, data);
    let trickled = read_all(file_type, OneByteAtATime(data));
    for entry in &whole.0 {
        assert!(!entry.trim().is_empty(), "blank entry {entry:?}");
    }
    assert_eq!(
        whole, trickled,
        "reading in one-byte chunks changed the outcome"
    );
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
