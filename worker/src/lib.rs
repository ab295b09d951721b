//! The favicon pipeline's worker: consumes file events from SQS and records each domain's
//! favicon.
//!
//! [`startup::Worker`] wires things together around the [`state::WorkerState`] every task
//! shares; [`receive`] is the one receive loop, which [`consumer`] runs over the queue and
//! [`dlq`] over the DLQ; [`message`] is what they receive, and [`process`]
//! the story of one message: its [`source`] in S3, [`chunking`] for large files, [`answers`]
//! from the cache or the resolver, every database write through the `store` data layer.
//! [`dlq`] sends dead-lettered work that progressed back and fails the rest; [`cli`] is
//! `worker resolve`, the resolver without the pipeline; [`webhooks`] delivers the signed
//! notifications of finished files; [`fd_limit`] raises and checks the open-file limit at
//! start. Two crates do the rest:
//! `domain-lists` reads uploads, keeps their distinct entries and makes what is stored
//! storable; `favicon` normalises domains, finds their favicons and says which results later
//! files may copy.

pub mod answers;
pub mod chunking;
pub mod cli;
pub mod consumer;
pub mod dlq;
pub mod fd_limit;
pub mod message;
pub mod process;
pub mod queue;
pub mod receive;
pub mod source;
pub mod startup;
pub mod state;
pub mod webhooks;

#[cfg(test)]
mod testing;

pub use startup::Worker;
