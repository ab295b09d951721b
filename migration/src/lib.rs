//! Database migrations of the favicon pipeline (PostgreSQL 15 and later).
//!
//! Written as SQL so that the constraints that keep data right (CHECKs, the unique
//! `(file_id, domain)`, descending indexes) are visible exactly as PostgreSQL will hold them.

#![expect(
    elided_lifetimes_in_paths,
    reason = "MigrationTrait is an async_trait whose signature spells `&SchemaManager`"
)]

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_clients;
mod m20261123_000002_create_files;
mod m20261123_000003_create_results;
mod m20261123_000004_add_icon_details;
mod m20261123_000005_create_file_chunks;
mod m20261124_000006_more_file_types;
mod m20261124_000107_redrive_budget;
mod m20261124_000108_result_cache_class;
mod m20261125_000300_create_icons;
mod m20261125_000400_file_change_events;
mod m20261125_000500_file_actions;
mod m20261125_000600_webhooks;
mod m20261125_000701_create_sessions;
mod m20261126_000800_key_change_events;

/// The ordered list of migrations; the api runs it at start unless told not to.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_clients::Migration),
            Box::new(m20261123_000002_create_files::Migration),
            Box::new(m20261123_000003_create_results::Migration),
            Box::new(m20261123_000004_add_icon_details::Migration),
            Box::new(m20261123_000005_create_file_chunks::Migration),
            Box::new(m20261124_000006_more_file_types::Migration),
            Box::new(m20261124_000107_redrive_budget::Migration),
            Box::new(m20261124_000108_result_cache_class::Migration),
            Box::new(m20261125_000300_create_icons::Migration),
            Box::new(m20261125_000400_file_change_events::Migration),
            Box::new(m20261125_000500_file_actions::Migration),
            Box::new(m20261125_000600_webhooks::Migration),
            Box::new(m20261125_000701_create_sessions::Migration),
            Box::new(m20261126_000800_key_change_events::Migration),
        ]
    }
}
