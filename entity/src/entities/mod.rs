//! Table mappings. Keep them in step with the `migration` crate; behaviour goes elsewhere.

pub mod clients;
pub mod files;
pub mod results;
