//! Code the api and the worker truly share, and nothing else.
//!
//! Each binary reads its own part of the environment ([`config`]: [`ApiConfig`],
//! [`WorkerConfig`], with the settings both need read once), talk to the same AWS resources through
//! clients built one way ([`aws`]), log the same way ([`telemetry`]), open the database the same
//! way ([`db`]), agree on one message format ([`event`]), store icons one way
//! ([`icon_storage`]), export the same metrics ([`metrics`]), and check webhook callback URLs by
//! one rule ([`callback_url`]). Keeping these in one crate means a
//! setting or the event shape cannot drift between the producer and the consumer.

pub mod aws;
pub mod callback_url;
pub mod config;
pub mod db;
pub mod event;
pub mod icon_storage;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;

pub use config::{ApiConfig, WorkerConfig};
