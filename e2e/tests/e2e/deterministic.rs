//! Errors that would happen again on the same data never spend the message's receives: the
//! entry becomes a failed result, or the file FAILED at once with a clear reason. The
//! database refusing a row is provoked with a CHECK constraint added to the test's database.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{domains, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_the_database_refuses_fails_only_its_entry() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    stack
        .sql(
            "ALTER TABLE results ADD CONSTRAINT test_refuses_one_icon \
             CHECK (favicon_url IS NULL OR favicon_url NOT LIKE '%refused.example.com%')",
        )
        .await;
    let mut entries = domains("kept", 120);
    entries.insert(70, "refused.example.com".to_owned());
    let file_id = stack.api.upload_domains(&entries).await;

    let worker = stack.spawn_worker("worker");
    let file = stack
        .api
        .wait_until_terminal_within(&file_id, Duration::from_secs(120))
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["error_message"], Value::Null, "{file}");
    assert_eq!(file["progress"]["total"], 121, "{file}");
    assert_eq!(file["progress"]["succeeded"], 120, "{file}");
    assert_eq!(file["progress"]["failed"], 1, "{file}");
    let results = stack.api.all_results(&file_id).await;
    assert_eq!(results.len(), 121);
    let refused = &results[70];
    assert_eq!(refused["domain"], "refused.example.com", "{refused}");
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["error_category"], "invalid_domain", "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(error.contains("could not be stored"), "{error}");
    assert!(!error.contains("sqlx"), "{error}");
    let log = worker.log();
    assert!(!log.contains("transient error"), "not retried: {log}");
    assert!(
        log.contains("test_refuses_one_icon"),
        "the database's own words are logged: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_results_the_database_always_refuses_fails_at_once() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    stack
        .sql("ALTER TABLE results ADD CONSTRAINT test_refuses_all CHECK (position < 0)")
        .await;
    let file_id = stack.api.upload_domains(&domains("refused", 5)).await;

    let worker = stack.spawn_worker("worker");
    let file = stack
        .api
        .wait_until_terminal_within(&file_id, Duration::from_secs(120))
        .await;
    assert_eq!(file["status"], "FAILED", "{file}");
    let reason = file["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains("could not be stored"), "{reason}");
    assert!(!reason.contains("sqlx"), "{reason}");
    assert!(
        !reason.contains("dead-lettered"),
        "failed at once: {reason}"
    );
    let log = worker.log();
    assert!(!log.contains("transient error"), "not retried: {log}");
}
