//! PostgreSQL: read by the api, the worker and the migration command alike.

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, env::Env};

/// PostgreSQL connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`, e.g. `postgres://postgres@127.0.0.1:5432/favicons`; else built from
    /// `DATABASE_HOST`, `DATABASE_PORT`, `DATABASE_NAME`, `DATABASE_USER` and
    /// `DATABASE_PASSWORD` (how ECS passes the RDS-managed secret), with `sslmode=require`.
    pub url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS` (default 10).
    pub max_connections: u32,
}

impl DatabaseSettings {
    /// Reads only the database settings, for commands that need nothing else (`migration`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: Self::url(env)?,
            max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
        })
    }

    /// `DATABASE_URL` when set, else the URL of the parts: ECS injects user and password
    /// from the RDS-managed secret one by one, and RDS requires TLS.
    fn url(env: &Env<'_>) -> Result<SecretString, ConfigError> {
        if let Some(url) = env.optional("DATABASE_URL") {
            return Ok(SecretString::from(url));
        }
        let Some(host) = env.optional("DATABASE_HOST") else {
            return Err(ConfigError::Missing("DATABASE_URL"));
        };
        let port: u16 = env.parse_or("DATABASE_PORT", 5432)?;
        let name = env.required("DATABASE_NAME")?;
        let user = env.required("DATABASE_USER")?;
        let password = SecretString::from(env.required("DATABASE_PASSWORD")?);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Ok(SecretString::from(format!(
            "postgres://{}:{}@{host}:{port}/{}?sslmode=require",
            percent_encode(&user),
            percent_encode(password.expose_secret()),
            percent_encode(&name),
        )))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that a generated
/// password (`@`, `:`, `/`, `%`, ...) stays one URL component.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::env::testing::with_vars;

    fn database(vars: &HashMap<&'static str, &'static str>) -> Result<String, ConfigError> {
        let settings = with_vars(vars, DatabaseSettings::read)?;
        Ok(settings.url.expose_secret().to_owned())
    }

    fn database_parts() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            (
                "DATABASE_HOST",
                "favicons.abc123.us-east-1.rds.amazonaws.com",
            ),
            ("DATABASE_PORT", "5432"),
            ("DATABASE_NAME", "favicons"),
            ("DATABASE_USER", "favicon"),
            ("DATABASE_PASSWORD", "p@ss:w/rd%?#[] ok"),
        ])
    }

    #[test]
    fn database_url_is_built_from_parts_with_the_password_encoded_and_tls_required() {
        assert_eq!(
            database(&database_parts()).unwrap(),
            "postgres://favicon:p%40ss%3Aw%2Frd%25%3F%23%5B%5D%20ok@\
             favicons.abc123.us-east-1.rds.amazonaws.com:5432/favicons?sslmode=require"
        );
        let mut vars = database_parts();
        vars.remove("DATABASE_PORT");
        vars.insert("DATABASE_HOST", "::1");
        assert_eq!(
            database(&vars).unwrap(),
            "postgres://favicon:p%40ss%3Aw%2Frd%25%3F%23%5B%5D%20ok@[::1]:5432/favicons?sslmode=require"
        );
    }

    #[test]
    fn database_url_wins_over_parts_and_one_of_them_is_required() {
        let mut vars = database_parts();
        vars.insert("DATABASE_URL", "postgres://localhost/db");
        assert_eq!(database(&vars).unwrap(), "postgres://localhost/db");
        let err = database(&HashMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DATABASE_URL is required but not set"
        );
        for name in ["DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD"] {
            let mut vars = database_parts();
            vars.remove(name);
            assert!(database(&vars).unwrap_err().to_string().contains(name));
        }
        let mut vars = database_parts();
        vars.insert("DATABASE_PORT", "postgres");
        assert!(
            database(&vars)
                .unwrap_err()
                .to_string()
                .contains("DATABASE_PORT")
        );
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let settings = with_vars(&database_parts(), DatabaseSettings::read).unwrap();
        assert!(!format!("{settings:?}").contains("p@ss"));
    }
}
