//! End-to-end tests of the API and the worker against real PostgreSQL and LocalStack.
//! One binary (modules below) to keep link time down.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod auth;
mod connections;
mod helpers;
mod jobs;
mod limits;
mod openapi;
mod pipeline;
mod queries;
mod recovery;
mod upload;
