//! The favicon pipeline's worker: consumes file events from SQS and records each domain's
//! favicon.
//!
//! [`startup::Worker`] wires things together around the [`state::WorkerState`] every task
//! shares; [`consumer`] is the receive loop, [`message`] what it receives, and [`process`]
//! the story of one message: its [`source`] in S3, [`chunking`] for large files, [`answers`]
//! from the cache or the resolver, every database write through the `store` data layer.
//! [`dlq`] sends dead-lettered work that progressed back and fails the rest. [`parse`] reads
//! uploads, [`entries`] keeps their distinct entries, [`domain`] normalises them, [`text`]
//! makes what is stored storable and [`cache`] says which results later files may copy.
//! [`resolver`] finds favicons; [`cli`] is `worker resolve`, the resolver without the
//! pipeline.

pub mod answers;
pub mod cache;
pub mod chunking;
pub mod cli;
pub mod consumer;
pub mod dlq;
pub mod domain;
pub mod entries;
pub mod message;
pub mod parse;
pub mod process;
pub mod queue;
pub mod resolver;
pub mod source;
pub mod startup;
pub mod state;
pub mod text;

pub use startup::Worker;
