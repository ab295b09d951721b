//! An uploaded file, whatever its bytes, from the readers to the rows written: every reader
//! (CSV, TSV, JSON, NDJSON) never panics, yields only non-blank entries and does not depend on
//! how the bytes are chunked; the entries, normalised and kept distinct, become result rows
//! whose text PostgreSQL can store (no NUL, bounded). No database is needed: the target
//! asserts what the database requires.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| favicon_fuzz::check_results_rows(data));
