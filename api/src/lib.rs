//! The favicon pipeline's HTTP API.
//!
//! [`startup::Application`] wires configuration, database, AWS clients and routes together and
//! is what `main` and the integration tests start. Handlers in [`routes`] are thin: they call
//! the functions in [`files`] (queries and mutations on a `&DatabaseConnection`), [`upload`]
//! (multipart to S3) and [`publish`] (events to SNS).

pub mod auth;
pub mod auth_failures;
pub mod clients;
pub mod error;
pub mod files;
pub mod intake;
pub mod openapi;
pub mod publish;
pub mod rate_limit;
pub mod results;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod state;
pub mod timeout;
pub mod upload;

pub use error::{ApiError, Result};
pub use startup::Application;
