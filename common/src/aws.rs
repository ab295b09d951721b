//! The one place AWS clients are built, for the api, the worker and the tests alike.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};

use crate::config::{AwsConnection, S3Checksums};

/// S3, SNS and SQS clients sharing one SDK configuration. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// Uploads and downloads of domain files.
    pub s3: aws_sdk_s3::Client,
    /// Publishes file events.
    pub sns: aws_sdk_sns::Client,
    /// Receives file events (worker) and reads the DLQ.
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Builds the clients: region and credentials from the standard AWS chain, the endpoint
    /// from our own setting only (with path-style S3 addressing, which emulators need), and
    /// operation timeouts longer than SQS's 20 s long poll.
    pub async fn from_settings(settings: &AwsConnection) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(40))
            .operation_timeout(Duration::from_secs(120))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .timeout_config(timeouts);
        if let Some(endpoint) = &settings.endpoint_override {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;

        let mut s3 = aws_sdk_s3::config::Builder::from(&shared);
        if settings.endpoint_override.is_some() {
            s3 = s3.force_path_style(true);
        }
        if settings.s3_checksums == S3Checksums::WhenRequired {
            s3 = s3
                .request_checksum_calculation(
                    aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                )
                .response_checksum_validation(
                    aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
                );
        }
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sns: aws_sdk_sns::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
        }
    }
}
