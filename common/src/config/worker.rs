//! The worker's configuration: everything `worker` (consuming) reads, and nothing of the
//! api's.

use std::time::Duration;

use super::{
    CallbackUrlRules, ConfigError, DatabaseSettings, LimitsSettings, LogFormat,
    ObservabilitySettings, ResolverSettings, WebhookDeliverySettings, WorkerAwsSettings, env::Env,
};

/// Everything the worker reads at start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// SQS (the queue and its DLQ).
    pub aws: WorkerAwsSettings,
    /// The SQS consumer.
    pub worker: WorkerSettings,
    /// How favicons are fetched.
    pub resolver: ResolverSettings,
    /// Limits shared with the api.
    pub limits: LimitsSettings,
    /// `compact` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// Error reporting.
    pub observability: ObservabilitySettings,
    /// How webhook notifications are delivered.
    pub webhooks: WebhookDeliverySettings,
    /// Which callback URLs may be delivered to (checked again at delivery).
    pub callback_urls: CallbackUrlRules,
}

impl WorkerConfig {
    /// Reads the worker's settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the worker's settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env(&lookup))
    }

    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseSettings::read(env)?,
            aws: WorkerAwsSettings::read(env)?,
            worker: WorkerSettings::read(env)?,
            resolver: super::resolver::read(env)?,
            limits: LimitsSettings::read(env)?,
            log_format: LogFormat::read(env)?,
            observability: ObservabilitySettings::read(env)?,
            webhooks: WebhookDeliverySettings::read(env)?,
            callback_urls: CallbackUrlRules::read(env)?,
        })
    }
}

/// SQS consumer settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `WORKER_FILE_CONCURRENCY` (default 4): files processed at once by one worker.
    pub file_concurrency: usize,
    /// `WORKER_DOMAIN_CONCURRENCY` (default 1024): domains resolved at once by one worker,
    /// across all its files. Chosen by measurement (BENCHMARKS.md §0): a real-world domain
    /// holds its slot about 1.4 s on average, mostly waiting on the network, so 1,024 slots
    /// give about 460 domains/s where 64 gave 49; they cost about 225 KiB and 4.7 open files
    /// each (measured), 12 files at worst.
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
    /// `WORKER_METRICS_PORT` (default 9090; 0 picks a free port; `off` serves none): the
    /// worker's `GET /metrics` listener, on all interfaces, as its only purpose is to be
    /// scraped from outside the process. The api serves `/metrics` on its own port.
    pub metrics_port: Option<u16>,
}

impl WorkerSettings {
    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            file_concurrency: env.positive_or("WORKER_FILE_CONCURRENCY", 4)?,
            domain_concurrency: env.positive_or("WORKER_DOMAIN_CONCURRENCY", 1024)?,
            chunk_domains: env.parse_or("WORKER_CHUNK_DOMAINS", 5000)?,
            wait_seconds: env.parse_or("SQS_WAIT_SECONDS", 20)?,
            visibility_timeout_secs: env.parse_or("SQS_VISIBILITY_TIMEOUT_SECS", 300)?,
            retry_delay_secs: env.parse_or("SQS_RETRY_DELAY_SECS", 30)?,
            dlq_consumer: env.parse_or("DLQ_CONSUMER", true)?,
            max_redrives: env.parse_or("DLQ_MAX_REDRIVES", 10)?,
            result_batch_size: env.positive_or("RESULT_BATCH_SIZE", 100)?,
            shutdown_grace: Duration::from_secs(env.parse_or("SHUTDOWN_GRACE_SECS", 25)?),
            metrics_port: match env.optional("WORKER_METRICS_PORT") {
                Some(off) if off.trim().eq_ignore_ascii_case("off") => None,
                _ => Some(env.parse_or("WORKER_METRICS_PORT", 9090)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::env::testing::with_vars;

    /// What the worker needs and nothing else: no bucket, no topic.
    fn minimal() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("DATABASE_URL", "postgres://localhost/db"),
            ("SQS_QUEUE_URL", "http://localhost:4566/000000000000/queue"),
            ("SQS_DLQ_URL", "http://localhost:4566/000000000000/dlq"),
        ])
    }

    fn config(vars: &HashMap<&'static str, &'static str>) -> Result<WorkerConfig, ConfigError> {
        with_vars(vars, WorkerConfig::read)
    }

    #[test]
    fn defaults_apply_when_only_the_workers_resources_are_set() {
        let config = config(&minimal()).unwrap();
        assert_eq!(config.worker.wait_seconds, 20);
        assert_eq!(config.worker.max_redrives, 10);
        assert_eq!(config.aws.connection.endpoint_override, None);
        assert_eq!(config.log_format, LogFormat::Compact);
        assert_eq!(config.limits.max_domains_per_file, 1_000_000);
        let resolver = config.resolver;
        assert!(!resolver.allow_private);
        assert_eq!(resolver.max_html_bytes, 512 * 1024);
        assert_eq!(resolver.cache_ttl, Duration::from_secs(86_400));
        assert_eq!(resolver.cache_nxdomain_ttl, Duration::from_secs(3_600));
        assert_eq!(resolver.cache_failure_ttl, Duration::from_secs(21_600));
        assert!(resolver.dns_override.is_empty());
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for name in ["DATABASE_URL", "SQS_QUEUE_URL", "SQS_DLQ_URL"] {
            let mut vars = minimal();
            vars.remove(name);
            assert_eq!(
                config(&vars).unwrap_err().to_string(),
                format!("environment variable {name} is required but not set")
            );
        }
    }

    #[test]
    fn the_apis_variables_are_not_read() {
        let mut vars = minimal();
        vars.insert("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:topic");
        vars.insert("MAX_CONNECTIONS", "0");
        vars.insert("RUN_MIGRATIONS", "maybe");
        assert!(config(&vars).is_ok());
    }

    #[test]
    fn bad_values_are_rejected_with_the_variable_name() {
        for (name, value) in [
            ("WORKER_FILE_CONCURRENCY", "0"),
            ("MAX_DOMAINS_PER_FILE", "0"),
            ("LOG_FORMAT", "xml"),
            ("RESOLVER_CONNECT_TO", "not-an-address"),
        ] {
            let mut vars = minimal();
            vars.insert(name, value);
            assert!(config(&vars).unwrap_err().to_string().contains(name));
        }
    }
}
