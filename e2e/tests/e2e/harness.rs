//! Helpers of the tests that run workers as processes: starting the stack with the worker
//! binary built for these tests, and assertions about queues, results and leftovers.

use std::{collections::HashMap, time::Duration};

use aws_sdk_sqs::types::QueueAttributeName;
use sea_orm::ConnectionTrait;
use test_support::{ApiClient, StackSettings, TestStack};

/// The worker binary, built by this crate from `worker/src/main.rs` (cargo says where a binary
/// is only to the tests of its own package).
const WORKER_BINARY: &str = env!("CARGO_BIN_EXE_e2e-worker");

/// Starts the api in this process, icons answering after `icon_delay`, with the settings
/// `tune` adjusts; workers are started as processes with [`TestStack::spawn_worker`].
pub async fn start_stack(icon_delay: Duration, tune: impl FnOnce(&mut StackSettings)) -> TestStack {
    TestStack::start(icon_delay, tune)
        .await
        .with_worker_binary(WORKER_BINARY)
}

/// `count` distinct domains named after `tag`.
pub fn domains(tag: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{tag}-{i}.example.com"))
        .collect()
}

/// Hosts fetched more often than the least-fetched of `hosts`: a host's resolution makes the
/// same requests each time, so these are domains resolved more than once.
pub fn refetched(requests: &HashMap<String, u32>, hosts: &[String]) -> Vec<String> {
    let counts: Vec<u32> = hosts
        .iter()
        .map(|host| requests.get(host).copied().unwrap_or(0))
        .collect();
    let least = counts.iter().copied().min().unwrap_or(0);
    hosts
        .iter()
        .zip(counts)
        .filter(|(_, count)| *count > least)
        .map(|(host, _)| host.clone())
        .collect()
}

/// Asserts that a COMPLETED file has exactly one result per domain of `domains`.
pub async fn assert_exact_results(api: &ApiClient, file_id: &str, domains: &[String]) {
    let file = api.file(file_id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    let total = domains.len();
    assert_eq!(file["progress"]["total"], total, "{file}");
    assert_eq!(file["progress"]["succeeded"], total, "{file}");
    assert_eq!(file["progress"]["failed"], 0, "{file}");
    let results = api.all_results(file_id).await;
    assert_eq!(results.len(), total, "one result per domain");
    let mut seen: Vec<&str> = results
        .iter()
        .map(|r| r["domain"].as_str().expect("domain"))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no domain twice");
    let mut expected: Vec<&str> = domains.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
}

/// Visible plus in-flight messages of a queue.
pub async fn messages_in(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
    .sum()
}

/// Asserts that no file is left PENDING or PROCESSING and no chunk undone.
pub async fn assert_nothing_stuck(db: &sea_orm::DatabaseConnection) {
    let count = |sql: &'static str| async move {
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("count query")
        .expect("a count")
        .try_get_by_index::<i64>(0)
        .expect("a number")
    };
    let unfinished = count("SELECT count(*) FROM files WHERE status IN ('PENDING', 'PROCESSING')");
    let undone = count("SELECT count(*) FROM file_chunks WHERE NOT done");
    assert_eq!(unfinished.await, 0, "files left PENDING or PROCESSING");
    assert_eq!(undone.await, 0, "chunks left undone");
}

/// Waits until a queue holds no message, visible or in flight, or panics after two minutes.
pub async fn wait_until_drained(sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = messages_in(sqs, queue_url).await;
        if left == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} messages still in {queue_url}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sets how many receives the stack's queue allows before it moves a message to the DLQ
/// (3 in `infra/messaging.yaml`, and by default in the tests).
pub async fn set_max_receive_count(settings: &StackSettings, count: u32) {
    let sqs = common::aws::AwsClients::from_settings(&settings.aws.connection)
        .await
        .sqs;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&settings.aws.dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("DLQ attributes")
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("DLQ arn");
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": count }).to_string();
    sqs.set_queue_attributes()
        .queue_url(&settings.aws.queue_url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("set the redrive policy");
}
