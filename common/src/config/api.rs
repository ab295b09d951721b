//! The api's configuration: everything `api` (serving) reads, and nothing of the worker's.

use std::time::Duration;

use super::{
    ApiAwsSettings, CallbackUrlRules, ConfigError, DatabaseSettings, LimitsSettings, LogFormat,
    ObservabilitySettings, ResolverSettings, SessionSettings, env::Env,
};

/// Everything the api reads at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// S3 (uploads) and SNS (file events).
    pub aws: ApiAwsSettings,
    /// The HTTP server.
    pub api: ApiSettings,
    /// Limits shared with the worker.
    pub limits: LimitsSettings,
    /// `compact` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// Error reporting.
    pub observability: ObservabilitySettings,
    /// Which webhook callback URLs are accepted.
    pub callback_urls: CallbackUrlRules,
    /// How `/icons/{domain}` fetches a domain on demand: the worker's `RESOLVER_*` variables,
    /// read the same way, so both follow the same safety rules and cache times.
    pub resolver: ResolverSettings,
    /// How many on-demand lookups run at once, and for how long.
    pub icon_lookup: IconLookupSettings,
}

/// On-demand lookups of `/icons/{domain}` for domains without a fresh resolution.
#[derive(Debug, Clone)]
pub struct IconLookupSettings {
    /// `ICON_LOOKUP_CONCURRENCY` (default 16): lookups one api instance runs at once; another
    /// gets 503 `lookup_busy`.
    pub concurrency: usize,
    /// `ICON_LOOKUP_TIMEOUT_SECS` (default 15): a lookup not finished (fetched and stored)
    /// within this long answers 504 `lookup_timeout`.
    pub timeout: Duration,
}

impl Default for IconLookupSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            timeout: Duration::from_secs(15),
        }
    }
}

impl IconLookupSettings {
    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            concurrency: env.positive_or("ICON_LOOKUP_CONCURRENCY", default.concurrency)?,
            timeout: Duration::from_secs(
                env.positive_or("ICON_LOOKUP_TIMEOUT_SECS", default.timeout.as_secs())?,
            ),
        })
    }
}

impl ApiConfig {
    /// Reads the api's settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the api's settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env(&lookup))
    }

    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseSettings::read(env)?,
            aws: ApiAwsSettings::read(env)?,
            api: ApiSettings::read(env)?,
            limits: LimitsSettings::read(env)?,
            log_format: LogFormat::read(env)?,
            observability: ObservabilitySettings::read(env)?,
            callback_urls: CallbackUrlRules::read(env)?,
            resolver: super::resolver::read(env)?,
            icon_lookup: IconLookupSettings::read(env)?,
        })
    }
}

/// HTTP server settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `RUN_MIGRATIONS` (default true): the api applies pending migrations at start (and
    /// before `api create-client`).
    pub run_migrations: bool,
    /// `API_HOST` (default `127.0.0.1`).
    pub host: String,
    /// `API_PORT` (default 8080; 0 picks a free port).
    pub port: u16,
    /// `MAX_UPLOAD_BYTES` (default 10 MiB): larger uploads get 413.
    pub max_upload_bytes: u64,
    /// `REPUBLISH_AFTER_SECS` (default 60): a PENDING file whose event did not reach SNS is
    /// published again after this long.
    pub republish_after: Duration,
    /// `MAX_JSON_BODY_BYTES` (default 1 MiB): the body limit of every endpoint but uploads
    /// (notably `POST /jobs`); larger bodies get 413.
    pub max_json_body_bytes: usize,
    /// `REQUEST_TIMEOUT_SECS` (default 30): time allowed to produce the response head of every
    /// request but uploads (a streamed download's body is not bounded); 408 after.
    pub request_timeout: Duration,
    /// `UPLOAD_TIMEOUT_SECS` (default 300): the same for uploads, which include receiving the
    /// whole file and storing it in S3.
    pub upload_timeout: Duration,
    /// `RATE_LIMIT_PER_SECOND` (default 20): requests per second each client (API key) may make,
    /// on average, to one api instance; 0 disables rate limiting.
    pub rate_limit_per_second: u32,
    /// `RATE_LIMIT_BURST` (default 40): requests a client may make at once before the rate
    /// applies; 0 disables rate limiting.
    pub rate_limit_burst: u32,
    /// `MAX_FILES_IN_FLIGHT` (default 20): a client with this many files PENDING or PROCESSING
    /// gets 429 for a new upload or job.
    pub max_files_in_flight: u64,
    /// `HEADER_READ_TIMEOUT_SECS` (default 10): a connection that has not sent a whole request
    /// head within this long is closed (slow-header attacks); it also closes a keep-alive
    /// connection idle for this long.
    pub header_read_timeout: Duration,
    /// `MAX_CONNECTIONS` (default 512): open connections one api instance serves at once;
    /// further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// `MAX_UPLOADS_PER_CLIENT` (default 4): uploads one client may have in progress at once on
    /// one api instance; another gets 429.
    pub max_uploads_per_client: usize,
    /// `UPLOAD_BUFFER_BYTES` (default 256 MiB): memory all uploads in progress on one api
    /// instance may hold in their S3 part buffers together; an upload that does not fit gets
    /// 503. At least one upload's buffer (5 MiB, or `MAX_UPLOAD_BYTES` when smaller).
    pub upload_buffer_bytes: u64,
    /// `AUTH_FAILURE_LIMIT` (default 20; 0 disables): failed authentications one peer address
    /// may make per `AUTH_FAILURE_WINDOW_SECS` before its requests get 429 without a database
    /// query (keys that authenticated recently still pass).
    pub auth_failure_limit: u32,
    /// `AUTH_FAILURE_WINDOW_SECS` (default 60): the window of `AUTH_FAILURE_LIMIT`.
    pub auth_failure_window: Duration,
    /// The dashboard's browser sessions.
    pub session: SessionSettings,
    /// `EVENTS_HEARTBEAT_SECS` (default 15): an event stream with nothing to say sends a comment
    /// this often, so that proxies and clients see it alive.
    pub events_heartbeat: Duration,
    /// `EVENTS_MAX_STREAMS_PER_CLIENT` (default 8): event streams one client may hold open at
    /// once on one api instance; another gets 429 `too_many_streams`.
    pub events_max_streams_per_client: usize,
    /// `DATABASE_READ_CONNECTIONS` (default 5): a second pool, beside
    /// `DATABASE_MAX_CONNECTIONS`, for reads that take no lock: the API key lookups of `GET`
    /// requests, file lookups and lists, result pages. Uploads (their key lookups, counts and
    /// write transactions, which can wait on one another's locks) use the main pool, so they
    /// never make a listing wait for a connection.
    pub read_pool_connections: u32,
    /// `API_KEY_CACHE_SECS` (default 60; 0 turns the cache off): how long an api instance
    /// keeps using what it found of an API key without asking the database again. A replaced
    /// key is dropped from the cache as soon as the instance hears the database announce it;
    /// this is the longest a replaced key keeps working if that announcement is missed.
    pub api_key_cache: Duration,
}

impl ApiSettings {
    /// Reads only `RUN_MIGRATIONS`, for `api create-client`, which needs the database and
    /// nothing else of the server.
    pub fn run_migrations_from_env() -> Result<bool, ConfigError> {
        Env::process().parse_or("RUN_MIGRATIONS", true)
    }

    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            run_migrations: env.parse_or("RUN_MIGRATIONS", true)?,
            host: env.string_or("API_HOST", "127.0.0.1"),
            port: env.parse_or("API_PORT", 8080)?,
            max_upload_bytes: env.parse_or("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)?,
            republish_after: Duration::from_secs(env.parse_or("REPUBLISH_AFTER_SECS", 60)?),
            max_json_body_bytes: env.positive_or("MAX_JSON_BODY_BYTES", 1024 * 1024)?,
            request_timeout: Duration::from_secs(env.positive_or("REQUEST_TIMEOUT_SECS", 30)?),
            upload_timeout: Duration::from_secs(env.positive_or("UPLOAD_TIMEOUT_SECS", 300)?),
            rate_limit_per_second: env.parse_or("RATE_LIMIT_PER_SECOND", 20)?,
            rate_limit_burst: env.parse_or("RATE_LIMIT_BURST", 40)?,
            max_files_in_flight: env.positive_or("MAX_FILES_IN_FLIGHT", 20)?,
            header_read_timeout: Duration::from_secs(
                env.positive_or("HEADER_READ_TIMEOUT_SECS", 10)?,
            ),
            max_connections: env.positive_or("MAX_CONNECTIONS", 512)?,
            max_uploads_per_client: env.positive_or("MAX_UPLOADS_PER_CLIENT", 4)?,
            upload_buffer_bytes: env.positive_or("UPLOAD_BUFFER_BYTES", 256 * 1024 * 1024)?,
            auth_failure_limit: env.parse_or("AUTH_FAILURE_LIMIT", 20)?,
            auth_failure_window: Duration::from_secs(
                env.positive_or("AUTH_FAILURE_WINDOW_SECS", 60)?,
            ),
            session: SessionSettings::read(env)?,
            events_heartbeat: Duration::from_secs(env.positive_or("EVENTS_HEARTBEAT_SECS", 15)?),
            events_max_streams_per_client: env.positive_or("EVENTS_MAX_STREAMS_PER_CLIENT", 8)?,
            read_pool_connections: env.positive_or("DATABASE_READ_CONNECTIONS", 5)?,
            api_key_cache: Duration::from_secs(env.parse_or("API_KEY_CACHE_SECS", 60)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::env::testing::with_vars;

    /// What the api needs and nothing else: no queue URLs.
    fn minimal() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("DATABASE_URL", "postgres://localhost/db"),
            ("S3_BUCKET", "bucket"),
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:topic"),
        ])
    }

    fn config(vars: &HashMap<&'static str, &'static str>) -> Result<ApiConfig, ConfigError> {
        with_vars(vars, ApiConfig::read)
    }

    #[test]
    fn defaults_apply_when_only_the_apis_resources_are_set() {
        let config = config(&minimal()).unwrap();
        assert_eq!(config.api.max_upload_bytes, 10 * 1024 * 1024);
        assert_eq!(config.api.port, 8080);
        assert!(config.api.run_migrations);
        assert_eq!(config.aws.connection.endpoint_override, None);
        assert_eq!(config.log_format, LogFormat::Compact);
        assert_eq!(config.limits.max_domains_per_file, 1_000_000);
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for name in ["DATABASE_URL", "S3_BUCKET", "SNS_TOPIC_ARN"] {
            let mut vars = minimal();
            vars.remove(name);
            assert_eq!(
                config(&vars).unwrap_err().to_string(),
                format!("environment variable {name} is required but not set")
            );
        }
    }

    #[test]
    fn the_workers_variables_are_not_read() {
        let mut vars = minimal();
        vars.insert("SQS_QUEUE_URL", "http://localhost:4566/000000000000/queue");
        vars.insert("WORKER_FILE_CONCURRENCY", "0");
        assert!(config(&vars).is_ok());
    }

    #[test]
    fn abuse_limits_have_their_documented_defaults_and_refuse_zero() {
        let api = config(&minimal()).unwrap().api;
        assert_eq!(api.max_json_body_bytes, 1024 * 1024);
        assert_eq!(api.request_timeout, Duration::from_secs(30));
        assert_eq!(api.upload_timeout, Duration::from_secs(300));
        assert_eq!((api.rate_limit_per_second, api.rate_limit_burst), (20, 40));
        assert_eq!(api.max_files_in_flight, 20);
        assert_eq!(api.header_read_timeout, Duration::from_secs(10));
        assert_eq!(api.max_connections, 512);
        assert_eq!(api.max_uploads_per_client, 4);
        assert_eq!(api.upload_buffer_bytes, 256 * 1024 * 1024);
        assert_eq!(api.auth_failure_limit, 20);
        assert_eq!(api.auth_failure_window, Duration::from_secs(60));
        assert_eq!(api.events_heartbeat, Duration::from_secs(15));
        assert_eq!(api.events_max_streams_per_client, 8);
        assert_eq!(api.read_pool_connections, 5);
        assert_eq!(api.api_key_cache, Duration::from_secs(60));
        let mut vars = minimal();
        vars.insert("RATE_LIMIT_PER_SECOND", "0");
        vars.insert("API_KEY_CACHE_SECS", "0");
        let api = config(&vars).unwrap().api;
        assert_eq!(api.rate_limit_per_second, 0);
        assert_eq!(api.api_key_cache, Duration::ZERO);
        for name in [
            "REQUEST_TIMEOUT_SECS",
            "MAX_FILES_IN_FLIGHT",
            "MAX_DOMAINS_PER_FILE",
            "HEADER_READ_TIMEOUT_SECS",
            "MAX_CONNECTIONS",
            "MAX_UPLOADS_PER_CLIENT",
            "UPLOAD_BUFFER_BYTES",
            "AUTH_FAILURE_WINDOW_SECS",
            "EVENTS_HEARTBEAT_SECS",
            "EVENTS_MAX_STREAMS_PER_CLIENT",
        ] {
            let mut vars = minimal();
            vars.insert(name, "0");
            assert!(config(&vars).unwrap_err().to_string().contains(name));
        }
    }

    #[test]
    fn a_bad_log_format_is_rejected_with_the_variable_name() {
        let mut vars = minimal();
        vars.insert("LOG_FORMAT", "xml");
        assert!(
            config(&vars)
                .unwrap_err()
                .to_string()
                .contains("LOG_FORMAT")
        );
    }
}
