//! Every metric the api and the worker export, in one place: its name, its type, its labels
//! and its description, with one small function per event so that a call site is one line
//! (`metrics::file_finished(FileStatus::Completed)`).
//!
//! The `metrics` facade records into a Prometheus recorder installed once per process
//! ([`install`]); [`render`] gives the text format that `GET /metrics` serves on the api's
//! port and on the worker's `WORKER_METRICS_PORT`. Until [`install`] runs the functions here
//! cost nothing and record nothing (`worker resolve`, unit tests).
//!
//! Labels only take values from small fixed sets (a route template, a status, a failure
//! category): never a domain, a file, a client or a raw path, so the number of series stays
//! bounded whatever the traffic.

use std::{sync::OnceLock, time::Duration};

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use entity::{FileStatus, ResultStatus};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The `Content-Type` of [`render`]'s text: Prometheus's text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const HTTP_REQUESTS: &str = "favicon_http_requests_total";
const HTTP_REQUEST_DURATION: &str = "favicon_http_request_duration_seconds";
const API_PHASE_DURATION: &str = "favicon_api_phase_seconds";
const FILES_FINISHED: &str = "favicon_files_finished_total";
const DOMAINS_RESOLVED: &str = "favicon_domains_resolved_total";
const DOMAIN_RESOLUTION_DURATION: &str = "favicon_domain_resolution_seconds";
const CACHE_HITS: &str = "favicon_cache_hits_total";
const SQS_MESSAGES_RECEIVED: &str = "favicon_sqs_messages_received_total";
const SQS_MESSAGES_DELETED: &str = "favicon_sqs_messages_deleted_total";
const SQS_VISIBILITY_EXTENSIONS: &str = "favicon_sqs_visibility_extensions_total";
const LEASES_TAKEN: &str = "favicon_leases_taken_total";
const LEASES_LOST: &str = "favicon_leases_lost_total";
const RESULTS_WRITTEN: &str = "favicon_results_written_total";
const EVENT_STREAMS_OPEN: &str = "favicon_event_streams_open";
const ICON_OBJECTS: &str = "favicon_icon_objects_total";
const SNS_PUBLISH_BATCHES: &str = "favicon_sns_publish_batches_total";
const SNS_EVENTS_PUBLISHED: &str = "favicon_sns_events_published_total";

/// Upper bounds (seconds) of the request latency buckets: from a cached `GET` to an upload
/// that takes the whole `UPLOAD_TIMEOUT_SECS`.
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Upper bounds (seconds) of the resolution time buckets, up to well past the default
/// 10-second `RESOLVER_TIMEOUT_SECS`.
const RESOLUTION_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0,
];

/// How often histograms are compacted when nobody scrapes, so memory stays bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder and describes every metric; later calls
/// return the same handle. The api and the worker call it when they are built; in tests both
/// run in one process and share it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = with_buckets(PrometheusBuilder::new()).build_recorder();
        let handle = recorder.handle();
        if let Err(error) = ::metrics::set_global_recorder(recorder) {
            // Only another metrics recorder in the same process can cause this; /metrics then
            // shows nothing rather than stopping the service.
            tracing::warn!(error.message = %error, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(error.message = %error, "failed to start the metrics upkeep thread; histograms are compacted when scraped");
        }
        handle
    })
}

#[expect(
    clippy::expect_used,
    reason = "the bucket lists are constant and not empty, the only error"
)]
fn with_buckets(builder: PrometheusBuilder) -> PrometheusBuilder {
    builder
        .set_buckets_for_metric(
            Matcher::Full(HTTP_REQUEST_DURATION.to_owned()),
            HTTP_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(DOMAIN_RESOLUTION_DURATION.to_owned()),
                RESOLUTION_BUCKETS,
            )
        })
        .expect("bucket lists are not empty")
}

/// Every metric in Prometheus's text format, for `GET /metrics` (installing the recorder
/// first if nobody has).
pub fn render() -> String {
    install().render()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered by the api, by method, route template and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        ::metrics::Unit::Seconds,
        "Time from a request's arrival to its response head, by method and route template"
    );
    describe_histogram!(
        API_PHASE_DURATION,
        ::metrics::Unit::Seconds,
        "Time the api spends in one step of a request (where an upload's or a listing's time \
         goes), by step; a summary with quantiles"
    );
    describe_counter!(
        FILES_FINISHED,
        "Files that reached a terminal status (completed, failed or cancelled)"
    );
    describe_counter!(
        DOMAINS_RESOLVED,
        "Domains the worker answered itself, fetched or invalid, by outcome and failure category"
    );
    describe_histogram!(
        DOMAIN_RESOLUTION_DURATION,
        ::metrics::Unit::Seconds,
        "Time to resolve one domain's favicon, retries included, by outcome"
    );
    describe_counter!(
        CACHE_HITS,
        "Domains answered from a recent result instead of fetched, by outcome"
    );
    describe_counter!(
        SQS_MESSAGES_RECEIVED,
        "Messages received from SQS, by queue (main or dlq)"
    );
    describe_counter!(
        SQS_MESSAGES_DELETED,
        "Messages deleted from SQS after they were handled, by queue (main or dlq)"
    );
    describe_counter!(
        SQS_VISIBILITY_EXTENSIONS,
        "Heartbeats that extended a message's visibility while its work ran"
    );
    describe_counter!(
        LEASES_TAKEN,
        "Leases taken on a file or a chunk, by work (file or chunk)"
    );
    describe_counter!(
        LEASES_LOST,
        "Work given up because another worker took its lease over, by work (file or chunk)"
    );
    describe_counter!(
        RESULTS_WRITTEN,
        "Result rows written to the database (rate() gives results per second)"
    );
    describe_gauge!(
        EVENT_STREAMS_OPEN,
        "Event streams (GET /events, GET /files/{id}/events) open on this api instance"
    );
    describe_counter!(
        ICON_OBJECTS,
        "Icon images kept, by outcome: written (a new S3 object) or reused (already stored)"
    );
    describe_counter!(
        SNS_PUBLISH_BATCHES,
        "PublishBatch calls the api made with new files' events (up to 10 events each)"
    );
    describe_counter!(
        SNS_EVENTS_PUBLISHED,
        "New files' events SNS took, over all PublishBatch calls"
    );
}

/// The api answered a request. `route` is the matched route template (`/files/{id}`), `None`
/// when no route matched; the raw path is never a label. The method is one of the standard
/// ones or `other`.
pub fn http_request(method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let route = route.unwrap_or("unmatched").to_owned();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route).record(elapsed);
}

/// A client may send any method name; only the standard ones become label values.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|standard| *standard == method)
        .unwrap_or("other")
}

/// Where the api's time goes, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiPhase {
    /// Looking up an API key in the database (a connection, of the read pool for `GET`, then
    /// one query): keys found in the api's key cache (`API_KEY_CACHE_SECS`) are not counted.
    Auth,
    /// Counting an uploading client's files in flight.
    InFlightCount,
    /// Receiving an upload and storing it in S3 (`PutObject`, or a multipart upload).
    ReceiveAndStore,
    /// Recording the stored file PENDING: the transaction of its `files` row, commit included.
    Record,
    /// Announcing the file: its event waiting for a batch, the batch's `PublishBatch` call and
    /// the recording of it ([`Self::MarkPublished`]).
    Publish,
    /// Recording that a batch of events was published (one update per batch).
    MarkPublished,
    /// The queries of `GET /files` (read pool).
    ListQuery,
}

impl ApiPhase {
    fn label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::InFlightCount => "in_flight_count",
            Self::ReceiveAndStore => "receive_and_store",
            Self::Record => "record",
            Self::Publish => "publish",
            Self::MarkPublished => "mark_published",
            Self::ListQuery => "list_query",
        }
    }
}

/// Counts `took` against the api's `phase`.
pub fn api_phase(phase: ApiPhase, took: Duration) {
    histogram!(API_PHASE_DURATION, "phase" => phase.label()).record(took.as_secs_f64());
}

/// An event stream opened (`true`) or closed (`false`) on this api instance.
pub fn event_stream(opened: bool) {
    let streams = gauge!(EVENT_STREAMS_OPEN);
    if opened {
        streams.increment(1.0);
    } else {
        streams.decrement(1.0);
    }
}

/// A file reached a terminal status; call it where the status is written, once per file.
pub fn file_finished(status: FileStatus) {
    // Lower case, as Prometheus labels usually are. A status that is not terminal would be a
    // caller's mistake, kept visible rather than dropped.
    let status = status.as_str().to_ascii_lowercase();
    counter!(FILES_FINISHED, "status" => status).increment(1);
}

/// The resolver answered a domain after `took`: `failure` is `None` when an icon was found,
/// else the failure's category (`dns`, `timeout`, …).
pub fn domain_resolved(failure: Option<&'static str>, took: Duration) {
    let outcome = outcome_label(failure.is_none());
    counter!(DOMAINS_RESOLVED, "outcome" => outcome, "category" => failure.unwrap_or("none"))
        .increment(1);
    histogram!(DOMAIN_RESOLUTION_DURATION, "outcome" => outcome).record(took);
}

/// An entry that is no domain was answered at once, failed with `invalid_domain`; it counts
/// among the domains answered, not in the resolution time.
pub fn invalid_entry() {
    counter!(DOMAINS_RESOLVED, "outcome" => outcome_label(false), "category" => "invalid_domain")
        .increment(1);
}

/// A domain was answered from the cache: `found` when the cached answer is an icon.
pub fn cache_hit(found: bool) {
    counter!(CACHE_HITS, "outcome" => outcome_label(found)).increment(1);
}

/// The `outcome` label: the result's status as the API spells it.
fn outcome_label(found: bool) -> &'static str {
    let status = if found {
        ResultStatus::Success
    } else {
        ResultStatus::Failed
    };
    status.as_str()
}

/// Which of the worker's two queues a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    /// The file-processing queue (file and chunk events).
    Main,
    /// Its dead-letter queue.
    DeadLetter,
}

impl QueueName {
    fn label(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::DeadLetter => "dlq",
        }
    }
}

/// `count` messages were received from `queue` (a long poll that returns none adds 0).
pub fn messages_received(queue: QueueName, count: usize) {
    counter!(SQS_MESSAGES_RECEIVED, "queue" => queue.label())
        .increment(u64::try_from(count).unwrap_or(u64::MAX));
}

/// A handled message was deleted from `queue`.
pub fn message_deleted(queue: QueueName) {
    counter!(SQS_MESSAGES_DELETED, "queue" => queue.label()).increment(1);
}

/// A heartbeat extended a running message's visibility.
pub fn visibility_extended() {
    counter!(SQS_VISIBILITY_EXTENSIONS).increment(1);
}

/// What a lease is held on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOn {
    /// A whole file.
    File,
    /// One chunk of a large file.
    Chunk,
}

impl LeaseOn {
    fn label(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Chunk => "chunk",
        }
    }
}

/// The worker took a lease.
pub fn lease_taken(on: LeaseOn) {
    counter!(LEASES_TAKEN, "work" => on.label()).increment(1);
}

/// The worker found, when finishing, that another worker had taken its lease over.
pub fn lease_lost(on: LeaseOn) {
    counter!(LEASES_LOST, "work" => on.label()).increment(1);
}

/// `rows` result rows were written (rows already recorded, skipped on conflict, do not count).
pub fn results_written(rows: u64) {
    counter!(RESULTS_WRITTEN).increment(rows);
}

/// An icon image was kept: `written` when it became a new S3 object, else it was already
/// stored (by any domain, file or client) and reused.
pub fn icon_object(written: bool) {
    let outcome = if written { "written" } else { "reused" };
    counter!(ICON_OBJECTS, "outcome" => outcome).increment(1);
}

/// The api made one `PublishBatch` call, and SNS took `published` of its events.
pub fn publish_batch(published: usize) {
    counter!(SNS_PUBLISH_BATCHES).increment(1);
    counter!(SNS_EVENTS_PUBLISHED).increment(published as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_become_labels() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("X-FORGED-1234"), "other");
    }

    #[test]
    fn recorded_events_appear_in_the_text_format_with_their_descriptions() {
        install();
        file_finished(FileStatus::Completed);
        domain_resolved(Some("dns"), Duration::from_millis(30));
        http_request("GET", None, 404, Duration::from_millis(2));
        let text = render();
        assert!(
            text.contains("# TYPE favicon_files_finished_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP favicon_files_finished_total Files that reached"),
            "{text}"
        );
        assert!(
            text.contains(r#"favicon_files_finished_total{status="completed"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"favicon_domains_resolved_total{outcome="failed",category="dns"}"#),
            "{text}"
        );
        // A histogram with buckets, not a summary.
        assert!(
            text.contains(
                r#"favicon_domain_resolution_seconds_bucket{outcome="failed",le="0.05"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"favicon_http_requests_total{method="GET",route="unmatched",status="404"}"#
            ),
            "{text}"
        );
    }
}
