//! The favicon pipeline's worker: consumes file events from SQS and records each domain's
//! favicon.
//!
//! [`startup::Worker`] wires things together; [`consumer`] is the receive loop, [`process`]
//! handles one file, [`store`] holds its database writes, [`dlq`] sends dead-lettered work
//! that progressed back and fails the rest; [`cli`] is `worker resolve`, the resolver without
//! the pipeline. Two crates do the rest: `domain-lists` reads uploads, keeps their distinct
//! entries and makes what is stored storable; `favicon` normalises domains, finds their
//! favicons and says which results later files may copy.

pub mod cli;
pub mod consumer;
pub mod context;
pub mod dlq;
pub mod process;
pub mod queue;
pub mod startup;
pub mod store;

pub use startup::Worker;
