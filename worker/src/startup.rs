//! Building and running a worker: what `main` calls and what the tests start.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use axum::{Router, http::header::CONTENT_TYPE, routing::get};
use common::{WorkerConfig, aws::AwsClients, metrics::QueueName};
use favicon::Resolver;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    consumer, dlq,
    queue::{Queue, SqsQueue},
    state::WorkerState,
    webhooks,
};

/// The runtime the worker runs on: one thread, which drives every task and the I/O driver.
///
/// The resolver's work is many small tasks (a connection's, a request's, a domain's) waking
/// each other through channels and sockets. On a multi-threaded runtime a wake-up often lands
/// on the other thread, which has to be unparked (a futex or eventfd write and a context
/// switch); on one thread it is a queue push. On the real-world mix (3,000 domains, 256 at once)
/// that took the resolver from 1.09-1.14 to 0.85-0.87 CPU-s per 1,000 domains at the same
/// throughput, which is bound by latency, not CPU (BENCHMARKS.md, section 0). `bench resolver`
/// runs on this runtime too. A worker that needs more than one core is
/// scaled by running more workers. Blocking work still goes to tokio's blocking pool.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A worker ready to consume.
#[derive(Debug)]
pub struct Worker {
    state: Arc<WorkerState>,
    queue: Arc<dyn Queue>,
    dlq: Option<Arc<dyn Queue>>,
    metrics_listener: Option<TcpListener>,
    webhooks: webhooks::Deliverer,
    id: Uuid,
}

impl Worker {
    /// Raises the open-file limit and refuses a `WORKER_DOMAIN_CONCURRENCY` it cannot hold
    /// ([`crate::fd_limit`]), connects to the database, builds the AWS clients and the
    /// resolver, and binds the metrics listener (`WORKER_METRICS_PORT`, unless `off`).
    pub async fn build(settings: WorkerConfig) -> anyhow::Result<Self> {
        common::metrics::install();
        crate::fd_limit::raise_and_check(settings.worker.domain_concurrency)?;
        let metrics_listener = match settings.worker.metrics_port {
            Some(port) => Some(
                TcpListener::bind(("0.0.0.0", port))
                    .await
                    .with_context(|| format!("failed to bind the metrics port {port}"))?,
            ),
            None => None,
        };
        let db = common::db::connect(&settings.database)
            .await
            .context("failed to connect to the database")?;
        let aws = AwsClients::from_settings(&settings.aws.connection).await;
        let resolver =
            Resolver::new(&settings.resolver).context("failed to build the HTTP client")?;
        let worker = &settings.worker;
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(
            aws.sqs.clone(),
            QueueName::Main,
            &settings.aws.queue_url,
            worker.wait_seconds,
            worker.visibility_timeout_secs,
        ));
        let dlq: Option<Arc<dyn Queue>> = worker.dlq_consumer.then(|| {
            Arc::new(SqsQueue::new(
                aws.sqs.clone(),
                QueueName::DeadLetter,
                &settings.aws.dlq_url,
                worker.wait_seconds,
                60,
            )) as Arc<dyn Queue>
        });
        let webhooks = webhooks::Deliverer::new(
            db.clone(),
            settings.webhooks.clone(),
            settings.callback_urls.clone(),
        )?;
        let state = Arc::new(WorkerState {
            db,
            s3: aws.s3,
            resolver,
            domain_permits: tokio::sync::Semaphore::new(settings.worker.domain_concurrency),
            icon_write_permits: tokio::sync::Semaphore::new(
                usize::try_from(settings.database.max_connections / 2)
                    .unwrap_or(1)
                    .max(1),
            ),
            settings,
        });
        Ok(Self {
            state,
            queue,
            dlq,
            metrics_listener,
            webhooks,
            id: Uuid::now_v7(),
        })
    }

    /// Where `GET /metrics` is served (useful with port 0); `None` when it is off.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Runs until SIGINT or SIGTERM, then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(common::shutdown::cancel_on_signal()).await
    }

    /// Consumes the queue (and the DLQ, when enabled) and delivers webhook notifications until
    /// `shutdown` is cancelled.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(worker.id = %self.id, "worker {} consuming {}", self.id, self.state.settings.aws.queue_url);
        let metrics = self
            .metrics_listener
            .map(|listener| tokio::spawn(serve_metrics(listener, shutdown.clone())));
        let dlq = self.dlq.map(|dlq| {
            let (state, queue) = (self.state.clone(), self.queue.clone());
            tokio::spawn(dlq::run(state, dlq, queue, shutdown.clone()))
        });
        let webhooks = tokio::spawn(self.webhooks.run(shutdown.clone()));
        consumer::run(self.state, self.queue, self.id, shutdown).await;
        webhooks.await.context("the webhook deliverer panicked")?;
        if let Some(dlq) = dlq {
            dlq.await.context("the DLQ consumer panicked")?;
        }
        if let Some(metrics) = metrics {
            metrics.await.context("the metrics listener panicked")?;
        }
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// Serves `GET /metrics` (and nothing else) until `shutdown`. A failure here is logged, never
/// fatal: the worker's job is the queue.
async fn serve_metrics(listener: TcpListener, shutdown: CancellationToken) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(metrics.address = %address, "worker metrics on http://{address}/metrics");
    }
    let router = Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(CONTENT_TYPE, common::metrics::CONTENT_TYPE)],
                common::metrics::render(),
            )
        }),
    );
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::warn!(error.message = %error, "the metrics listener stopped");
    }
}
