//! `worker` consumes the queue until SIGINT or SIGTERM.

use anyhow::Context;
use common::Settings;
use worker::Worker;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env().context("invalid configuration")?;
    common::telemetry::init(settings.log_format);
    Worker::build(settings).await?.run_until_stopped().await
}
