//! Faults of the infrastructure while files are processed, through the real api, worker
//! processes, PostgreSQL and LocalStack. Every scenario ends with each accepted file in a
//! terminal status with exact counters, one result per domain, and nothing left PENDING or
//! PROCESSING.
//!
//! SNS failing at upload time is covered by `recovery.rs`
//! (`a_file_whose_publish_failed_is_processed_after_recovery`): the file is accepted, stays
//! PENDING unannounced, and the re-publisher announces it later. It needs no worker process, so
//! it is not repeated here.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use secrecy::ExposeSecret;
use test_support::{FaultProxy, TestStack, WorkerProcess};

use crate::harness::{
    assert_exact_results, assert_nothing_stuck, domains, refetched, set_max_receive_count,
    start_stack, wait_until_drained,
};

/// Polls the api until the file is COMPLETED or FAILED.
async fn wait_terminal(stack: &TestStack, file_id: &str) -> serde_json::Value {
    stack
        .api
        .wait_until_terminal_within(file_id, Duration::from_secs(240))
        .await
}

/// Polls the api until the file has at least `done` successful results.
async fn wait_progress(stack: &TestStack, file_id: &str, done: u64) {
    stack
        .api
        .wait_for_file(
            file_id,
            Duration::from_secs(120),
            &format!("{done} done"),
            |file| file["progress"]["succeeded"].as_u64() >= Some(done),
        )
        .await;
}

/// How often `what` appears in the logs of `workers`.
fn count_in_logs(workers: &[WorkerProcess], what: &str) -> usize {
    workers
        .iter()
        .map(|worker| worker.log().matches(what).count())
        .sum()
}

/// LocalStack stopped and restarted while a file is processed.
///
/// The api and the workers reach LocalStack through a [`FaultProxy`], which is taken down for
/// several seconds and brought back: open connections are reset and new ones refused, exactly
/// what the processes see when LocalStack stops and restarts with its state intact. The shared
/// LocalStack itself is never stopped: other tests use it at the same time, and the community
/// edition would lose every queue and bucket on a restart. Resources surviving an outage is
/// what real AWS does.
///
/// A file accepted before the outage completes, and keeps progressing during it (resolving
/// and recording need only PostgreSQL); an upload during the outage is refused with a JSON
/// 5xx (today a bare 500 `internal`) rather than accepted and lost; files accepted just before
/// and right after complete too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_outage_mid_file_loses_nothing_accepted() {
    let proxy = FaultProxy::in_front_of(&test_support::aws::endpoint()).await;
    let stack = start_stack(Duration::from_millis(20), |settings| {
        settings.aws.connection.endpoint_override = Some(proxy.url());
        // Longer than the outage, so a message whose heartbeat fails is not handed out again
        // while its file is still running.
        settings.worker.visibility_timeout_secs = 15;
        // A file stored but not announced (SNS down between S3 and the publish) is announced
        // again soon after.
        settings.api.republish_after = Duration::from_secs(2);
    })
    .await;
    let big = domains("outage", 3_000);
    let big_id = stack.api.upload_domains(&big).await;
    let worker = stack.spawn_worker("worker");
    wait_progress(&stack, &big_id, 300).await;
    let just_before = domains("before", 40);
    let just_before_id = stack.api.upload_domains(&just_before).await;

    proxy.down();
    let response = stack
        .api
        .upload(
            "during.csv",
            "text/csv",
            b"domain\nduring.example.com\n".to_vec(),
        )
        .await;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert!(
        (500..600).contains(&status),
        "an upload S3 cannot store is refused: {status} {body}"
    );
    assert!(body["error"]["code"].is_string(), "{body}");
    let at_outage = stack.api.file(&big_id).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after_outage = stack.api.file(&big_id).await;
    proxy.up();
    assert!(
        after_outage["progress"]["succeeded"].as_u64()
            > at_outage["progress"]["succeeded"].as_u64(),
        "the worker kept resolving and recording while AWS was unreachable: {at_outage} then {after_outage}"
    );

    let after = domains("after", 40);
    let after_id = stack.api.upload_domains(&after).await;
    for (file_id, domains) in [
        (&big_id, &big),
        (&just_before_id, &just_before),
        (&after_id, &after),
    ] {
        let file = wait_terminal(&stack, file_id).await;
        assert_eq!(file["status"], "COMPLETED", "{file}");
        assert_exact_results(&stack.api, file_id, domains).await;
    }
    assert_eq!(
        stack.api.get_json("/files?limit=100").await.1["total"],
        3,
        "the refused upload left no file behind"
    );
    assert_nothing_stuck(&stack.db).await;
    let aws = common::aws::AwsClients::from_settings(&stack.settings.aws.connection).await;
    wait_until_drained(&aws.sqs, &stack.settings.aws.queue_url).await;
    let log = worker.log();
    assert!(
        log.contains("receiving messages failed"),
        "the worker saw the outage: {log}"
    );
}

/// PostgreSQL connections killed (`pg_terminate_backend`) again and again while a worker is
/// in the middle of a file: every connection to the test's database but the killer's own,
/// the worker's, the api's and the test's alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_file_lose_nothing() {
    let stack = start_stack(Duration::from_millis(20), |settings| {
        settings.worker.visibility_timeout_secs = 10;
    })
    .await;
    let domains = domains("pgkill", 3_000);
    let file_id = stack.api.upload_domains(&domains).await;
    let worker = stack.spawn_worker("worker");
    wait_progress(&stack, &file_id, 200).await;

    let mut options = ConnectOptions::new(stack.settings.database.url.expose_secret().to_owned());
    options.max_connections(1).sqlx_logging(false);
    let admin: DatabaseConnection = Database::connect(options).await.expect("admin connection");
    let mut killed = 0_u64;
    let mut rounds = 0;
    // Kill every 400 ms for about ten seconds, or until the file is done.
    while rounds < 25 {
        rounds += 1;
        let result = admin
            .execute_unprepared(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .await
            .expect("terminate backends");
        killed += result.rows_affected();
        let status = admin
            .query_one_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                format!("SELECT status FROM files WHERE id = '{file_id}'"),
            ))
            .await
            .expect("file status")
            .expect("the file")
            .try_get_by_index::<String>(0)
            .expect("status");
        if status == "COMPLETED" || status == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    let file = wait_terminal(&stack, &file_id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_exact_results(&stack.api, &file_id, &domains).await;
    assert_nothing_stuck(&stack.db).await;
    assert!(killed > 0, "connections were killed");
    let log = worker.log();
    eprintln!(
        "pg kill: {killed} backends terminated in {rounds} rounds; {} database retries, {} messages given back",
        log.matches("trying again").count(),
        log.matches("SQS will redeliver").count(),
    );
}

/// The uploaded object deleted before any worker reads it: the file fails at once with a
/// reason that says so, and its message is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_deleted_before_it_is_read_fails_the_file_with_a_clear_reason() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    let file_id = stack.api.upload_domains(&domains("gone", 3)).await;
    let (bucket, key) = stack.object_of(&file_id).await;
    stack
        .aws
        .s3
        .delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("delete the object");

    let worker = stack.spawn_worker("worker");
    let file = wait_terminal(&stack, &file_id).await;
    assert_eq!(file["status"], "FAILED", "{file}");
    let reason = file["error_message"].as_str().expect("a reason");
    assert!(reason.contains("no longer exists"), "{reason}");
    assert!(reason.contains(&key), "names the object: {reason}");
    assert_eq!(file["progress"]["total"], 0, "{file}");
    assert!(stack.api.all_results(&file_id).await.is_empty());
    assert_nothing_stuck(&stack.db).await;
    wait_until_drained(&stack.aws.sqs, &stack.settings.aws.queue_url).await;
    assert!(
        !worker.log().contains("transient error"),
        "not retried: {}",
        worker.log()
    );
}

/// A worker SIGKILLed five times at growing progress of one large file, restarted each time,
/// with the template's `maxReceiveCount` of 3.
///
/// SQS counts every receive, so each crash spends one of the message's receives (sometimes
/// two: the redelivery can come a moment before the dead worker's lease lapses and be bounced
/// once). The message is dead-lettered more than once; each time the file has made progress
/// since, so the DLQ consumer sends it back to the queue instead of failing it. The file
/// completes exactly once with one result per domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_five_times_mid_file_completes_once_within_three_receives() {
    let stack = start_stack(Duration::from_millis(20), |settings| {
        settings.worker.visibility_timeout_secs = 4;
        settings.worker.domain_concurrency = 8;
        settings.worker.result_batch_size = 50;
    })
    .await;
    // What infra/template.yaml sets; the test resources have it too, said here for clarity.
    set_max_receive_count(&stack.settings, 3).await;
    let domains = domains("kill5", 3_000);
    let file_id = stack.api.upload_domains(&domains).await;

    let mut workers = vec![stack.spawn_worker("worker-0")];
    for (round, progress) in [400, 900, 1_400, 1_900, 2_400].into_iter().enumerate() {
        wait_progress(&stack, &file_id, progress).await;
        workers.last_mut().expect("a worker").kill().await;
        workers.push(stack.spawn_worker(&format!("worker-{}", round + 1)));
    }

    let file = wait_terminal(&stack, &file_id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_exact_results(&stack.api, &file_id, &domains).await;
    assert_eq!(count_in_logs(&workers, "completed file"), 1);
    // Five crashes spend more than three receives: the message was dead-lettered at least
    // once, and sent back for its progress.
    assert!(
        count_in_logs(&workers, "sent it back to the queue") >= 1,
        "never dead-lettered?"
    );
    assert_nothing_stuck(&stack.db).await;
    let refetched = refetched(&stack.icons().requests_by_host(), &domains);
    let bound =
        5 * (stack.settings.worker.domain_concurrency + stack.settings.worker.result_batch_size);
    assert!(
        refetched.len() <= bound,
        "{} fetched again (at most {bound} expected)",
        refetched.len()
    );
}

/// The same with a chunked file and two workers, killing one of them five times. Each chunk
/// has its own message, and one chunk may be caught by several kills: a chunk that made
/// progress is sent back from the DLQ like a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_workers_killed_five_times_complete_once_within_three_receives() {
    let stack = start_stack(Duration::from_millis(20), |settings| {
        settings.worker.chunk_domains = 500;
        settings.worker.visibility_timeout_secs = 4;
        settings.worker.domain_concurrency = 8;
        settings.worker.result_batch_size = 50;
    })
    .await;
    // What infra/template.yaml sets; the test resources have it too, said here for clarity.
    set_max_receive_count(&stack.settings, 3).await;
    let domains = domains("chunkkill", 3_000);
    let file_id = stack.api.upload_domains(&domains).await;

    // Each round the older of the two running workers is killed and a new one started.
    let mut finished = Vec::new();
    let mut running = vec![stack.spawn_worker("a-0"), stack.spawn_worker("b")];
    for (round, progress) in [400, 900, 1_400, 1_900, 2_400].into_iter().enumerate() {
        wait_progress(&stack, &file_id, progress).await;
        let mut victim = running.remove(0);
        victim.kill().await;
        finished.push(victim);
        running.push(stack.spawn_worker(&format!("a-{}", round + 1)));
    }

    let file = wait_terminal(&stack, &file_id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_exact_results(&stack.api, &file_id, &domains).await;
    finished.extend(running);
    assert_eq!(count_in_logs(&finished, "split file"), 1, "split once");
    assert_eq!(
        count_in_logs(&finished, "completed file"),
        1,
        "completed once"
    );
    assert_nothing_stuck(&stack.db).await;
}
