//! Complete [`Settings`] for one isolated test.

use std::time::Duration;

use common::{
    Settings,
    config::{
        ApiSettings, DatabaseSettings, LogFormat, ObservabilitySettings, ResolverSettings,
        WorkerSettings,
    },
};
use secrecy::SecretString;

/// Settings with a fresh database and fresh AWS resources; tuned for quick tests (port 0,
/// one-second long polls and retries). Resolver connections go to `icon_server`.
///
/// The resolver keeps its production safety rules (`allow_private = false`): `connect_to` is
/// the operator's choice and trusted, names are not looked up, and a test that wants a name to
/// resolve to a private address says so in `dns_override`.
pub async fn isolated_settings(icon_server: Option<std::net::SocketAddr>) -> Settings {
    crate::init_tracing();
    let prefix = format!("t{}-", crate::unique_suffix());
    let visibility_timeout_secs = 30;
    let (database_url, aws) = tokio::join!(
        crate::database::isolated_database(),
        crate::aws::isolated_resources(&prefix, visibility_timeout_secs),
    );
    Settings {
        database: DatabaseSettings {
            url: SecretString::from(database_url),
            max_connections: 5,
            run_migrations: false,
        },
        aws,
        api: ApiSettings {
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
            max_domains_per_file: 1_000_000,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_uploads_per_client: 20,
            upload_buffer_bytes: 64 * 1024 * 1024,
            auth_failure_limit: 20,
            auth_failure_window: Duration::from_secs(60),
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
        log_format: LogFormat::Compact,
        // Any free port, so that workers of tests running at once do not collide.
        observability: ObservabilitySettings {
            worker_metrics_port: Some(0),
            sentry_dsn: None,
        },
    }
}

/// `settings` as the environment variables that `Settings::from_env` reads, for starting the
/// worker or api binary as a child process.
pub fn to_env(settings: &Settings) -> Vec<(&'static str, String)> {
    use secrecy::ExposeSecret;
    let (aws, worker, resolver) = (&settings.aws, &settings.worker, &settings.resolver);
    let mut env = vec![
        (
            "DATABASE_URL",
            settings.database.url.expose_secret().to_owned(),
        ),
        (
            "DATABASE_MAX_CONNECTIONS",
            settings.database.max_connections.to_string(),
        ),
        (
            "RUN_MIGRATIONS",
            settings.database.run_migrations.to_string(),
        ),
        ("API_HOST", settings.api.host.clone()),
        ("API_PORT", settings.api.port.to_string()),
        (
            "MAX_UPLOAD_BYTES",
            settings.api.max_upload_bytes.to_string(),
        ),
        (
            "MAX_JSON_BODY_BYTES",
            settings.api.max_json_body_bytes.to_string(),
        ),
        (
            "REQUEST_TIMEOUT_SECS",
            settings.api.request_timeout.as_secs().to_string(),
        ),
        (
            "UPLOAD_TIMEOUT_SECS",
            settings.api.upload_timeout.as_secs().to_string(),
        ),
        (
            "RATE_LIMIT_PER_SECOND",
            settings.api.rate_limit_per_second.to_string(),
        ),
        (
            "RATE_LIMIT_BURST",
            settings.api.rate_limit_burst.to_string(),
        ),
        (
            "MAX_FILES_IN_FLIGHT",
            settings.api.max_files_in_flight.to_string(),
        ),
        (
            "REPUBLISH_AFTER_SECS",
            settings.api.republish_after.as_secs().to_string(),
        ),
        ("AWS_REGION", aws.region.clone()),
        ("S3_BUCKET", aws.bucket.clone()),
        ("SNS_TOPIC_ARN", aws.topic_arn.clone()),
        ("SQS_QUEUE_URL", aws.queue_url.clone()),
        ("SQS_DLQ_URL", aws.dlq_url.clone()),
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
        ("LOG_FORMAT", "compact".to_owned()),
        (
            "WORKER_METRICS_PORT",
            settings
                .observability
                .worker_metrics_port
                .map_or_else(|| "off".to_owned(), |port| port.to_string()),
        ),
        (
            "MAX_DOMAINS_PER_FILE",
            settings.api.max_domains_per_file.to_string(),
        ),
        (
            "HEADER_READ_TIMEOUT_SECS",
            settings.api.header_read_timeout.as_secs().to_string(),
        ),
        ("MAX_CONNECTIONS", settings.api.max_connections.to_string()),
    ];
    if let Some(endpoint) = &aws.endpoint_override {
        env.push(("AWS_ENDPOINT_OVERRIDE", endpoint.clone()));
    }
    env.extend([
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
