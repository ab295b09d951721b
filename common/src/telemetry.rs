//! One tracing set-up for both binaries: JSON when `LOG_FORMAT=json`, compact otherwise, with
//! `RUST_LOG` filtering (default `info`); and, only when `SENTRY_DSN` is set, error reporting:
//! every `error!` event (and panic) goes to Sentry too, with the info and warn lines before it
//! as breadcrumbs. Without a DSN no Sentry client exists and nothing leaves the process.

use std::{io::IsTerminal, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use tracing::Level;
use tracing_subscriber::{
    EnvFilter,
    filter::{LevelFilter, filter_fn},
    fmt,
    prelude::*,
};

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,sqlx=warn,sea_orm=warn";

/// How long dropping [`Telemetry`] waits for queued Sentry events to be sent.
const SENTRY_FLUSH: Duration = Duration::from_secs(2);

/// What must live as long as the process: the Sentry client, when there is one. Keep it in a
/// variable of `main`; dropping it sends the events still queued (waiting up to 2 s).
#[must_use = "dropping it stops error reporting"]
pub struct Telemetry {
    sentry: Option<sentry::ClientInitGuard>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("reports_errors", &self.reports_errors())
            .finish()
    }
}

impl Telemetry {
    /// Whether errors are reported to Sentry.
    pub fn reports_errors(&self) -> bool {
        self.sentry.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(sentry) = &self.sentry {
            sentry.flush(Some(SENTRY_FLUSH));
        }
    }
}

/// [`init`] with a binary's own settings: what the api's and the worker's `main` call first.
pub fn start(format: LogFormat, observability: &crate::config::ObservabilitySettings) -> Telemetry {
    init(format, observability.sentry_dsn.as_ref())
}

/// Installs the global subscriber, and Sentry when `sentry_dsn` is given. Call once, at the
/// top of `main`, and keep what it returns.
pub fn init(format: LogFormat, sentry_dsn: Option<&SecretString>) -> Telemetry {
    let sentry = init_sentry(sentry_dsn);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Errors become Sentry events; info and warn lines become breadcrumbs sent with the next
    // error. Only errors are events: every line as an event would exhaust any quota.
    let reporting = sentry.is_some().then(|| {
        BreadcrumbLayer::new()
            .with_filter(filter_fn(|metadata| {
                matches!(*metadata.level(), Level::WARN | Level::INFO)
            }))
            .and_then(ErrorLayer::new().with_filter(LevelFilter::ERROR))
    });
    let registry = tracing_subscriber::registry().with(filter).with(reporting);
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
    Telemetry { sentry }
}

/// Starts the Sentry client when there is a DSN, else nothing (no client, no thread, no
/// connection). `SENTRY_ENVIRONMENT` and `SENTRY_RELEASE` are read by the `sentry` crate.
pub fn init_sentry(dsn: Option<&SecretString>) -> Option<sentry::ClientInitGuard> {
    let dsn = dsn?;
    let dsn = match dsn.expose_secret().parse::<sentry::types::Dsn>() {
        Ok(dsn) => dsn,
        Err(error) => {
            // The configuration checks it first; this is only a second line.
            tracing::warn!(error.message = %error, "SENTRY_DSN is invalid; errors are not reported");
            return None;
        }
    };
    let mut options = sentry::ClientOptions::new();
    options.dsn = Some(dsn);
    let guard = sentry::init(options);
    guard.is_enabled().then_some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_dsn_no_sentry_client_exists() {
        assert!(init_sentry(None).is_none());
        assert!(sentry::Hub::current().client().is_none());
        assert!(sentry::Hub::main().client().is_none());
    }
}
