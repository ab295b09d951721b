//! Messages that cannot be processed end in the dead-letter queue: a file event whose
//! processing keeps failing marks its file FAILED; anything else stays there for an operator.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;

use crate::harness::{domains, messages_in, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_and_its_file_fails() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
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
    let sqs = common::aws::AwsClients::from_settings(&stack.settings.aws.connection)
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
        reason.contains("without recording any result"),
        "no progress: {reason}"
    );
    assert!(
        reason.contains("last error: processing was interrupted (S3 or SQS could not be reached)"),
        "names the last error's kind: {reason}"
    );
    assert!(
        !reason.contains("no-such-bucket"),
        "the error itself is for the logs: {reason}"
    );
    let log = worker.log();
    assert!(log.contains("transient error"), "retried first: {log}");
    assert!(log.contains("no-such-bucket"), "logged: {log}");

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

/// Moves the `count` messages of the main queue to the DLQ, as SQS does when their receives
/// are used up.
async fn dead_letter_all(
    sqs: &aws_sdk_sqs::Client,
    settings: &test_support::StackSettings,
    count: usize,
) {
    let mut moved = 0;
    while moved < count {
        let received = sqs
            .receive_message()
            .queue_url(&settings.aws.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("receive from the queue");
        for message in received.messages.unwrap_or_default() {
            sqs.send_message()
                .queue_url(&settings.aws.dlq_url)
                .message_body(message.body.expect("a body"))
                .send()
                .await
                .expect("send to the DLQ");
            sqs.delete_message()
                .queue_url(&settings.aws.queue_url)
                .receipt_handle(message.receipt_handle.expect("a receipt handle"))
                .send()
                .await
                .expect("delete from the queue");
            moved += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_file_that_a_live_worker_holds_is_left_to_that_worker() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    let held = stack.api.upload_domains(&domains("held", 2)).await;
    let lapsed = stack.api.upload_domains(&domains("lapsed", 2)).await;
    let sqs = common::aws::AwsClients::from_settings(&stack.settings.aws.connection)
        .await
        .sqs;
    dead_letter_all(&sqs, &stack.settings, 2).await;
    // Another worker holds `held` for 15 s more; the holder of `lapsed` is gone.
    for (file_id, lease) in [(&held, "15 seconds"), (&lapsed, "-1 second")] {
        stack
            .db
            .execute_unprepared(&format!(
                "UPDATE files SET status = 'PROCESSING', lease_owner = gen_random_uuid(), \
                 lease_expires_at = now() + interval '{lease}' WHERE id = '{file_id}'"
            ))
            .await
            .expect("lease the file");
    }

    let worker = stack.spawn_worker("worker");
    let file = stack.api.wait_until_terminal(&lapsed).await;
    assert_eq!(file["status"], "FAILED", "{file}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !worker.log().contains("a live worker holds it") {
        assert!(
            Instant::now() < deadline,
            "held file not deferred: {}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.api.file(&held).await["status"], "PROCESSING");

    // The holder finishes its file; once the lease time is over, the DLQ message is removed
    // and the file keeps its COMPLETED status.
    stack
        .db
        .execute_unprepared(&format!(
            "UPDATE files SET status = 'COMPLETED', lease_owner = NULL, lease_expires_at = NULL, \
             processed_at = now() WHERE id = '{held}'"
        ))
        .await
        .expect("complete the file");
    let deadline = Instant::now() + Duration::from_secs(60);
    while messages_in(&sqs, &stack.settings.aws.dlq_url).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the DLQ still holds the held file's message"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(stack.api.file(&held).await["status"], "COMPLETED");
}
