//! The dashboard's browser sessions: how long a sign-in lasts and whether its cookie is
//! `Secure`.

use std::time::Duration;

use super::{ConfigError, env::Env};

/// Browser session settings (`POST /session`).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `SESSION_TTL_SECS` (default 43200, 12 hours): how long a browser sign-in lasts; the
    /// page asks for the key again after.
    pub ttl: Duration,
    /// `SESSION_COOKIE_SECURE` (default true): the session cookie is `Secure` (sent only over
    /// HTTPS, and to `http://localhost` / `127.0.0.1`, which browsers treat as secure) and
    /// named `__Host-fp_session`; false names it `fp_session` without `Secure`, for plain
    /// HTTP on another host in development.
    pub cookie_secure: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(12 * 60 * 60),
            cookie_secure: true,
        }
    }
}

impl SessionSettings {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            ttl: Duration::from_secs(env.positive_or("SESSION_TTL_SECS", 12 * 60 * 60)?),
            cookie_secure: env.parse_or("SESSION_COOKIE_SECURE", true)?,
        })
    }
}
