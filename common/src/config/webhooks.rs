//! Webhooks: which callback URLs are accepted (read by the api, which checks them at
//! registration, and by the worker, which checks them again at delivery), and how the worker
//! delivers.

use std::time::Duration;

use super::{ConfigError, env::Env};

/// The rule for callback URLs, shared by api and worker so that they cannot disagree.
#[derive(Debug, Clone, Default)]
pub struct CallbackUrlRules {
    /// `WEBHOOK_ALLOW_PRIVATE` (default false; for tests only): accept callback URLs whose
    /// host is or resolves to a loopback, private or otherwise non-public address, like the
    /// resolver's `RESOLVER_ALLOW_PRIVATE`.
    pub allow_private: bool,
}

impl CallbackUrlRules {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            allow_private: env.parse_or("WEBHOOK_ALLOW_PRIVATE", false)?,
        })
    }
}

/// How the worker delivers webhook notifications.
#[derive(Debug, Clone)]
pub struct WebhookDeliverySettings {
    /// `WEBHOOK_MAX_ATTEMPTS` (default 8): attempts per notification before it is given up.
    pub max_attempts: u32,
    /// `WEBHOOK_BACKOFF_BASE_MS` (default 30000): the wait after the first failed attempt;
    /// it doubles after each further one.
    pub backoff_base: Duration,
    /// `WEBHOOK_BACKOFF_MAX_SECS` (default 3600): the longest wait between two attempts.
    pub backoff_max: Duration,
    /// `WEBHOOK_TIMEOUT_SECS` (default 10): how long one attempt may take, connection
    /// included.
    pub timeout: Duration,
    /// `WEBHOOK_POLL_INTERVAL_MS` (default 1000): how often the worker looks for due
    /// notifications when it found none.
    pub poll_interval: Duration,
    /// `WEBHOOK_CONCURRENCY` (default 8): notifications one worker sends at once.
    pub concurrency: usize,
}

impl WebhookDeliverySettings {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            max_attempts: env.positive_or("WEBHOOK_MAX_ATTEMPTS", 8)?,
            backoff_base: Duration::from_millis(env.parse_or("WEBHOOK_BACKOFF_BASE_MS", 30_000)?),
            backoff_max: Duration::from_secs(env.parse_or("WEBHOOK_BACKOFF_MAX_SECS", 3600)?),
            timeout: Duration::from_secs(env.positive_or("WEBHOOK_TIMEOUT_SECS", 10)?),
            poll_interval: Duration::from_millis(
                env.positive_or("WEBHOOK_POLL_INTERVAL_MS", 1000)?,
            ),
            concurrency: env.positive_or("WEBHOOK_CONCURRENCY", 8)?,
        })
    }

    /// The wait after failed attempt number `attempt` (1 for the first):
    /// `backoff_base * 2^(attempt - 1)`, at most `backoff_max`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2_u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::env::testing::with_vars;

    fn settings() -> WebhookDeliverySettings {
        with_vars(&HashMap::new(), WebhookDeliverySettings::read).unwrap()
    }

    #[test]
    fn defaults_are_safe_and_patient() {
        let settings = settings();
        assert_eq!(settings.max_attempts, 8);
        assert_eq!(settings.timeout, Duration::from_secs(10));
        assert!(
            !with_vars(&HashMap::new(), CallbackUrlRules::read)
                .unwrap()
                .allow_private
        );
    }

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling() {
        let settings = settings();
        assert_eq!(settings.backoff(1), Duration::from_secs(30));
        assert_eq!(settings.backoff(2), Duration::from_secs(60));
        assert_eq!(settings.backoff(3), Duration::from_secs(120));
        assert_eq!(settings.backoff(8), Duration::from_secs(3600));
        assert_eq!(settings.backoff(200), Duration::from_secs(3600));
    }

    #[test]
    fn zero_attempts_or_timeout_are_refused() {
        for name in ["WEBHOOK_MAX_ATTEMPTS", "WEBHOOK_TIMEOUT_SECS"] {
            let vars = HashMap::from([(name, "0")]);
            let error = with_vars(&vars, WebhookDeliverySettings::read).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
