//! Uploaded domain lists, read as the pipeline reads them.
//!
//! [`parse`] reads the entries of a CSV, TSV, JSON or NDJSON file as a stream (a file is never
//! held whole in memory); [`entries`] keeps the distinct ones, each a normalised
//! [`favicon::Domain`] or the `invalid_domain` failure saying why it is none; [`stored_text`]
//! makes what comes from such a file storable (no NUL, bounded) before it is compared or
//! written. The worker reads uploads with it, and the fuzz targets check it without a
//! database.

pub mod entries;
pub mod parse;
pub mod stored_text;
