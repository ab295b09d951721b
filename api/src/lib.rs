//! The favicon pipeline's HTTP API.
//!
//! [`startup::Application`] wires configuration, database, AWS clients and routes together and
//! is what `main` and the integration tests start. Handlers in [`routes`] are thin: they call
//! the data layer (`store`: every query and mutation on a `&DatabaseConnection`), [`upload`]
//! (multipart to S3), [`intake`] (recording and announcing a stored list) and [`publish`]
//! (events to SNS), and answer with [`views`] or [`csv_export`].

pub mod announcer;
pub mod auth;
pub mod auth_failures;
pub mod csv_export;
pub mod downloads;
pub mod error;
pub mod file_objects;
pub mod icon_lookup;
pub mod icons_zip;
pub mod intake;
pub mod key_cache;
pub mod live;
pub mod openapi;
pub mod publish;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod session;
pub mod startup;
pub mod state;
pub mod timeout;
pub mod upload;
pub mod views;

pub use error::{ApiError, Result};
pub use startup::Application;
