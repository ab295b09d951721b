//! Typed configuration, read once from the environment, by concern: each binary builds only
//! what it uses ([`ApiConfig`], [`WorkerConfig`], [`DatabaseSettings`] for the migration
//! command), so a variable that one binary never reads cannot stop it. A setting that both
//! binaries need is read in one place ([`database`], [`aws`], [`limits`], [`logging`]).
//! Defaults are documented in `.env.example` and the README; tests build the structs and
//! override fields directly.

pub mod api;
pub mod aws;
pub mod database;
mod env;
pub mod limits;
pub mod logging;
pub mod observability;
pub mod resolver;
pub mod session;
pub mod webhooks;
pub mod worker;

pub use api::{ApiConfig, ApiSettings, IconLookupSettings};
pub use aws::{ApiAwsSettings, AwsConnection, S3Checksums, WorkerAwsSettings};
pub use database::DatabaseSettings;
pub use limits::LimitsSettings;
pub use logging::LogFormat;
pub use session::SessionSettings;
pub use webhooks::{CallbackUrlRules, WebhookDeliverySettings};
pub use worker::{WorkerConfig, WorkerSettings};

/// Why the environment could not be turned into a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable without a default is not set.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable is set to something that does not parse.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What it was set to.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Favicon fetching settings: the `favicon` crate's own type, read from `RESOLVER_*`
/// ([`resolver`]).
pub use favicon::ResolverSettings;
use favicon::{DnsOverrides, parse_dns_override};
pub use observability::ObservabilitySettings;

#[cfg(test)]
mod documentation {
    /// Every source file of the configuration, for the check below.
    const SOURCES: [&str; 11] = [
        include_str!("config.rs"),
        include_str!("config/api.rs"),
        include_str!("config/aws.rs"),
        include_str!("config/database.rs"),
        include_str!("config/limits.rs"),
        include_str!("config/logging.rs"),
        include_str!("config/observability.rs"),
        include_str!("config/resolver.rs"),
        include_str!("config/session.rs"),
        include_str!("config/webhooks.rs"),
        include_str!("config/worker.rs"),
    ];

    /// Every variable the configuration reads is documented in `.env.example` and the README.
    #[test]
    fn every_variable_is_documented() {
        let example = include_str!("../../.env.example");
        let readme = include_str!("../../README.md");
        let names: Vec<&str> = SOURCES
            .iter()
            .flat_map(|source| source.split('"').skip(1).step_by(2))
            .filter(|s| {
                s.len() > 3
                    && s.starts_with(|c: char| c.is_ascii_uppercase())
                    && s.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            })
            .collect();
        assert!(names.len() > 20, "found only {names:?}");
        for name in names {
            assert!(
                example.contains(&format!("{name}=")),
                "{name} is missing from .env.example"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is missing from README.md"
            );
        }
    }
}
