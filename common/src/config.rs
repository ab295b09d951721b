//! One typed configuration, read once from the environment. Defaults are documented in
//! `.env.example` and the README; tests build a [`Settings`] and override fields directly.

use std::{str::FromStr, time::Duration};

pub use favicon::ResolverSettings;
use favicon::{DnsOverrides, parse_dns_override};
use secrecy::{ExposeSecret, SecretString};

/// Why the environment could not be turned into [`Settings`].
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

/// All settings of the api and the worker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// S3, SNS and SQS.
    pub aws: AwsSettings,
    /// The HTTP server.
    pub api: ApiSettings,
    /// The SQS consumer.
    pub worker: WorkerSettings,
    /// How favicons are fetched.
    pub resolver: ResolverSettings,
    /// `compact` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// Metrics and error reporting.
    pub observability: ObservabilitySettings,
}

/// PostgreSQL connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`, e.g. `postgres://postgres@127.0.0.1:5432/favicons`; else built from
    /// `DATABASE_HOST`, `DATABASE_PORT`, `DATABASE_NAME`, `DATABASE_USER` and
    /// `DATABASE_PASSWORD` (how ECS passes the RDS-managed secret), with `sslmode=require`.
    pub url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS` (default 10).
    pub max_connections: u32,
    /// `RUN_MIGRATIONS` (default true): the api applies pending migrations at start.
    pub run_migrations: bool,
}

/// Which S3 request checksums the SDK sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Checksums {
    /// The SDK default (CRC32 on every upload); AWS S3 and LocalStack accept it.
    WhenSupported,
    /// Only where an operation requires one, for S3-compatible stores that reject the default.
    WhenRequired,
}

impl DatabaseSettings {
    /// Reads only the database settings, for commands that need nothing else.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env(&|name| std::env::var(name).ok()))
    }

    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: Self::url(env)?,
            max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
            run_migrations: env.parse_or("RUN_MIGRATIONS", true)?,
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

/// AWS resources and how to reach them.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `AWS_REGION` (default `us-east-1`).
    pub region: String,
    /// `AWS_ENDPOINT_OVERRIDE`: one endpoint for S3, SNS and SQS (LocalStack); unset in AWS.
    /// Our own name, so that production never inherits a stray `AWS_ENDPOINT_URL`.
    pub endpoint_override: Option<String>,
    /// `S3_CHECKSUMS`: `when_supported` (default) or `when_required`.
    pub s3_checksums: S3Checksums,
    /// `S3_BUCKET`: where uploads are stored.
    pub bucket: String,
    /// `SNS_TOPIC_ARN`: where upload events are published.
    pub topic_arn: String,
    /// `SQS_QUEUE_URL`: the queue subscribed to the topic, read by the worker.
    pub queue_url: String,
    /// `SQS_DLQ_URL`: the queue's dead-letter queue.
    pub dlq_url: String,
}

/// HTTP server settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
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
    /// `MAX_DOMAINS_PER_FILE` (default 1,000,000): the most entries one file may hold. Read by
    /// both binaries: the api refuses larger `POST /jobs` lists (422), the worker fails larger
    /// uploads.
    pub max_domains_per_file: usize,
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
}

/// SQS consumer settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `WORKER_FILE_CONCURRENCY` (default 4): files processed at once by one worker.
    pub file_concurrency: usize,
    /// `WORKER_DOMAIN_CONCURRENCY` (default 64): domains resolved at once by one worker,
    /// across all its files.
    pub domain_concurrency: usize,
    /// `WORKER_CHUNK_DOMAINS` (default 5000; 0 never splits): a file with more distinct
    /// domains is split into chunks of this many, which several workers process in parallel.
    pub chunk_domains: usize,
    /// `SQS_WAIT_SECONDS` (default 20): the long-poll wait.
    pub wait_seconds: i32,
    /// `SQS_VISIBILITY_TIMEOUT_SECS` (default 300): how long a received message stays hidden;
    /// the worker extends it while the file is running.
    pub visibility_timeout_secs: i32,
    /// `SQS_RETRY_DELAY_SECS` (default 30): after a transient failure the message becomes
    /// visible again after this long (times the receive count), instead of the full timeout.
    pub retry_delay_secs: i32,
    /// `DLQ_CONSUMER` (default true): handle messages that reached the DLQ: send a file (or
    /// chunk) that made progress since it was last sent back to the queue, fail the others.
    pub dlq_consumer: bool,
    /// `DLQ_MAX_REDRIVES` (default 10): how often one file or chunk is sent back from the DLQ
    /// for making progress; after that it is FAILED like one that made none.
    pub max_redrives: u32,
    /// `RESULT_BATCH_SIZE` (default 100): results written per database round trip.
    pub result_batch_size: usize,
    /// `SHUTDOWN_GRACE_SECS` (default 25): how long SIGTERM waits for files in flight.
    pub shutdown_grace: Duration,
}

/// Reads only the resolver settings, for the `worker resolve` command.
pub fn resolver_settings_from_env() -> Result<ResolverSettings, ConfigError> {
    read_resolver_settings(&Env(&|name| std::env::var(name).ok()))
}

/// The `RESOLVER_*` variables; the settings type and its defaults are the resolver's own.
fn read_resolver_settings(env: &Env<'_>) -> Result<ResolverSettings, ConfigError> {
    let default = ResolverSettings::default();
    let dns = match env.optional("RESOLVER_DNS_OVERRIDE") {
        Some(value) => parse_dns_override(&value)
            .map_err(|reason| env.invalid("RESOLVER_DNS_OVERRIDE", &value, reason))?,
        None => DnsOverrides::default(),
    };
    Ok(ResolverSettings {
        domain_timeout: Duration::from_secs(
            env.positive_or("RESOLVER_TIMEOUT_SECS", default.domain_timeout.as_secs())?,
        ),
        connect_timeout: Duration::from_secs(env.positive_or(
            "RESOLVER_CONNECT_TIMEOUT_SECS",
            default.connect_timeout.as_secs(),
        )?),
        max_tries: env.positive_or("RESOLVER_MAX_TRIES", default.max_tries)?,
        user_agent: env.string_or("RESOLVER_USER_AGENT", &default.user_agent),
        max_html_bytes: env.positive_or("RESOLVER_MAX_HTML_BYTES", default.max_html_bytes)?,
        max_icon_bytes: env.positive_or("RESOLVER_MAX_ICON_BYTES", default.max_icon_bytes)?,
        preferred_size: env.parse_or("RESOLVER_PREFERRED_SIZE", default.preferred_size)?,
        prefer_svg: env.parse_or("RESOLVER_PREFER_SVG", default.prefer_svg)?,
        per_host_concurrency: env.positive_or(
            "RESOLVER_PER_HOST_CONCURRENCY",
            default.per_host_concurrency,
        )?,
        max_redirects: env.parse_or("RESOLVER_MAX_REDIRECTS", default.max_redirects)?,
        cache_ttl: Duration::from_secs(
            env.parse_or("RESOLVER_CACHE_TTL_SECS", default.cache_ttl.as_secs())?,
        ),
        cache_nxdomain_ttl: Duration::from_secs(env.parse_or(
            "RESOLVER_CACHE_NXDOMAIN_TTL_SECS",
            default.cache_nxdomain_ttl.as_secs(),
        )?),
        cache_failure_ttl: Duration::from_secs(env.parse_or(
            "RESOLVER_CACHE_FAILURE_TTL_SECS",
            default.cache_failure_ttl.as_secs(),
        )?),
        connect_to: env.parse_optional("RESOLVER_CONNECT_TO")?,
        dns_override: dns.addresses,
        dns_nxdomain: dns.nxdomain,
        ca_cert: env.optional("RESOLVER_CA_CERT").map(Into::into),
        allow_private: env.parse_or("RESOLVER_ALLOW_PRIVATE", default.allow_private)?,
    })
}
/// Metrics and error reporting (README "Observability").
#[derive(Debug, Clone)]
pub struct ObservabilitySettings {
    /// `WORKER_METRICS_PORT` (default 9090; 0 picks a free port; `off` serves none): the
    /// worker's `GET /metrics` listener, on all interfaces, as its only purpose is to be
    /// scraped from outside the process. The api serves `/metrics` on its own port.
    pub worker_metrics_port: Option<u16>,
    /// `SENTRY_DSN` (unset by default): when set, errors are reported to this Sentry project.
    pub sentry_dsn: Option<SecretString>,
}

impl ObservabilitySettings {
    /// Reads only these settings, for commands that need nothing else.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env(&|name| std::env::var(name).ok()))
    }

    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let worker_metrics_port = match env.optional("WORKER_METRICS_PORT") {
            Some(off) if off.trim().eq_ignore_ascii_case("off") => None,
            _ => Some(env.parse_or("WORKER_METRICS_PORT", 9090)?),
        };
        let sentry_dsn = env.optional("SENTRY_DSN");
        if let Some(dsn) = &sentry_dsn
            && let Err(error) = dsn.trim().parse::<sentry::types::Dsn>()
        {
            // Not echoed: the DSN holds the project's key.
            return Err(env.invalid("SENTRY_DSN", "(hidden)", error));
        }
        Ok(Self {
            worker_metrics_port,
            sentry_dsn: sentry_dsn.map(|dsn| SecretString::from(dsn.trim().to_owned())),
        })
    }
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One compact line per event, for people.
    Compact,
    /// One JSON object per event, for log pipelines.
    Json,
}

impl Settings {
    /// Reads every setting from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(Self {
            database: DatabaseSettings::read(&env)?,
            aws: AwsSettings {
                region: env.string_or("AWS_REGION", "us-east-1"),
                endpoint_override: env.optional("AWS_ENDPOINT_OVERRIDE"),
                s3_checksums: match env.string_or("S3_CHECKSUMS", "when_supported").as_str() {
                    "when_supported" => S3Checksums::WhenSupported,
                    "when_required" => S3Checksums::WhenRequired,
                    other => {
                        return Err(env.invalid(
                            "S3_CHECKSUMS",
                            other,
                            "expected when_supported or when_required",
                        ));
                    }
                },
                bucket: env.required("S3_BUCKET")?,
                topic_arn: env.required("SNS_TOPIC_ARN")?,
                queue_url: env.required("SQS_QUEUE_URL")?,
                dlq_url: env.required("SQS_DLQ_URL")?,
            },
            api: ApiSettings {
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
                max_domains_per_file: env.positive_or("MAX_DOMAINS_PER_FILE", 1_000_000)?,
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
            },
            worker: WorkerSettings {
                file_concurrency: env.positive_or("WORKER_FILE_CONCURRENCY", 4)?,
                domain_concurrency: env.positive_or("WORKER_DOMAIN_CONCURRENCY", 64)?,
                chunk_domains: env.parse_or("WORKER_CHUNK_DOMAINS", 5000)?,
                wait_seconds: env.parse_or("SQS_WAIT_SECONDS", 20)?,
                visibility_timeout_secs: env.parse_or("SQS_VISIBILITY_TIMEOUT_SECS", 300)?,
                retry_delay_secs: env.parse_or("SQS_RETRY_DELAY_SECS", 30)?,
                dlq_consumer: env.parse_or("DLQ_CONSUMER", true)?,
                max_redrives: env.parse_or("DLQ_MAX_REDRIVES", 10)?,
                result_batch_size: env.positive_or("RESULT_BATCH_SIZE", 100)?,
                shutdown_grace: Duration::from_secs(env.parse_or("SHUTDOWN_GRACE_SECS", 25)?),
            },
            resolver: read_resolver_settings(&env)?,
            observability: ObservabilitySettings::read(&env)?,
            log_format: match env.string_or("LOG_FORMAT", "compact").as_str() {
                "compact" => LogFormat::Compact,
                "json" => LogFormat::Json,
                other => return Err(env.invalid("LOG_FORMAT", other, "expected compact or json")),
            },
        })
    }
}

/// Typed access to one lookup function.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn string_or(&self, name: &'static str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    fn invalid(&self, name: &'static str, value: &str, reason: impl ToString) -> ConfigError {
        ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }

    fn parse_optional<T>(&self, name: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.optional(name)
            .map(|value| {
                value
                    .trim()
                    .parse()
                    .map_err(|e| self.invalid(name, &value, e))
            })
            .transpose()
    }

    fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        Ok(self.parse_optional(name)?.unwrap_or(default))
    }

    fn positive_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Default + ToString,
        T::Err: std::fmt::Display,
    {
        let value = self.parse_or(name, default)?;
        if value <= T::default() {
            return Err(self.invalid(name, &value.to_string(), "must be greater than 0"));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn minimal() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("DATABASE_URL", "postgres://localhost/db"),
            ("S3_BUCKET", "bucket"),
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:topic"),
            ("SQS_QUEUE_URL", "http://localhost:4566/000000000000/queue"),
            ("SQS_DLQ_URL", "http://localhost:4566/000000000000/dlq"),
        ])
    }

    fn settings(vars: &HashMap<&'static str, &'static str>) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn defaults_apply_when_only_resources_are_set() {
        let settings = settings(&minimal()).unwrap();
        assert_eq!(settings.api.max_upload_bytes, 10 * 1024 * 1024);
        assert_eq!(settings.api.port, 8080);
        assert_eq!(settings.worker.wait_seconds, 20);
        assert_eq!(settings.aws.endpoint_override, None);
        assert_eq!(settings.log_format, LogFormat::Compact);
        assert!(settings.database.run_migrations);
        assert!(!settings.resolver.allow_private);
        assert_eq!(settings.resolver.max_html_bytes, 512 * 1024);
        assert_eq!(settings.resolver.cache_ttl, Duration::from_secs(86_400));
        assert_eq!(
            settings.resolver.cache_nxdomain_ttl,
            Duration::from_secs(3_600)
        );
        assert_eq!(
            settings.resolver.cache_failure_ttl,
            Duration::from_secs(21_600)
        );
        assert_eq!(settings.worker.max_redrives, 10);
        assert!(settings.resolver.dns_override.is_empty());
        assert_eq!(settings.observability.worker_metrics_port, Some(9090));
        assert!(settings.observability.sentry_dsn.is_none());
    }

    #[test]
    fn the_worker_metrics_port_can_be_any_free_one_or_off_and_a_sentry_dsn_is_checked() {
        let mut vars = minimal();
        vars.insert("WORKER_METRICS_PORT", "0");
        assert_eq!(
            settings(&vars).unwrap().observability.worker_metrics_port,
            Some(0)
        );
        vars.insert("WORKER_METRICS_PORT", "Off");
        assert_eq!(
            settings(&vars).unwrap().observability.worker_metrics_port,
            None
        );
        vars.insert("WORKER_METRICS_PORT", "99999");
        assert!(settings(&vars).is_err());
        vars.remove("WORKER_METRICS_PORT");

        vars.insert("SENTRY_DSN", "https://public@o1.ingest.sentry.io/42");
        let dsn = settings(&vars).unwrap().observability.sentry_dsn.unwrap();
        assert_eq!(dsn.expose_secret(), "https://public@o1.ingest.sentry.io/42");
        vars.insert("SENTRY_DSN", "not a dsn with a secret-key");
        let error = settings(&vars).unwrap_err().to_string();
        assert!(error.contains("SENTRY_DSN"), "{error}");
        assert!(
            !error.contains("secret-key"),
            "the DSN is not echoed: {error}"
        );
    }

    #[test]
    fn dns_overrides_are_parsed_like_curl_resolve() {
        let mut vars = minimal();
        vars.insert(
            "RESOLVER_DNS_OVERRIDE",
            "Loopback.test.=127.0.0.1, v6.test=::1,",
        );
        let overrides = settings(&vars).unwrap().resolver.dns_override;
        assert_eq!(
            overrides,
            vec![
                ("loopback.test".to_owned(), "127.0.0.1".parse().unwrap()),
                ("v6.test".to_owned(), "::1".parse().unwrap()),
            ]
        );
        vars.insert("RESOLVER_DNS_OVERRIDE", "loopback.test");
        assert!(
            settings(&vars)
                .unwrap_err()
                .to_string()
                .contains("RESOLVER_DNS_OVERRIDE")
        );
    }

    #[test]
    fn dns_overrides_can_say_a_name_or_a_whole_suffix_does_not_exist() {
        let mut vars = minimal();
        vars.insert(
            "RESOLVER_DNS_OVERRIDE",
            "gone.test=NXDOMAIN, *.NX.test.=nxdomain, up.test=127.0.0.1",
        );
        let resolver = settings(&vars).unwrap().resolver;
        assert_eq!(resolver.dns_nxdomain, ["gone.test", "*.nx.test"]);
        assert_eq!(
            resolver.dns_override,
            [("up.test".to_owned(), "127.0.0.1".parse().unwrap())]
        );
        for invalid in [
            "*.x.test=127.0.0.1",
            "*.=NXDOMAIN",
            "a.*.test=NXDOMAIN",
            "=NXDOMAIN",
        ] {
            assert!(parse_dns_override(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn abuse_limits_have_their_documented_defaults_and_refuse_zero() {
        let api = settings(&minimal()).unwrap().api;
        assert_eq!(api.max_json_body_bytes, 1024 * 1024);
        assert_eq!(api.request_timeout, Duration::from_secs(30));
        assert_eq!(api.upload_timeout, Duration::from_secs(300));
        assert_eq!((api.rate_limit_per_second, api.rate_limit_burst), (20, 40));
        assert_eq!(api.max_files_in_flight, 20);
        assert_eq!(api.max_domains_per_file, 1_000_000);
        assert_eq!(api.header_read_timeout, Duration::from_secs(10));
        assert_eq!(api.max_connections, 512);
        assert_eq!(api.max_uploads_per_client, 4);
        assert_eq!(api.upload_buffer_bytes, 256 * 1024 * 1024);
        assert_eq!(api.auth_failure_limit, 20);
        assert_eq!(api.auth_failure_window, Duration::from_secs(60));
        let mut vars = minimal();
        vars.insert("RATE_LIMIT_PER_SECOND", "0");
        assert_eq!(settings(&vars).unwrap().api.rate_limit_per_second, 0);
        for name in [
            "REQUEST_TIMEOUT_SECS",
            "MAX_FILES_IN_FLIGHT",
            "MAX_DOMAINS_PER_FILE",
            "HEADER_READ_TIMEOUT_SECS",
            "MAX_CONNECTIONS",
            "MAX_UPLOADS_PER_CLIENT",
            "UPLOAD_BUFFER_BYTES",
            "AUTH_FAILURE_WINDOW_SECS",
        ] {
            let mut vars = minimal();
            vars.insert(name, "0");
            assert!(settings(&vars).unwrap_err().to_string().contains(name));
        }
    }

    fn database(vars: &HashMap<&'static str, &'static str>) -> Result<String, ConfigError> {
        let settings =
            DatabaseSettings::read(&Env(&|name| vars.get(name).map(|v| (*v).to_owned())))?;
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
        let vars = database_parts();
        let settings =
            DatabaseSettings::read(&Env(&|name| vars.get(name).map(|v| (*v).to_owned()))).unwrap();
        assert!(!format!("{settings:?}").contains("p@ss"));
    }

    #[test]
    fn a_missing_resource_is_named() {
        let mut vars = minimal();
        vars.remove("SQS_QUEUE_URL");
        let err = settings(&vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable SQS_QUEUE_URL is required but not set"
        );
    }

    #[test]
    fn bad_values_are_rejected_with_the_variable_name() {
        let mut vars = minimal();
        vars.insert("WORKER_FILE_CONCURRENCY", "0");
        assert!(
            settings(&vars)
                .unwrap_err()
                .to_string()
                .contains("WORKER_FILE_CONCURRENCY")
        );
        let mut vars = minimal();
        vars.insert("LOG_FORMAT", "xml");
        assert!(
            settings(&vars)
                .unwrap_err()
                .to_string()
                .contains("LOG_FORMAT")
        );
        let mut vars = minimal();
        vars.insert("RESOLVER_CONNECT_TO", "not-an-address");
        assert!(
            settings(&vars)
                .unwrap_err()
                .to_string()
                .contains("RESOLVER_CONNECT_TO")
        );
    }
}

#[cfg(test)]
mod documentation {
    /// Every variable this module reads is documented in `.env.example` and the README.
    #[test]
    fn every_variable_is_documented() {
        let source = include_str!("config.rs");
        let example = include_str!("../../.env.example");
        let readme = include_str!("../../README.md");
        let names: Vec<&str> = source
            .split('"')
            .skip(1)
            .step_by(2)
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
