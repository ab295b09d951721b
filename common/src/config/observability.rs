//! Error reporting (README "Observability"): read by both binaries. The worker's metrics
//! port is a worker setting ([`super::WorkerSettings::metrics_port`]).

use secrecy::SecretString;

use super::{ConfigError, env::Env};

/// Error reporting.
#[derive(Debug, Clone, Default)]
pub struct ObservabilitySettings {
    /// `SENTRY_DSN` (unset by default): when set, errors are reported to this Sentry project.
    pub sentry_dsn: Option<SecretString>,
}

impl ObservabilitySettings {
    /// Reads only these settings, for commands that need nothing else.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let sentry_dsn = env.optional("SENTRY_DSN");
        if let Some(dsn) = &sentry_dsn
            && let Err(error) = dsn.trim().parse::<sentry::types::Dsn>()
        {
            // Not echoed: the DSN holds the project's key.
            return Err(env.invalid("SENTRY_DSN", "(hidden)", error));
        }
        Ok(Self {
            sentry_dsn: sentry_dsn.map(|dsn| SecretString::from(dsn.trim().to_owned())),
        })
    }
}
