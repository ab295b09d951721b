//! Several worker processes on one queue share the files without doing any twice, and a
//! repeated event changes nothing.

use std::time::{Duration, Instant};

use common::event::FileEvent;

use crate::harness::{assert_exact_results, domains, messages_in, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_one_queue_without_double_work() {
    let stack = start_stack(Duration::from_millis(20), |settings| {
        settings.worker.file_concurrency = 1;
        settings.worker.domain_concurrency = 8;
    })
    .await;
    let first = stack.spawn_worker("first");
    let second = stack.spawn_worker("second");
    let mut files = Vec::new();
    for n in 0..6 {
        let domains = domains(&format!("share{n}"), 300);
        files.push((stack.api.upload_domains(&domains).await, domains));
    }

    for (file_id, domains) in &files {
        let file = stack
            .api
            .wait_until_terminal_within(file_id, Duration::from_secs(120))
            .await;
        assert_eq!(file["status"], "COMPLETED", "{file}");
        assert_exact_results(&stack.api, file_id, domains).await;
    }

    let requests = stack.icons().requests_by_host();
    let all: Vec<String> = files.iter().flat_map(|(_, d)| d.clone()).collect();
    let counts: std::collections::BTreeSet<u32> = all
        .iter()
        .map(|host| requests.get(host).copied().unwrap_or(0))
        .collect();
    assert_eq!(counts.len(), 1, "every domain resolved once: {counts:?}");
    let completed = |log: String| log.matches("completed file").count();
    let (by_first, by_second) = (completed(first.log()), completed(second.log()));
    assert_eq!(
        by_first + by_second,
        files.len(),
        "each file completed once"
    );
    assert!(
        by_first > 0 && by_second > 0,
        "both worked: {by_first} and {by_second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_for_a_finished_file_is_deleted_and_changes_nothing() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    let _worker = stack.spawn_worker("worker");
    let domains = domains("again", 20);
    let file_id = stack.api.upload_domains(&domains).await;
    let finished = stack.api.wait_until_terminal(&file_id).await;
    assert_eq!(finished["status"], "COMPLETED", "{finished}");
    let requests = stack.icons().requests_by_host();

    // SQS delivers at least once: the same event again, raw and in an SNS envelope.
    let event = FileEvent {
        file_id: file_id.parse().expect("uuid"),
        s3_bucket: stack.settings.aws.bucket.clone(),
        s3_key: format!("uploads/{file_id}/domains.csv"),
    }
    .to_json();
    let envelope = serde_json::json!({ "Type": "Notification", "Message": event }).to_string();
    let sqs = common::aws::AwsClients::from_settings(&stack.settings.aws.connection)
        .await
        .sqs;
    for body in [event, envelope] {
        sqs.send_message()
            .queue_url(&stack.settings.aws.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send the event again");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while messages_in(&sqs, &stack.settings.aws.queue_url).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the repeated events were not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert_eq!(
        stack.api.file(&file_id).await,
        finished,
        "the file is unchanged"
    );
    assert_exact_results(&stack.api, &file_id, &domains).await;
    assert_eq!(
        stack.icons().requests_by_host(),
        requests,
        "nothing fetched again"
    );
}
