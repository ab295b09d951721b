//! The worker as a process: crashes, graceful shutdown, dead letters and several workers on
//! one queue, against the real api, PostgreSQL and LocalStack.

#![expect(clippy::expect_used, reason = "tests stop loudly")]

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
