//! One tracing set-up for both binaries: JSON when `LOG_FORMAT=json`, compact otherwise, with
//! `RUST_LOG` filtering (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,sqlx=warn,sea_orm=warn";

/// Installs the global subscriber. Call once, at the top of `main`.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Compact => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .compact()
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}
