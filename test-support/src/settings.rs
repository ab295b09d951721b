//! The settings of one test deployment: each binary's configuration is a view of them, so a
//! test tunes one struct and the api and the worker agree on what they share.

use std::time::Duration;

use common::{
    ApiConfig, WorkerConfig,
    config::{
        ApiAwsSettings, ApiSettings, AwsConnection, CallbackUrlRules, DatabaseSettings,
        IconLookupSettings, LimitsSettings, LogFormat, ObservabilitySettings, ResolverSettings,
        SessionSettings, WebhookDeliverySettings, WorkerAwsSettings, WorkerSettings,
    },
};
use secrecy::{ExposeSecret, SecretString};

/// Every setting of a test deployment of api and worker, as an operator would write the
/// environment of both (`.env.example`), but typed.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// PostgreSQL, the test's own database.
    pub database: DatabaseSettings,
    /// The test's own LocalStack resources.
    pub aws: StackAws,
    /// The api's HTTP server.
    pub api: ApiSettings,
    /// The worker's consumer.
    pub worker: WorkerSettings,
    /// The worker's resolver.
    pub resolver: ResolverSettings,
    /// Limits both binaries read.
    pub limits: LimitsSettings,
    /// How the worker delivers webhook notifications.
    pub webhooks: WebhookDeliverySettings,
    /// Which callback URLs both binaries accept.
    pub callback_urls: CallbackUrlRules,
    /// The api's on-demand icon lookups (they use `resolver` too).
    pub icon_lookup: IconLookupSettings,
}

/// The AWS resources of one test deployment: what the api uses and what the worker uses.
#[derive(Debug, Clone)]
pub struct StackAws {
    /// How both binaries reach LocalStack.
    pub connection: AwsConnection,
    /// The upload bucket (api).
    pub bucket: String,
    /// The file-event topic (api).
    pub topic_arn: String,
    /// The queue subscribed to the topic (worker).
    pub queue_url: String,
    /// Its dead-letter queue (worker).
    pub dlq_url: String,
}

impl StackSettings {
    /// The api's configuration.
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            database: self.database.clone(),
            aws: ApiAwsSettings {
                connection: self.aws.connection.clone(),
                bucket: self.aws.bucket.clone(),
                topic_arn: self.aws.topic_arn.clone(),
            },
            api: self.api.clone(),
            limits: self.limits.clone(),
            log_format: LogFormat::Compact,
            observability: ObservabilitySettings::default(),
            callback_urls: self.callback_urls.clone(),
            resolver: self.resolver.clone(),
            icon_lookup: self.icon_lookup.clone(),
        }
    }

    /// The worker's configuration.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            database: self.database.clone(),
            aws: WorkerAwsSettings {
                connection: self.aws.connection.clone(),
                queue_url: self.aws.queue_url.clone(),
                dlq_url: self.aws.dlq_url.clone(),
            },
            worker: self.worker.clone(),
            resolver: self.resolver.clone(),
            limits: self.limits.clone(),
            log_format: LogFormat::Compact,
            observability: ObservabilitySettings::default(),
            webhooks: self.webhooks.clone(),
            callback_urls: self.callback_urls.clone(),
        }
    }
}

/// Settings with a fresh database and fresh AWS resources; tuned for quick tests (port 0,
/// one-second long polls and retries). Resolver connections go to `icon_server`.
///
/// The resolver keeps its production safety rules (`allow_private = false`): `connect_to` is
/// the operator's choice and trusted, names are not looked up, and a test that wants a name to
/// resolve to a private address says so in `dns_override`.
pub async fn isolated_settings(icon_server: Option<std::net::SocketAddr>) -> StackSettings {
    crate::init_tracing();
    let prefix = format!("t{}-", crate::unique_suffix());
    let visibility_timeout_secs = 30;
    let (database_url, aws) = tokio::join!(
        crate::database::isolated_database(),
        crate::aws::isolated_resources(&prefix, visibility_timeout_secs),
    );
    StackSettings {
        database: DatabaseSettings {
            url: SecretString::from(database_url),
            max_connections: 5,
        },
        aws,
        api: ApiSettings {
            run_migrations: false,
            host: "127.0.0.1".to_owned(),
            port: 0,
            max_upload_bytes: 1024 * 1024,
            republish_after: Duration::from_secs(60),
            max_json_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(60),
            // Off, so that tests polling quickly are not limited; `limits.rs` turns it on.
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
            max_files_in_flight: 100,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_uploads_per_client: 20,
            upload_buffer_bytes: 64 * 1024 * 1024,
            auth_failure_limit: 20,
            auth_failure_window: Duration::from_secs(60),
            session: SessionSettings::default(),
            events_heartbeat: Duration::from_secs(15),
            events_max_streams_per_client: 8,
            read_pool_connections: 5,
            api_key_cache: Duration::from_secs(60),
        },
        worker: WorkerSettings {
            file_concurrency: 2,
            domain_concurrency: 8,
            chunk_domains: 5000,
            wait_seconds: 1,
            visibility_timeout_secs,
            retry_delay_secs: 1,
            dlq_consumer: true,
            max_redrives: 10,
            result_batch_size: 50,
            shutdown_grace: Duration::from_secs(5),
            // Any free port, so that workers of tests running at once do not collide.
            metrics_port: Some(0),
        },
        resolver: ResolverSettings {
            domain_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_tries: 2,
            user_agent: "favicon-pipeline-tests".to_owned(),
            connect_to: icon_server,
            allow_private: false,
            ..ResolverSettings::default()
        },
        limits: LimitsSettings {
            max_domains_per_file: 1_000_000,
        },
        // Quick retries; callback URLs keep the production rule (a test of a local receiver
        // sets `allow_private`).
        webhooks: WebhookDeliverySettings {
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(100),
            concurrency: 4,
        },
        callback_urls: CallbackUrlRules {
            allow_private: false,
        },
        icon_lookup: IconLookupSettings::default(),
    }
}

/// The variables every binary reads: database, AWS connection, shared limits and logs.
fn shared_env(settings: &StackSettings) -> Vec<(&'static str, String)> {
    let connection = &settings.aws.connection;
    let mut env = vec![
        (
            "DATABASE_URL",
            settings.database.url.expose_secret().to_owned(),
        ),
        (
            "DATABASE_MAX_CONNECTIONS",
            settings.database.max_connections.to_string(),
        ),
        ("AWS_REGION", connection.region.clone()),
        (
            "MAX_DOMAINS_PER_FILE",
            settings.limits.max_domains_per_file.to_string(),
        ),
        ("LOG_FORMAT", "compact".to_owned()),
    ];
    if let Some(endpoint) = &connection.endpoint_override {
        env.push(("AWS_ENDPOINT_OVERRIDE", endpoint.clone()));
    }
    env
}

/// The environment `ApiConfig::from_env` reads, for starting the api binary as a child
/// process: nothing of the worker's, so a test would fail if the api needed it.
pub fn api_env(settings: &StackSettings) -> Vec<(&'static str, String)> {
    let api = &settings.api;
    let mut env = shared_env(settings);
    env.extend([
        ("RUN_MIGRATIONS", api.run_migrations.to_string()),
        ("S3_BUCKET", settings.aws.bucket.clone()),
        ("SNS_TOPIC_ARN", settings.aws.topic_arn.clone()),
        ("API_HOST", api.host.clone()),
        ("API_PORT", api.port.to_string()),
        ("MAX_UPLOAD_BYTES", api.max_upload_bytes.to_string()),
        ("MAX_JSON_BODY_BYTES", api.max_json_body_bytes.to_string()),
        (
            "REQUEST_TIMEOUT_SECS",
            api.request_timeout.as_secs().to_string(),
        ),
        (
            "UPLOAD_TIMEOUT_SECS",
            api.upload_timeout.as_secs().to_string(),
        ),
        (
            "RATE_LIMIT_PER_SECOND",
            api.rate_limit_per_second.to_string(),
        ),
        ("RATE_LIMIT_BURST", api.rate_limit_burst.to_string()),
        ("MAX_FILES_IN_FLIGHT", api.max_files_in_flight.to_string()),
        (
            "REPUBLISH_AFTER_SECS",
            api.republish_after.as_secs().to_string(),
        ),
        (
            "HEADER_READ_TIMEOUT_SECS",
            api.header_read_timeout.as_secs().to_string(),
        ),
        ("MAX_CONNECTIONS", api.max_connections.to_string()),
        (
            "MAX_UPLOADS_PER_CLIENT",
            api.max_uploads_per_client.to_string(),
        ),
        ("UPLOAD_BUFFER_BYTES", api.upload_buffer_bytes.to_string()),
        ("AUTH_FAILURE_LIMIT", api.auth_failure_limit.to_string()),
        (
            "AUTH_FAILURE_WINDOW_SECS",
            api.auth_failure_window.as_secs().to_string(),
        ),
        ("SESSION_TTL_SECS", api.session.ttl.as_secs().to_string()),
        (
            "SESSION_COOKIE_SECURE",
            api.session.cookie_secure.to_string(),
        ),
        (
            "WEBHOOK_ALLOW_PRIVATE",
            settings.callback_urls.allow_private.to_string(),
        ),
        (
            "EVENTS_HEARTBEAT_SECS",
            api.events_heartbeat.as_secs().to_string(),
        ),
        (
            "EVENTS_MAX_STREAMS_PER_CLIENT",
            api.events_max_streams_per_client.to_string(),
        ),
        (
            "DATABASE_READ_CONNECTIONS",
            api.read_pool_connections.to_string(),
        ),
        (
            "API_KEY_CACHE_SECS",
            api.api_key_cache.as_secs().to_string(),
        ),
        (
            "ICON_LOOKUP_CONCURRENCY",
            settings.icon_lookup.concurrency.to_string(),
        ),
        (
            "ICON_LOOKUP_TIMEOUT_SECS",
            settings.icon_lookup.timeout.as_secs().to_string(),
        ),
    ]);
    // On-demand icon lookups resolve with the same `RESOLVER_*` settings as the worker.
    env.extend(
        worker_env(settings)
            .into_iter()
            .filter(|(name, _)| name.starts_with("RESOLVER_")),
    );
    env
}

/// The environment `WorkerConfig::from_env` reads, for starting the worker binary as a child
/// process: nothing of the api's, so a test would fail if the worker needed it.
pub fn worker_env(settings: &StackSettings) -> Vec<(&'static str, String)> {
    let (worker, resolver, webhooks) = (&settings.worker, &settings.resolver, &settings.webhooks);
    let mut env = shared_env(settings);
    env.extend([
        ("WEBHOOK_MAX_ATTEMPTS", webhooks.max_attempts.to_string()),
        (
            "WEBHOOK_BACKOFF_BASE_MS",
            webhooks.backoff_base.as_millis().to_string(),
        ),
        (
            "WEBHOOK_BACKOFF_MAX_SECS",
            webhooks.backoff_max.as_secs().to_string(),
        ),
        (
            "WEBHOOK_TIMEOUT_SECS",
            webhooks.timeout.as_secs().to_string(),
        ),
        (
            "WEBHOOK_POLL_INTERVAL_MS",
            webhooks.poll_interval.as_millis().to_string(),
        ),
        ("WEBHOOK_CONCURRENCY", webhooks.concurrency.to_string()),
        (
            "WEBHOOK_ALLOW_PRIVATE",
            settings.callback_urls.allow_private.to_string(),
        ),
        ("SQS_QUEUE_URL", settings.aws.queue_url.clone()),
        ("SQS_DLQ_URL", settings.aws.dlq_url.clone()),
        (
            "WORKER_FILE_CONCURRENCY",
            worker.file_concurrency.to_string(),
        ),
        (
            "WORKER_DOMAIN_CONCURRENCY",
            worker.domain_concurrency.to_string(),
        ),
        ("SQS_WAIT_SECONDS", worker.wait_seconds.to_string()),
        (
            "SQS_VISIBILITY_TIMEOUT_SECS",
            worker.visibility_timeout_secs.to_string(),
        ),
        ("SQS_RETRY_DELAY_SECS", worker.retry_delay_secs.to_string()),
        ("DLQ_CONSUMER", worker.dlq_consumer.to_string()),
        ("DLQ_MAX_REDRIVES", worker.max_redrives.to_string()),
        ("RESULT_BATCH_SIZE", worker.result_batch_size.to_string()),
        ("WORKER_CHUNK_DOMAINS", worker.chunk_domains.to_string()),
        (
            "SHUTDOWN_GRACE_SECS",
            worker.shutdown_grace.as_secs().to_string(),
        ),
        (
            "WORKER_METRICS_PORT",
            worker
                .metrics_port
                .map_or_else(|| "off".to_owned(), |port| port.to_string()),
        ),
        (
            "RESOLVER_TIMEOUT_SECS",
            resolver.domain_timeout.as_secs().to_string(),
        ),
        (
            "RESOLVER_CONNECT_TIMEOUT_SECS",
            resolver.connect_timeout.as_secs().to_string(),
        ),
        ("RESOLVER_MAX_TRIES", resolver.max_tries.to_string()),
        ("RESOLVER_USER_AGENT", resolver.user_agent.clone()),
        ("RESOLVER_ALLOW_PRIVATE", resolver.allow_private.to_string()),
        (
            "RESOLVER_MAX_HTML_BYTES",
            resolver.max_html_bytes.to_string(),
        ),
        (
            "RESOLVER_MAX_ICON_BYTES",
            resolver.max_icon_bytes.to_string(),
        ),
        (
            "RESOLVER_PREFERRED_SIZE",
            resolver.preferred_size.to_string(),
        ),
        ("RESOLVER_PREFER_SVG", resolver.prefer_svg.to_string()),
        (
            "RESOLVER_PER_HOST_CONCURRENCY",
            resolver.per_host_concurrency.to_string(),
        ),
        ("RESOLVER_MAX_REDIRECTS", resolver.max_redirects.to_string()),
        (
            "RESOLVER_CACHE_TTL_SECS",
            resolver.cache_ttl.as_secs().to_string(),
        ),
        (
            "RESOLVER_CACHE_NXDOMAIN_TTL_SECS",
            resolver.cache_nxdomain_ttl.as_secs().to_string(),
        ),
        (
            "RESOLVER_CACHE_FAILURE_TTL_SECS",
            resolver.cache_failure_ttl.as_secs().to_string(),
        ),
        (
            "RESOLVER_DNS_OVERRIDE",
            resolver
                .dns_override
                .iter()
                .map(|(name, ip)| format!("{name}={ip}"))
                .chain(
                    resolver
                        .dns_nxdomain
                        .iter()
                        .map(|name| format!("{name}=NXDOMAIN")),
                )
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    if let Some(connect_to) = resolver.connect_to {
        env.push(("RESOLVER_CONNECT_TO", connect_to.to_string()));
    }
    if let Some(ca_cert) = &resolver.ca_cert {
        env.push(("RESOLVER_CA_CERT", ca_cert.display().to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StackSettings {
        let aws = StackAws {
            connection: AwsConnection {
                region: "us-east-1".to_owned(),
                endpoint_override: Some("http://127.0.0.1:4566".to_owned()),
                s3_checksums: common::config::S3Checksums::WhenSupported,
            },
            bucket: "bucket".to_owned(),
            topic_arn: "arn:aws:sns:us-east-1:000000000000:topic".to_owned(),
            queue_url: "http://127.0.0.1:4566/000000000000/queue".to_owned(),
            dlq_url: "http://127.0.0.1:4566/000000000000/dlq".to_owned(),
        };
        let mut settings = StackSettings {
            database: DatabaseSettings {
                url: SecretString::from("postgres://127.0.0.1/db"),
                max_connections: 5,
            },
            aws,
            api: common::config::ApiSettings {
                run_migrations: false,
                host: "127.0.0.1".to_owned(),
                port: 0,
                max_upload_bytes: 1024,
                republish_after: Duration::from_secs(60),
                max_json_body_bytes: 1024,
                request_timeout: Duration::from_secs(30),
                upload_timeout: Duration::from_secs(60),
                rate_limit_per_second: 0,
                rate_limit_burst: 0,
                max_files_in_flight: 7,
                header_read_timeout: Duration::from_secs(10),
                max_connections: 256,
                max_uploads_per_client: 20,
                upload_buffer_bytes: 64 * 1024 * 1024,
                auth_failure_limit: 20,
                auth_failure_window: Duration::from_secs(60),
                session: SessionSettings::default(),
                events_heartbeat: Duration::from_secs(15),
                events_max_streams_per_client: 8,
                read_pool_connections: 5,
                api_key_cache: Duration::from_secs(60),
            },
            worker: WorkerSettings {
                file_concurrency: 3,
                domain_concurrency: 8,
                chunk_domains: 5000,
                wait_seconds: 1,
                visibility_timeout_secs: 30,
                retry_delay_secs: 1,
                dlq_consumer: true,
                max_redrives: 10,
                result_batch_size: 50,
                shutdown_grace: Duration::from_secs(5),
                // Any free port, so that workers of tests running at once do not collide.
                metrics_port: Some(0),
            },
            resolver: ResolverSettings::default(),
            limits: LimitsSettings {
                max_domains_per_file: 3,
            },
            webhooks: WebhookDeliverySettings {
                max_attempts: 4,
                backoff_base: Duration::from_millis(250),
                backoff_max: Duration::from_secs(9),
                timeout: Duration::from_secs(2),
                poll_interval: Duration::from_millis(50),
                concurrency: 2,
            },
            callback_urls: CallbackUrlRules {
                allow_private: true,
            },
            icon_lookup: IconLookupSettings::default(),
        };
        settings.resolver.dns_nxdomain = vec!["*.nx.test".to_owned()];
        settings
    }

    fn lookup(env: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        }
    }

    /// Each binary, given only its own environment, reads back what the test set.
    #[test]
    fn each_binary_reads_back_its_own_environment() {
        let settings = settings();
        let api = ApiConfig::from_lookup(lookup(api_env(&settings))).expect("api config");
        assert_eq!(api.api.max_files_in_flight, 7);
        assert_eq!(api.limits.max_domains_per_file, 3);
        assert_eq!(api.aws.topic_arn, settings.aws.topic_arn);
        let worker =
            WorkerConfig::from_lookup(lookup(worker_env(&settings))).expect("worker config");
        assert_eq!(worker.worker.file_concurrency, 3);
        assert_eq!(worker.limits.max_domains_per_file, 3);
        assert_eq!(worker.aws.dlq_url, settings.aws.dlq_url);
        assert_eq!(worker.resolver.dns_nxdomain, ["*.nx.test"]);
        assert_eq!(worker.webhooks.max_attempts, 4);
        assert_eq!(worker.webhooks.backoff_base, Duration::from_millis(250));
        assert_eq!(worker.webhooks.backoff_max, Duration::from_secs(9));
        assert_eq!(worker.webhooks.poll_interval, Duration::from_millis(50));
        assert!(worker.callback_urls.allow_private && api.callback_urls.allow_private);
        let api_names: Vec<_> = api_env(&settings)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(!api_names.contains(&"SQS_QUEUE_URL"));
        let worker_names: Vec<_> = worker_env(&settings)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(!worker_names.contains(&"SNS_TOPIC_ARN"));
        assert!(!worker_names.contains(&"S3_BUCKET"));
    }
}
