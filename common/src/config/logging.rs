//! How both binaries log.

use super::{ConfigError, env::Env};

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One compact line per event, for people.
    Compact,
    /// One JSON object per event, for log pipelines.
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT`: `compact` (default) or `json`.
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        match env.string_or("LOG_FORMAT", "compact").as_str() {
            "compact" => Ok(Self::Compact),
            "json" => Ok(Self::Json),
            other => Err(env.invalid("LOG_FORMAT", other, "expected compact or json")),
        }
    }
}
