//! The favicon pipeline's worker: consumes file events from SQS and records each domain's
//! favicon.
//!
//! [`startup::Worker`] wires things together; [`consumer`] is the receive loop, [`process`]
//! handles one file, [`store`] holds its database writes, [`dlq`] fails dead-lettered files.
//! [`resolver`] finds favicons; [`cli`] is `worker resolve`, the resolver without the pipeline.

pub mod cli;
pub mod consumer;
pub mod context;
pub mod dlq;
pub mod domain;
pub mod parse;
pub mod process;
pub mod queue;
pub mod resolver;
pub mod startup;
pub mod store;

pub use startup::Worker;
