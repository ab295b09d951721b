//! Starts a [`TestStack`] (api and worker in this process, against PostgreSQL and LocalStack,
//! every domain answered by a local icon server, `missing*` hosts without an icon) for the
//! browser tests of `e2e/browser/`, prints one JSON line with the api's address and a client's
//! key, and runs until stdin closes or it is told to stop (SIGINT, SIGTERM).
//!
//! `ICON_DELAY_MS` (default 500) slows every icon server answer, and results are written in
//! batches of 5 by 4 resolutions at a time, so that progress is visible as it moves.

use std::{io::Write as _, time::Duration};

use test_support::TestStack;
use tokio::io::AsyncReadExt as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    test_support::init_tracing();
    let delay_ms = std::env::var("ICON_DELAY_MS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(500);
    let stack = TestStack::start(Duration::from_millis(delay_ms), |settings| {
        settings.worker.result_batch_size = 5;
        settings.worker.domain_concurrency = 4;
    })
    .await;
    stack.start_worker().await;
    let ready = serde_json::json!({"url": stack.address, "api_key": stack.api_key});
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{ready}")?;
    stdout.flush()?;
    let stop = common::shutdown::cancel_on_signal();
    let mut stdin = tokio::io::stdin();
    let mut sink = [0_u8; 64];
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            read = stdin.read(&mut sink) => if read.map_or(true, |n| n == 0) { break },
        }
    }
    drop(stack);
    Ok(())
}
