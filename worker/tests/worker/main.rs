//! The worker as a process: crashes, graceful shutdown, dead letters and several workers on
//! one queue, against the real api, PostgreSQL and LocalStack.

#![expect(clippy::expect_used, reason = "tests stop loudly")]

mod cache;
mod chunks;
mod crash;
mod dead_letters;
mod faults;
mod harness;
mod sharing;
