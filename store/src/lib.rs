//! The favicon pipeline's data layer: every query and status change on `clients`, `files`,
//! `results`, `file_chunks` and `redrives` lives here, typed on the entities' values
//! (`FileStatus`, `ResultStatus`). The api and the worker call it; neither holds SQL of its
//! own (`scripts/check-layers` enforces it).
//!
//! By table or concern: [`clients`] (and their keys), [`files`] (uploads and the worker's
//! writes of a file), [`transitions`] (the one rule for a file's status), [`leases`] (which
//! worker holds a file or a chunk), [`results`], [`cache`] (recent results to copy),
//! [`icons`] (stored icons and the fetches that kept them), [`chunks`] (large files split for several workers), [`redrives`] (the DLQ's budget),
//! [`announcements`] (which files reached SNS), [`sessions`] (browser sign-ins), [`webhooks`]
//! (callback URLs and secrets), [`webhook_deliveries`] (the outbox of notifications and their
//! attempts), and what owners do to their files: [`actions`] (cancel, delete) and [`retries`]
//! (resolve the failed results again); [`events`] listens for the changes of files the
//! database announces, for live streams. [`errors`] tells outages from refusals and retries
//! the former. This crate knows nothing of HTTP, AWS or the resolver.

pub mod actions;
pub mod announcements;
pub mod cache;
pub mod chunks;
pub mod clients;
pub mod errors;
pub mod events;
pub mod files;
pub mod icons;
pub mod leases;
pub mod redrives;
pub mod results;
pub mod retries;
pub mod sessions;
pub mod transitions;
pub mod webhook_deliveries;
pub mod webhooks;

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
