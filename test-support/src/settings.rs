//! Complete [`Settings`] for one isolated test.

use std::time::Duration;

use common::{
    Settings,
    config::{ApiSettings, DatabaseSettings, LogFormat, ResolverSettings, WorkerSettings},
};
use secrecy::SecretString;

/// Settings with a fresh database and fresh AWS resources; tuned for quick tests (port 0,
/// one-second long polls and retries). Resolver connections go to `icon_server`.
///
/// `connect_to` is trusted, so names are checked by what they resolve to: `a.example.com`
/// resolves to 127.0.0.1 (where the icon server is), and is blocked when a test sets
/// `allow_private = false`; other names are not looked up.
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
        },
        worker: WorkerSettings {
            file_concurrency: 2,
            domain_concurrency: 8,
            wait_seconds: 1,
            visibility_timeout_secs,
            retry_delay_secs: 1,
            dlq_consumer: true,
            result_batch_size: 50,
            shutdown_grace: Duration::from_secs(5),
        },
        resolver: ResolverSettings {
            domain_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_tries: 2,
            user_agent: "favicon-pipeline-tests".to_owned(),
            connect_to: icon_server,
            dns_override: vec![("a.example.com".to_owned(), [127, 0, 0, 1].into())],
            allow_private: true,
            ..ResolverSettings::default()
        },
        log_format: LogFormat::Compact,
    }
}
