//! A large file is split into chunks that several workers process in parallel: progress stays
//! exact, the file completes exactly once, and a killed worker's chunk is redone.

use std::time::Duration;

use crate::harness::{domains, refetched, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_is_shared_by_workers_and_survives_one_being_killed() {
    let stack = start_stack(Duration::from_millis(20), |settings| {
        settings.worker.chunk_domains = 400;
        settings.worker.domain_concurrency = 8;
        settings.worker.result_batch_size = 50;
        settings.worker.visibility_timeout_secs = 4;
    })
    .await;
    let mut entries = domains("chunked", 3_000);
    entries.insert(10, "not a domain".to_owned());
    entries.insert(2_000, "chunked-5.example.com".to_owned());
    let file_id = stack.api.upload_domains(&entries).await;

    let mut first = stack.spawn_worker("first");
    let second = stack.spawn_worker("second");
    let midway = stack
        .api
        .wait_for_file(&file_id, Duration::from_secs(60), "a third done", |file| {
            file["progress"]["succeeded"].as_u64() >= Some(1_000)
        })
        .await;
    first.kill().await;
    assert_eq!(
        midway["progress"]["total"], 3_001,
        "distinct entries: {midway}"
    );
    assert_eq!(
        midway["progress"]["failed"], 1,
        "the invalid entry is recorded at once"
    );
    let third = stack.spawn_worker("third");

    let file = stack
        .api
        .wait_until_terminal_within(&file_id, Duration::from_secs(120))
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["progress"]["succeeded"], 3_000, "{file}");
    assert_eq!(file["progress"]["failed"], 1, "{file}");
    let results = stack.api.all_results(&file_id).await;
    assert_eq!(results.len(), 3_001);
    let mut positions: Vec<i64> = results
        .iter()
        .map(|r| r["position"].as_i64().unwrap_or(-1))
        .collect();
    positions.dedup();
    assert_eq!(
        positions,
        (0..3_001).collect::<Vec<_>>(),
        "dense, no duplicates"
    );

    let valid = domains("chunked", 3_000);
    let refetched = refetched(&stack.icons().requests_by_host(), &valid);
    let bound = stack.settings.worker.domain_concurrency + stack.settings.worker.result_batch_size;
    assert!(
        refetched.len() <= bound,
        "{} fetched again",
        refetched.len()
    );
    let log = |worker: &test_support::WorkerProcess| worker.log();
    let (first, second, third) = (log(&first), log(&second), log(&third));
    let logs = [&first, &second, &third];
    let count = |what: &str| {
        logs.iter()
            .map(|log| log.matches(what).count())
            .sum::<usize>()
    };
    assert_eq!(count("split file"), 1, "split once");
    assert_eq!(count("completed file"), 1, "completed exactly once");
    for (name, log) in [("second", &second), ("third", &third)] {
        assert!(
            log.contains("processing chunk"),
            "{name} took chunks: {log}"
        );
    }
}
