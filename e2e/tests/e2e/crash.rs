//! A worker that dies or is stopped in the middle of a file: the work resumes elsewhere,
//! without fetching recorded domains again and without duplicate results.

use std::time::Duration;

use crate::harness::{assert_exact_results, domains, refetched, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_file_is_resumed_with_exactly_one_result_per_domain() {
    let stack = start_stack(Duration::from_millis(20), |settings| {
        // A short visibility timeout, so the killed worker's message comes back soon.
        settings.worker.visibility_timeout_secs = 4;
        settings.worker.domain_concurrency = 8;
        settings.worker.result_batch_size = 50;
    })
    .await;
    let domains = domains("crash", 2_000);
    let file_id = stack.api.upload_domains(&domains).await;

    let mut first = stack.spawn_worker("first");
    let midway = stack
        .api
        .wait_for_file(
            &file_id,
            Duration::from_secs(60),
            "a quarter done",
            |file| file["progress"]["succeeded"].as_u64() >= Some(500),
        )
        .await;
    first.kill().await;
    let recorded_at_kill = stack.api.file(&file_id).await["progress"]["succeeded"]
        .as_u64()
        .expect("counter");
    assert_eq!(midway["status"], "PROCESSING");
    assert!(
        recorded_at_kill < 2_000,
        "killed mid-file: {recorded_at_kill}"
    );

    let _second = stack.spawn_worker("second");
    let file = stack
        .api
        .wait_until_terminal_within(&file_id, Duration::from_secs(120))
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_exact_results(&stack.api, &file_id, &domains).await;
    // Only what was in flight or not yet written when the first worker died is fetched
    // again: at most the domains being resolved plus one unwritten batch.
    let refetched = refetched(&stack.icons().requests_by_host(), &domains);
    let bound = stack.settings.worker.domain_concurrency + stack.settings.worker.result_batch_size;
    assert!(
        refetched.len() <= bound,
        "{} domains fetched again (at most {bound} expected)",
        refetched.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_file_at_once_for_another_worker() {
    let stack = start_stack(Duration::from_millis(50), |settings| {
        // Were the message not released, another worker would wait a minute for it.
        settings.worker.visibility_timeout_secs = 60;
        settings.worker.domain_concurrency = 4;
        settings.worker.result_batch_size = 10;
        settings.worker.shutdown_grace = Duration::from_secs(1);
    })
    .await;
    let domains = domains("term", 400);
    let file_id = stack.api.upload_domains(&domains).await;

    let mut first = stack.spawn_worker("first");
    stack
        .api
        .wait_for_file(&file_id, Duration::from_secs(60), "started", |file| {
            file["progress"]["succeeded"].as_u64() >= Some(40)
        })
        .await;
    let exit = first.terminate(Duration::from_secs(15)).await;
    assert!(exit.success(), "worker exit after SIGTERM: {exit}");
    let log = first.log();
    assert!(log.contains("released file"), "{log}");
    let released = stack.api.file(&file_id).await;
    assert_eq!(released["status"], "PROCESSING", "{released}");
    assert!(released["progress"]["succeeded"].as_u64() < Some(400));

    let _second = stack.spawn_worker("second");
    stack
        .api
        .wait_for_file(&file_id, Duration::from_secs(30), "completed", |file| {
            file["status"] == "COMPLETED"
        })
        .await;
    assert_exact_results(&stack.api, &file_id, &domains).await;
    // Finished domains were written before the release; only those still in flight are
    // fetched again.
    let refetched = refetched(&stack.icons().requests_by_host(), &domains);
    assert!(
        refetched.len() <= stack.settings.worker.domain_concurrency,
        "fetched again: {refetched:?}"
    );
}
