//! Prefixed copies of the pipeline's AWS resources on LocalStack, one set per test, shaped
//! like `infra/messaging.yaml` (raw delivery, redrive to a DLQ after 3 receives, queue policy).

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{
    aws::AwsClients,
    config::{AwsConnection, S3Checksums},
};

use crate::settings::StackAws;

/// The LocalStack endpoint: `LOCALSTACK_ENDPOINT`, default `http://127.0.0.1:4566`.
pub fn endpoint() -> String {
    std::env::var("LOCALSTACK_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned())
}

/// How to reach LocalStack.
pub fn connection() -> AwsConnection {
    AwsConnection {
        region: "us-east-1".to_owned(),
        endpoint_override: Some(endpoint()),
        s3_checksums: S3Checksums::WhenSupported,
    }
}

/// Creates bucket, topic, queue and DLQ named with `prefix`, wired as in production.
pub async fn isolated_resources(prefix: &str, visibility_timeout_secs: i32) -> StackAws {
    let connection = connection();
    let clients = AwsClients::from_settings(&connection).await;
    let bucket = format!("{prefix}uploads");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "LocalStack is required for the integration tests but S3 at {} failed ({error:?}). \
             Run `scripts/test` (it starts LocalStack) or set LOCALSTACK_ENDPOINT.",
                endpoint()
            )
        });
    let topic_arn = clients
        .sns
        .create_topic()
        .name(format!("{prefix}file-processing"))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic arn");
    let dlq_url = create_queue(
        &clients,
        &format!("{prefix}file-processing-dlq"),
        HashMap::new(),
    )
    .await;
    let dlq_arn = queue_arn(&clients, &dlq_url).await;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3 }).to_string();
    let queue_url = create_queue(
        &clients,
        &format!("{prefix}file-processing-queue"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_secs.to_string(),
            ),
        ]),
    )
    .await;
    let queue_arn = queue_arn(&clients, &queue_url).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        }]
    })
    .to_string();
    clients
        .sqs
        .set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::Policy, policy)
        .send()
        .await
        .expect("set queue policy");
    clients
        .sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe queue");
    StackAws {
        connection,
        bucket,
        topic_arn,
        queue_url,
        dlq_url,
    }
}

/// Deletes what [`isolated_resources`] created: the topic (and its subscription), both queues,
/// and the bucket with every object in it. Best effort: a benchmark calls it when done, so
/// that LocalStack's state does not grow from run to run; failures are only logged.
pub async fn delete_resources(aws: &StackAws) {
    let clients = AwsClients::from_settings(&aws.connection).await;
    let topic = clients.sns.delete_topic().topic_arn(&aws.topic_arn).send();
    let queue = clients.sqs.delete_queue().queue_url(&aws.queue_url).send();
    let dlq = clients.sqs.delete_queue().queue_url(&aws.dlq_url).send();
    let (topic, queue, dlq) = tokio::join!(topic, queue, dlq);
    let mut failures: Vec<String> = [
        topic.err().map(|error| format!("topic: {error}")),
        queue.err().map(|error| format!("queue: {error}")),
        dlq.err().map(|error| format!("dlq: {error}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Err(error) = empty_and_delete_bucket(&clients, &aws.bucket).await {
        failures.push(format!("bucket: {error}"));
    }
    if !failures.is_empty() {
        tracing::warn!("could not delete every LocalStack resource: {failures:?}");
    }
}

async fn empty_and_delete_bucket(clients: &AwsClients, bucket: &str) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    loop {
        let listed = clients.s3.list_objects_v2().bucket(bucket).send().await?;
        let keys: Vec<ObjectIdentifier> = listed
            .contents()
            .iter()
            .filter_map(|object| object.key())
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            break;
        }
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()?;
        clients
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await?;
    }
    clients.s3.delete_bucket().bucket(bucket).send().await?;
    Ok(())
}

async fn create_queue(
    clients: &AwsClients,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    clients
        .sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

async fn queue_arn(clients: &AwsClients, url: &str) -> String {
    clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("get queue arn")
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("queue arn")
}
