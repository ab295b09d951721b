//! Limits both binaries enforce, each at its end of the pipeline.

use super::{ConfigError, env::Env};

/// Limits the api and the worker share, read once so that they cannot disagree.
#[derive(Debug, Clone)]
pub struct LimitsSettings {
    /// `MAX_DOMAINS_PER_FILE` (default 1,000,000): the most entries one file may hold. The api
    /// refuses larger `POST /jobs` lists (422); an upload is streamed to S3 without being
    /// parsed, so only the worker can count its entries, and it fails larger uploads.
    pub max_domains_per_file: usize,
}

impl LimitsSettings {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            max_domains_per_file: env.positive_or("MAX_DOMAINS_PER_FILE", 1_000_000)?,
        })
    }
}
