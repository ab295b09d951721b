//! The favicon pipeline's worker: consumes file events from SQS and records each domain's
//! favicon.
//!
//! [`startup::Worker`] wires things together; [`receive`] is the one receive loop, which
//! [`consumer`] runs over the queue with its file handler and [`dlq`] over the DLQ; [`process`]
//! handles one file, [`store`] holds its database writes, [`dlq`] sends dead-lettered work
//! that progressed back and fails the rest. [`parse`] reads uploads, [`entries`] keeps their
//! distinct entries, [`domain`] normalises them, [`text`] makes what is stored storable and
//! [`cache`] says which results later files may copy. [`resolver`] finds favicons; [`cli`] is
//! `worker resolve`, the resolver without the pipeline.

pub mod cache;
pub mod cli;
pub mod consumer;
pub mod context;
pub mod dlq;
pub mod domain;
pub mod entries;
pub mod parse;
pub mod process;
pub mod queue;
pub mod receive;
pub mod resolver;
pub mod startup;
pub mod store;
pub mod text;

#[cfg(test)]
mod testing;

pub use startup::Worker;
