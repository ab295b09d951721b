//! Messages that cannot be processed end in the dead-letter queue: a file event whose
//! processing keeps failing marks its file FAILED; anything else stays there for an operator.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;

use crate::harness::{Stack, domains, messages_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_and_its_file_fails() {
    let stack = Stack::start(Duration::ZERO, |_| {}).await;
    let file_id = stack.api.upload_domains(&domains("poison", 3)).await;
    // The file's object now points at a bucket that does not exist: every attempt fails
    // with an S3 error, which the worker treats as transient.
    stack
        .db
        .execute_unprepared(&format!(
            "UPDATE files SET s3_bucket = 'no-such-bucket-{}' WHERE id = '{file_id}'",
            test_support::unique_suffix()
        ))
        .await
        .expect("break the file's object location");
    let sqs = common::aws::AwsClients::from_settings(&stack.settings.aws)
        .await
        .sqs;
    sqs.send_message()
        .queue_url(&stack.settings.aws.queue_url)
        .message_body("this is not a file event")
        .send()
        .await
        .expect("send a foreign message");

    let worker = stack.spawn_worker("worker");
    let file = stack.api.wait_until_terminal(&file_id).await;

    assert_eq!(file["status"], "FAILED", "{file}");
    let reason = file["error_message"].as_str().expect("a reason");
    assert!(reason.contains("dead-lettered"), "{reason}");
    assert!(
        reason.contains("no-such-bucket"),
        "names the last error: {reason}"
    );
    let log = worker.log();
    assert!(log.contains("transient error"), "retried first: {log}");

    // The foreign message is kept in the DLQ; the file event was removed from both queues.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (queue, dlq) = (
            messages_in(&sqs, &stack.settings.aws.queue_url).await,
            messages_in(&sqs, &stack.settings.aws.dlq_url).await,
        );
        if queue == 0 && dlq == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "queue holds {queue} and DLQ {dlq} messages; expected 0 and 1"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
