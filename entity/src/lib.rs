//! SeaORM entities for the favicon pipeline.
//!
//! `entities/` holds the table mappings, written in the shape `sea-orm-cli generate entity`
//! produces; the value types stored in them (`FileStatus`, `FileType`, `ResultStatus`) and the
//! finders the api and worker share live beside them. This crate knows nothing of HTTP or AWS.

mod delivery_state;
pub mod entities;
mod values;

pub use delivery_state::DeliveryState;
pub use entities::{
    clients, file_chunks, files, icon_resolutions, icons, redrives, resolution_images,
    result_retries, results, sessions,
};
pub use entities::{webhook_attempts, webhook_deliveries, webhooks};
pub use values::{FileStatus, FileType, ResultStatus};
