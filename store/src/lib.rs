//! The favicon pipeline's data layer: every query and status change on `clients`, `files`,
//! `results`, `file_chunks` and `redrives` lives here, typed on the entities' values
//! (`FileStatus`, `ResultStatus`). The api and the worker call it; neither holds SQL of its
//! own (`scripts/check-layers` enforces it).
//!
//! By table or concern: [`clients`] (and their keys), [`files`] (uploads and the worker's
//! writes of a file), [`transitions`] (the one rule for a file's status), [`leases`] (which
//! worker holds a file or a chunk), [`results`], [`cache`] (recent results to copy),
//! [`icons`] (stored icons and
//! the fetches that kept them), [`chunks`] (large files split for several workers), [`redrives`] (the DLQ's budget) and
//! [`announcements`] (which files reached SNS). [`errors`] tells outages from refusals and
//! retries the former. This crate knows nothing of HTTP, AWS or the resolver.

pub mod announcements;
pub mod cache;
pub mod chunks;
pub mod clients;
pub mod errors;
pub mod files;
pub mod icons;
pub mod leases;
pub mod redrives;
pub mod results;
pub mod transitions;

// Text as PostgreSQL can store it: the rule lives with the readers that first cut entries
// to it (`domain_lists::stored_text`).
use domain_lists::stored_text;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

pub use leases::{Claim, Lease, Work};
pub use transitions::{RefusedTransition, TransitionError};

/// Whether the database answers: what readiness checks ask.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
