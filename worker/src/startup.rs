//! Building and running a worker: what `main` calls and what the tests start.

use std::sync::Arc;

use anyhow::Context as _;
use common::{WorkerConfig, aws::AwsClients};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    consumer,
    context::Context,
    dlq,
    queue::{Queue, SqsQueue},
    resolver::Resolver,
};

/// A worker ready to consume.
#[derive(Debug)]
pub struct Worker {
    ctx: Arc<Context>,
    queue: Arc<dyn Queue>,
    dlq: Option<Arc<dyn Queue>>,
    id: Uuid,
}

impl Worker {
    /// Connects to the database and builds the AWS clients and the resolver.
    pub async fn build(settings: WorkerConfig) -> anyhow::Result<Self> {
        let db = common::db::connect(&settings.database)
            .await
            .context("failed to connect to the database")?;
        let aws = AwsClients::from_settings(&settings.aws.connection).await;
        let resolver =
            Resolver::new(&settings.resolver).context("failed to build the HTTP client")?;
        let worker = &settings.worker;
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(
            aws.sqs.clone(),
            &settings.aws.queue_url,
            worker.wait_seconds,
            worker.visibility_timeout_secs,
        ));
        let dlq: Option<Arc<dyn Queue>> = worker.dlq_consumer.then(|| {
            Arc::new(SqsQueue::new(
                aws.sqs.clone(),
                &settings.aws.dlq_url,
                worker.wait_seconds,
                60,
            )) as Arc<dyn Queue>
        });
        let ctx = Arc::new(Context {
            db,
            s3: aws.s3,
            resolver,
            domain_permits: tokio::sync::Semaphore::new(settings.worker.domain_concurrency),
            settings,
        });
        Ok(Self {
            ctx,
            queue,
            dlq,
            id: Uuid::now_v7(),
        })
    }

    /// Runs until SIGINT or SIGTERM, then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(common::shutdown::cancel_on_signal()).await
    }

    /// Consumes the queue (and the DLQ, when enabled) until `shutdown` is cancelled.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(worker.id = %self.id, "worker {} consuming {}", self.id, self.ctx.settings.aws.queue_url);
        let dlq = self.dlq.map(|dlq| {
            let (ctx, queue) = (self.ctx.clone(), self.queue.clone());
            tokio::spawn(dlq::run(ctx, dlq, queue, shutdown.clone()))
        });
        consumer::run(self.ctx, self.queue, self.id, shutdown).await;
        if let Some(dlq) = dlq {
            dlq.await.context("the DLQ consumer panicked")?;
        }
        tracing::info!("worker stopped");
        Ok(())
    }
}
