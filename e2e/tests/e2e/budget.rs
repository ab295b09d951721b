//! The receive budget counts crashes, and the DLQ consumer tells a file that keeps dying
//! while it progresses (sent back to the queue) from one that never gets anywhere (FAILED).
//! The progressing side is in `faults.rs` (workers killed five times mid-file).

use std::time::{Duration, Instant};

use test_support::WorkerProcess;

use crate::harness::{assert_nothing_stuck, domains, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_never_makes_progress_still_ends_failed() {
    // Every domain hangs far longer than the test: each worker is killed before it records
    // anything.
    let stack = start_stack(Duration::from_secs(3_600), |settings| {
        settings.worker.visibility_timeout_secs = 4;
        settings.resolver.domain_timeout = Duration::from_secs(3_600);
    })
    .await;
    let file_id = stack.api.upload_domains(&domains("stuck", 3)).await;

    let deadline = Instant::now() + Duration::from_secs(240);
    let mut killed: Vec<WorkerProcess> = Vec::new();
    loop {
        let file = stack.api.file(&file_id).await;
        if file["status"] == "FAILED" {
            break;
        }
        assert!(Instant::now() < deadline, "not FAILED: {file}");
        let mut worker = stack.spawn_worker(&format!("worker-{}", killed.len()));
        // Let it take the file (or fail it, when it finds the message in the DLQ), then kill it.
        let started = Instant::now();
        while !worker.log().contains("processing file")
            && stack.api.file(&file_id).await["status"] != "FAILED"
            && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        worker.kill().await;
        killed.push(worker);
    }
    let file = stack.api.file(&file_id).await;
    let reason = file["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains("dead-lettered"), "{reason}");
    assert!(reason.contains("without recording any result"), "{reason}");
    assert!(reason.contains("crashed or were killed"), "{reason}");
    assert_eq!(file["progress"]["succeeded"], 0, "{file}");
    assert!(stack.api.all_results(&file_id).await.is_empty());
    assert_nothing_stuck(&stack.db).await;
}
