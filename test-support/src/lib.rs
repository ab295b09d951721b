//! Test harness shared by the integration tests: every test gets its own PostgreSQL database
//! and its own prefixed LocalStack bucket, topic, queue and DLQ, so tests run in parallel.
//!
//! The services are required, never optional: when PostgreSQL or LocalStack cannot be reached
//! the harness panics with what to run, so a missing service fails CI instead of skipping.
//!
//! [`TestStack`] starts the api and workers on such settings, in this process or as child
//! processes ([`child_process`]); it is the one way end-to-end tests and benchmarks start the
//! system.
//!
//! [`farm`] is a local web farm of favicon cases (HTTP and HTTPS with a test CA) for the
//! resolver's tests and benchmarks; it needs no service. [`proxy`] is a TCP proxy that tests
//! take down and bring back up to make a service disappear for a while.

#![expect(
    clippy::expect_used,
    reason = "a harness that cannot set up must stop the test loudly"
)]

pub mod aws;
pub mod child_process;
pub mod client;
pub mod database;
pub mod farm;
pub mod icons;
pub mod proxy;
pub mod settings;
pub mod stack;

pub use client::ApiClient;
pub use icons::IconServer;
pub use proxy::FaultProxy;
pub use settings::{StackSettings, isolated_settings};
pub use stack::{TestStack, WorkerProcess};

/// Quiet tracing unless `TEST_LOG` is set; initialised once.
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws=warn,sqlx=warn"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}

/// A short unique name fragment for databases and AWS resources.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
