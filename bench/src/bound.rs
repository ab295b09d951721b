//! LocalStack's own rate for what an accepted upload asks of it: one `PutObject` of an upload
//! the size of the load test's, then one SNS `Publish` with the api's message attributes, at a
//! given concurrency and with no api in front. The load test's uploads per second are read
//! against it ([`crate::load`]).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_sdk_sns::types::MessageAttributeValue;
use common::{
    aws::AwsClients,
    event::{FILE_UPLOADED, FileEvent},
};

use crate::{load, measure, report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Put+Publish pairs in flight at once (the load test's `--uploaders`).
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// How long to keep them going.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Domains per object, as the load test's `--domains-per-file` (sets the object's size).
    #[arg(long, default_value_t = 5)]
    pub domains_per_file: usize,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Put+Publish pairs completed per second.
    pub pairs_per_second: f64,
}

#[derive(Debug, Default)]
struct Samples {
    put: Vec<Duration>,
    publish: Vec<Duration>,
    errors: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    measure_bound(&args).await.map(|_| ())
}

/// Runs the bound against fresh LocalStack resources (bucket, and a topic with its queue
/// subscribed, as the api's) and prints it.
pub async fn measure_bound(args: &Args) -> anyhow::Result<Bound> {
    let prefix = format!("b{}-", test_support::unique_suffix());
    let resources = test_support::aws::isolated_resources(&prefix, 30).await;
    let clients = AwsClients::from_settings(&resources.connection).await;
    let samples = Arc::new(Mutex::new(Samples::default()));
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..args.concurrency {
        let (clients, samples) = (clients.clone(), samples.clone());
        let (bucket, topic_arn) = (resources.bucket.clone(), resources.topic_arn.clone());
        let per_file = args.domains_per_file;
        tasks.spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline {
                let body = load::upload_csv(n, round, per_file);
                round += 1;
                let id = uuid::Uuid::now_v7();
                let sent = Instant::now();
                let put = clients
                    .s3
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("uploads/{id}/load.csv"))
                    .content_type("text/csv")
                    .body(body.into_bytes().into())
                    .send()
                    .await;
                let put_time = sent.elapsed();
                let sent = Instant::now();
                let published = match put {
                    Ok(_) => publish(&clients, (&bucket, &topic_arn), id).await,
                    Err(error) => Err(anyhow::Error::new(error)),
                };
                let publish_time = sent.elapsed();
                let mut samples = samples
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match published {
                    Ok(()) => {
                        samples.put.push(put_time);
                        samples.publish.push(publish_time);
                    }
                    Err(_) => samples.errors += 1,
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let mut samples = std::mem::take(
        &mut *samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    #[expect(clippy::cast_precision_loss, reason = "a request count")]
    let pairs_per_second = samples.put.len() as f64 / elapsed.as_secs_f64();
    report(
        "LocalStack bound: concurrency / duration",
        format!("{} / {:.1} s", args.concurrency, elapsed.as_secs_f64()),
    );
    report("LocalStack bound: Put+Publish pairs", samples.put.len());
    report("LocalStack bound: errors", samples.errors);
    for (name, latencies) in [
        ("PutObject", &mut samples.put),
        ("Publish", &mut samples.publish),
    ] {
        let p50 = measure::quantile(latencies, 0.5);
        let p99 = measure::quantile(latencies, 0.99);
        report(
            &format!("LocalStack bound: {name} p50 / p99"),
            format!("{} / {}", measure::ms(p50), measure::ms(p99)),
        );
    }
    report(
        "LocalStack bound: Put+Publish per second",
        format!("{pairs_per_second:.1}"),
    );
    test_support::aws::delete_resources(&resources).await;
    anyhow::ensure!(!samples.put.is_empty(), "no Put+Publish pair succeeded");
    Ok(Bound { pairs_per_second })
}

/// The api's `FileUploaded` publish: a JSON body and the `eventType` and `fileId` attributes.
async fn publish(
    clients: &AwsClients,
    (bucket, topic_arn): (&str, &str),
    id: uuid::Uuid,
) -> anyhow::Result<()> {
    let attribute = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    };
    let event = FileEvent {
        file_id: id,
        s3_bucket: bucket.to_owned(),
        s3_key: format!("uploads/{id}/load.csv"),
    };
    clients
        .sns
        .publish()
        .topic_arn(topic_arn)
        .message(event.to_json())
        .message_attributes("eventType", attribute(FILE_UPLOADED)?)
        .message_attributes("fileId", attribute(&id.to_string())?)
        .send()
        .await?;
    Ok(())
}
