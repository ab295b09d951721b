//! An uploaded JSON file, as the worker reads it: `worker::parse::read_entries` never panics,
//! yields only non-blank entries and does not depend on how the bytes are chunked.
#![no_main]

use entity::FileType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| favicon_fuzz::check_read_entries(FileType::Json, data));
