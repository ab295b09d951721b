//! Building and running the API: what `main` calls and what the tests start on port 0.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use common::{ApiConfig, aws::AwsClients, icon_storage::IconStorage};
use migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    announcer::{Announcer, Batches},
    auth_failures::AuthFailures,
    icon_lookup::IconLookups,
    key_cache::KeyCache,
    live::LiveChanges,
    publish,
    rate_limit::RateLimiter,
    routes,
    serve::{ConnectionLimits, serve},
    state::AppState,
    upload::{self, UploadCapacity},
};

/// A bound, ready-to-serve API.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// New files' events, sent once the app runs.
    announcements: Batches<entity::files::Model>,
    port: u16,
}

impl Application {
    /// Installs the metrics recorder, connects to the database (running pending migrations
    /// unless disabled), builds the AWS clients and binds the listener.
    pub async fn build(settings: ApiConfig) -> anyhow::Result<Self> {
        common::metrics::install();
        let db =
            common::db::connect_for_requests(&settings.database, settings.database.max_connections)
                .await
                .context("failed to connect to the database")?;
        let reads = common::db::connect_for_requests(
            &settings.database,
            settings.api.read_pool_connections,
        )
        .await
        .context("failed to connect the read pool to the database")?;
        if settings.api.run_migrations {
            migration::Migrator::up(&db, None)
                .await
                .context("failed to run migrations")?;
        }
        let one_upload = upload::buffer_needed(settings.api.max_upload_bytes, None);
        anyhow::ensure!(
            settings.api.upload_buffer_bytes >= u64::from(one_upload),
            "UPLOAD_BUFFER_BYTES={} cannot hold one upload's buffer of {one_upload} bytes",
            settings.api.upload_buffer_bytes
        );
        let aws = AwsClients::from_settings(&settings.aws.connection).await;
        let icon_storage = IconStorage::new(aws.s3.clone(), settings.aws.bucket.clone());
        let address = format!("{}:{}", settings.api.host, settings.api.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("failed to bind {address}"))?;
        let port = listener.local_addr()?.port();
        let (announcer, announcements) = Announcer::new(publish::BATCHES_IN_FLIGHT);
        Ok(Self {
            listener,
            announcements,
            state: AppState {
                db,
                reads,
                aws,
                announcer,
                rate_limiter: Arc::new(RateLimiter::new(
                    settings.api.rate_limit_per_second,
                    settings.api.rate_limit_burst,
                )),
                auth_failures: Arc::new(AuthFailures::new(
                    settings.api.auth_failure_limit,
                    settings.api.auth_failure_window,
                )),
                key_cache: Arc::new(KeyCache::new(settings.api.api_key_cache)),
                uploads: Arc::new(UploadCapacity::new(
                    settings.api.max_uploads_per_client,
                    settings.api.upload_buffer_bytes,
                )),
                live: Arc::new(LiveChanges::new(
                    settings.api.events_max_streams_per_client,
                    settings.api.events_heartbeat,
                )),
                icons: Arc::new(
                    IconLookups::new(&settings, icon_storage)
                        .context("failed to build the icon resolver")?,
                ),
                settings: Arc::new(settings),
            },
            port,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(common::shutdown::cancel_on_signal()).await
    }

    /// Serves, with the announcer's batches, the re-publisher, the listener for file and key
    /// changes and the API key cache's follower of it beside it, until `shutdown` is cancelled
    /// (which also ends every event stream).
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Subscribed before the listener starts and before any request is served, so that no
        // key change is missed.
        let key_cache_follower = tokio::spawn({
            let key_cache = Arc::clone(&self.state.key_cache);
            let changes = self.state.live.subscribe();
            let shutdown = shutdown.clone();
            async move { key_cache.follow(changes, shutdown).await }
        });
        let listener = tokio::spawn(
            self.state
                .live
                .clone()
                .run(self.state.db.clone(), shutdown.clone()),
        );
        // Ends once the last request holding the state is done.
        tokio::spawn(self.announcements.run(publish::SnsBatches {
            sns: self.state.aws.sns.clone(),
            topic_arn: self.state.settings.aws.topic_arn.clone(),
            db: self.state.db.clone(),
        }));
        let republish_every = (self.state.settings.api.republish_after / 2)
            .clamp(Duration::from_millis(200), Duration::from_secs(30));
        let republisher = tokio::spawn(publish::run_republisher(
            self.state.clone(),
            republish_every,
            shutdown.clone(),
        ));
        tracing::info!(port = self.port, "api listening on port {}", self.port);
        let limits = ConnectionLimits {
            header_read_timeout: self.state.settings.api.header_read_timeout,
            max_connections: self.state.settings.api.max_connections,
        };
        serve(self.listener, routes::router(self.state), limits, shutdown).await;
        republisher.await.context("the re-publisher panicked")?;
        listener
            .await
            .context("the listener for file changes panicked")?;
        key_cache_follower
            .await
            .context("the API key cache's follower panicked")?;
        tracing::info!("api stopped");
        Ok(())
    }
}
