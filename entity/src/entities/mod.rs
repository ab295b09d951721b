//! Table mappings. Keep them in step with the `migration` crate; behaviour goes elsewhere.

pub mod clients;
pub mod file_chunks;
pub mod files;
pub mod icon_resolutions;
pub mod icons;
pub mod redrives;
pub mod resolution_images;
pub mod result_retries;
pub mod results;
pub mod sessions;
pub mod webhook_attempts;
pub mod webhook_deliveries;
pub mod webhooks;
