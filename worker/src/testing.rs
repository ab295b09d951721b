//! What the worker's unit tests share: a [`WorkerState`] that reaches no service, and polling
//! under paused time.

use std::{sync::Arc, time::Duration};

use common::WorkerConfig;

use favicon::Resolver;

use crate::state::WorkerState;

/// A context whose database is disconnected and whose S3 is never called, for handlers that
/// must decide without them; `vars` adds to the worker's required variables.
pub(crate) fn context(vars: &[(&str, &str)]) -> Arc<WorkerState> {
    let settings = WorkerConfig::from_lookup(|name| {
        let required = [
            ("DATABASE_URL", "postgres://127.0.0.1:1/unreachable"),
            ("SQS_QUEUE_URL", "memory://queue"),
            ("SQS_DLQ_URL", "memory://dlq"),
        ];
        vars.iter()
            .chain(required.iter())
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .expect("the test settings are valid");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build(),
    );
    Arc::new(WorkerState {
        db: sea_orm::DatabaseConnection::default(),
        s3,
        resolver: Resolver::new(&settings.resolver).expect("the resolver builds"),
        domain_permits: tokio::sync::Semaphore::new(1),
        icon_write_permits: tokio::sync::Semaphore::new(1),
        settings,
    })
}

/// Polls `condition` every simulated 100 ms for up to 10 simulated minutes.
pub(crate) async fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("condition not met within 10 simulated minutes");
}
