//! Code the api and the worker truly share, and nothing else.
//!
//! Both binaries read the same environment ([`config`]), talk to the same AWS resources through
//! clients built one way ([`aws`]), log the same way ([`telemetry`]), open the database the same
//! way ([`db`]), agree on one message format ([`event`]) and export the same metrics
//! ([`metrics`]). Keeping these in one crate means a
//! setting or the event shape cannot drift between the producer and the consumer.

pub mod aws;
pub mod config;
pub mod db;
pub mod event;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;

pub use config::Settings;
