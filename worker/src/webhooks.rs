//! Delivering webhook notifications: the story of the outbox. A file's terminal status change
//! wrote a delivery in its transaction (`store::webhook_deliveries`); this loop takes due
//! deliveries under a lease (several workers share them, `FOR UPDATE SKIP LOCKED`), POSTs the
//! signed JSON summary, and records the attempt with what follows: delivered on 2xx, else
//! again after an exponential backoff, and given up after `WEBHOOK_MAX_ATTEMPTS`. A delivery
//! survives restarts: one taken by a worker that stopped is due again when its lease ends.
//!
//! [`signature`] signs; [`dns`] keeps requests to public addresses at delivery time.

pub mod dns;
pub mod signature;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use common::{
    callback_url::CallbackUrl,
    config::{CallbackUrlRules, WebhookDeliverySettings},
};
use entity::{FileStatus, files};
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use store::webhook_deliveries::{Attempt, DueDelivery, NextStep};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Beyond the request timeout, how long a taken delivery stays with its worker before
/// another may take it.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// What the loop needs.
#[derive(Debug, Clone)]
pub struct Deliverer {
    db: DatabaseConnection,
    client: reqwest::Client,
    settings: WebhookDeliverySettings,
    rules: CallbackUrlRules,
}

impl Deliverer {
    /// The HTTP client for callbacks: no redirects followed (a 3xx is a failed attempt), no
    /// proxy (it would resolve names itself), only allowed addresses ([`dns`]).
    pub fn new(
        db: DatabaseConnection,
        settings: WebhookDeliverySettings,
        rules: CallbackUrlRules,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "favicon-pipeline-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(dns::AllowedAddressesOnly(rules.clone())))
            .build()
            .context("failed to build the webhook HTTP client")?;
        Ok(Self {
            db,
            client,
            settings,
            rules,
        })
    }

    /// Delivers due notifications until `shutdown`; those in flight then finish (each within
    /// the request timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let lease = self.settings.timeout + LEASE_MARGIN;
        let batch = self.settings.concurrency;
        while !shutdown.is_cancelled() {
            let found = match store::webhook_deliveries::claim_due(&self.db, batch as u64, lease)
                .await
            {
                Ok(due) => {
                    let found = !due.is_empty();
                    futures::stream::iter(due)
                        .for_each_concurrent(batch, |due| self.deliver(due))
                        .await;
                    found
                }
                Err(error) => {
                    tracing::warn!(error.message = %error, "failed to take due webhook deliveries");
                    false
                }
            };
            if !found {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        }
    }

    /// One attempt at one delivery, recorded with what follows.
    #[tracing::instrument(skip_all, fields(webhook.delivery_id = %due.delivery.id, file.id = %due.file.id))]
    async fn deliver(&self, due: DueDelivery) {
        let number = due.delivery.attempt_count + 1;
        let started_at = Utc::now();
        let clock = Instant::now();
        let outcome = self.send(&due).await;
        let delivered =
            matches!(outcome, Outcome::Answered(status) if (200..300).contains(&status));
        let next = match &outcome {
            _ if delivered => NextStep::Delivered,
            Outcome::Refused(_) => NextStep::GiveUp,
            _ if u32::try_from(number).is_ok_and(|n| n >= self.settings.max_attempts) => {
                NextStep::GiveUp
            }
            _ => NextStep::RetryAt(retry_time(&self.settings, number)),
        };
        let attempt = Attempt {
            number,
            started_at,
            duration: clock.elapsed(),
            status_code: match outcome {
                Outcome::Answered(status) => Some(status),
                _ => None,
            },
            error: outcome.error(),
        };
        let id = due.delivery.id;
        match store::webhook_deliveries::record_attempt(&self.db, id, attempt.clone(), next).await {
            Ok(true) => log_attempt(id, &attempt, next),
            Ok(false) => {
                tracing::info!(webhook.delivery_id = %id, "webhook delivery {id} was taken over before attempt {number} was recorded");
            }
            Err(error) => {
                // Due again when the lease ends: the receiver may see it twice (the body's `id`
                // lets it tell).
                tracing::warn!(webhook.delivery_id = %id, error.message = %error, "failed to record attempt {number} of webhook delivery {id}");
            }
        }
    }

    /// Sends the notification once.
    async fn send(&self, due: &DueDelivery) -> Outcome {
        let Some(secret) = &due.secret else {
            return Outcome::Refused(
                "the client's webhook was deleted: no secret signs this notification".to_owned(),
            );
        };
        // Checked again at every delivery: the rules may have changed since it was accepted.
        let url = match CallbackUrl::parse(&due.delivery.url, &self.rules) {
            Ok(url) => url,
            Err(reason) => return Outcome::Refused(format!("invalid callback URL: {reason}")),
        };
        let body = match serde_json::to_vec(&Notification::of(&due.delivery, &due.file)) {
            Ok(body) => body,
            Err(error) => {
                return Outcome::Refused(format!("cannot encode the notification: {error}"));
            }
        };
        let timestamp = Utc::now().timestamp();
        let sent = self
            .client
            .post(url.url().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                signature::HEADER,
                signature::header_value(secret, timestamp, &body),
            )
            .header("Favicon-Delivery", due.delivery.id.to_string())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => Outcome::Answered(response.status().as_u16()),
            Err(error) => Outcome::Failed(describe(&error)),
        }
    }
}

/// How one attempt went.
#[derive(Debug)]
enum Outcome {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer (connection, time-out, refused address); worth another attempt.
    Failed(String),
    /// Cannot be sent at all (no secret, URL no longer allowed); not tried again.
    Refused(String),
}

impl Outcome {
    /// What is recorded as the attempt's error.
    fn error(&self) -> Option<String> {
        match self {
            Self::Answered(status) if (200..300).contains(status) => None,
            Self::Answered(status) => Some(format!("the receiver answered HTTP {status}")),
            Self::Failed(reason) | Self::Refused(reason) => Some(reason.clone()),
        }
    }
}

/// When attempt `number + 1` is due after attempt `number` failed.
fn retry_time(settings: &WebhookDeliverySettings, number: i32) -> DateTime<Utc> {
    let wait = settings.backoff(u32::try_from(number).unwrap_or(u32::MAX));
    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1))
}

/// A request error with its causes (reqwest's own message omits the useful part).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn log_attempt(id: Uuid, attempt: &Attempt, next: NextStep) {
    let number = attempt.number;
    let error = attempt.error.as_deref().unwrap_or_default();
    match next {
        NextStep::Delivered => {
            tracing::info!(webhook.delivery_id = %id, "webhook delivery {id} delivered at attempt {number}");
        }
        NextStep::RetryAt(at) => {
            tracing::info!(webhook.delivery_id = %id, error.message = %error, "webhook delivery {id} attempt {number} failed; next at {at}");
        }
        NextStep::GiveUp => {
            tracing::warn!(webhook.delivery_id = %id, error.message = %error, "webhook delivery {id} given up after attempt {number}");
        }
    }
}

/// The JSON body POSTed to the callback URL.
#[derive(Debug, Serialize)]
pub struct Notification {
    /// The delivery's id: the same on every attempt, so that a receiver can ignore repeats.
    pub id: Uuid,
    /// `file.completed`, `file.failed`, ...: `file.` and the status in lower case.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the file reached the status.
    pub created_at: DateTime<Utc>,
    /// The file.
    pub file: FileSummary,
}

/// The file as a notification shows it.
#[derive(Debug, Serialize)]
pub struct FileSummary {
    /// Its id.
    pub id: Uuid,
    /// The name it was uploaded with.
    pub original_name: String,
    /// The terminal status announced.
    pub status: FileStatus,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
    /// Distinct domains.
    pub total: i32,
    /// Domains with a favicon.
    pub succeeded: i32,
    /// Domains without one.
    pub failed: i32,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it finished.
    pub processed_at: Option<DateTime<Utc>>,
    /// API paths (relative to the API's base URL) to read more.
    pub links: Links,
}

/// Where to read more about the file.
#[derive(Debug, Serialize)]
pub struct Links {
    /// `GET` the file.
    #[serde(rename = "self")]
    pub file: String,
    /// Its results, paged.
    pub results: String,
    /// Its results as CSV.
    pub download: String,
    /// This notification's attempts.
    pub webhook_deliveries: String,
}

impl Notification {
    /// The notification of `delivery` about `file`.
    pub fn of(delivery: &entity::webhook_deliveries::Model, file: &files::Model) -> Self {
        let path = format!("/files/{}", file.id);
        Self {
            id: delivery.id,
            kind: format!(
                "file.{}",
                delivery.file_status.as_str().to_ascii_lowercase()
            ),
            created_at: delivery.created_at,
            file: FileSummary {
                id: file.id,
                original_name: file.original_name.clone(),
                status: delivery.file_status,
                error_message: file.error_message.clone(),
                total: file.total_count,
                succeeded: file.succeeded_count,
                failed: file.failed_count,
                created_at: file.created_at,
                processed_at: file.processed_at,
                links: Links {
                    results: format!("{path}/results"),
                    download: format!("{path}/download"),
                    webhook_deliveries: format!("{path}/webhook-deliveries"),
                    file: path,
                },
            },
        }
    }
}
