//! AWS: how to reach it (both binaries), and the resources each binary uses: the api stores
//! uploads in S3 and publishes to SNS; the worker consumes SQS and its DLQ (it reads uploads
//! from the bucket named in each message, so it needs no `S3_BUCKET`).

use super::{ConfigError, env::Env};

/// Which S3 request checksums the SDK sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Checksums {
    /// The SDK default (CRC32 on every upload); AWS S3 and LocalStack accept it.
    WhenSupported,
    /// Only where an operation requires one, for S3-compatible stores that reject the default.
    WhenRequired,
}

/// How both binaries reach AWS; [`crate::aws::AwsClients`] is built from it.
#[derive(Debug, Clone)]
pub struct AwsConnection {
    /// `AWS_REGION` (default `us-east-1`).
    pub region: String,
    /// `AWS_ENDPOINT_OVERRIDE`: one endpoint for S3, SNS and SQS (LocalStack); unset in AWS.
    /// Our own name, so that production never inherits a stray `AWS_ENDPOINT_URL`.
    pub endpoint_override: Option<String>,
    /// `S3_CHECKSUMS`: `when_supported` (default) or `when_required`.
    pub s3_checksums: S3Checksums,
}

impl AwsConnection {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            region: env.string_or("AWS_REGION", "us-east-1"),
            endpoint_override: env.optional("AWS_ENDPOINT_OVERRIDE"),
            s3_checksums: match env.string_or("S3_CHECKSUMS", "when_supported").as_str() {
                "when_supported" => S3Checksums::WhenSupported,
                "when_required" => S3Checksums::WhenRequired,
                other => {
                    return Err(env.invalid(
                        "S3_CHECKSUMS",
                        other,
                        "expected when_supported or when_required",
                    ));
                }
            },
        })
    }
}

/// The api's AWS resources.
#[derive(Debug, Clone)]
pub struct ApiAwsSettings {
    /// How to reach AWS.
    pub connection: AwsConnection,
    /// `S3_BUCKET`: where uploads are stored.
    pub bucket: String,
    /// `SNS_TOPIC_ARN`: where upload events are published.
    pub topic_arn: String,
}

impl ApiAwsSettings {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            connection: AwsConnection::read(env)?,
            bucket: env.required("S3_BUCKET")?,
            topic_arn: env.required("SNS_TOPIC_ARN")?,
        })
    }
}

/// The worker's AWS resources.
#[derive(Debug, Clone)]
pub struct WorkerAwsSettings {
    /// How to reach AWS.
    pub connection: AwsConnection,
    /// `SQS_QUEUE_URL`: the queue subscribed to the topic, which the worker consumes.
    pub queue_url: String,
    /// `SQS_DLQ_URL`: the queue's dead-letter queue.
    pub dlq_url: String,
}

impl WorkerAwsSettings {
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            connection: AwsConnection::read(env)?,
            queue_url: env.required("SQS_QUEUE_URL")?,
            dlq_url: env.required("SQS_DLQ_URL")?,
        })
    }
}
