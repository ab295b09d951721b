//! End-to-end tests of the api and the worker together, against real PostgreSQL and
//! LocalStack, each started by `test_support::TestStack` with its own database and resources.
//! One binary (modules below) to keep link time down, and so that all of them run in
//! parallel.
//!
//! The first group runs the api and the worker in this process; the second starts worker
//! processes ([`harness::start_stack`]) to crash them, stop them and run several at once.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

// The api and a worker in this process.
mod actions;
mod auth;
mod connections;
mod cursor_paging;
mod events;
mod icons;
mod jobs;
mod limits;
mod openapi;
mod pipeline;
mod queries;
mod recovery;
mod session;
mod upload;
mod webhooks;

// Worker processes: crashes, graceful shutdown, dead letters, several workers on one queue.
mod budget;
mod cache;
mod chunks;
mod crash;
mod db_errors;
mod dead_letters;
mod deterministic;
mod entries;
mod faults;
mod harness;
mod sharing;
