//! `GET /metrics` of the api and the worker after files go through the pipeline.
//!
//! A test binary of its own, unlike the other end-to-end tests: the metrics recorder is one
//! per process, so only here, with no other test running beside it, can the counts be exact.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use test_support::TestStack;

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// Scrapes `url` until every series has its expected value (the message is deleted just
/// after the file completes), or fails with what differs.
async fn wait_for_samples(http: &reqwest::Client, url: &str, expected: &[(&str, f64)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(http, url).await;
        let wrong: Vec<_> = expected
            .iter()
            .filter(|(series, value)| sample(&text, series) != Some(*value))
            .map(|(series, value)| {
                format!("{series}: {:?}, expected {value}", sample(&text, series))
            })
            .collect();
        if wrong.is_empty() {
            return text;
        }
        assert!(Instant::now() < deadline, "{wrong:#?}\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_files_complete_the_api_and_worker_metrics_count_them() {
    let icons = test_support::IconServer::start().await;
    let settings = test_support::isolated_settings(Some(icons.addr)).await;
    let app = TestStack::spawn_api_only(settings).await;
    let worker: SocketAddr = app
        .start_worker()
        .await
        .expect("the worker serves /metrics");
    let (api_metrics, worker_metrics) = (
        format!("{}/metrics", app.address),
        format!("http://{worker}/metrics"),
    );
    // One domain with an icon, one whose site answers 404, one entry that is no domain.
    let csv = "domain\nexample.com\nmissing.example.org\nnot a domain\n";

    let first = app
        .upload("a.csv", "text/csv", csv.as_bytes().to_vec())
        .await;
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let file = app.wait_until_terminal(first["id"].as_str().unwrap()).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");

    let text = wait_for_samples(
        &app.http,
        &worker_metrics,
        &[
            (r#"favicon_files_finished_total{status="completed"}"#, 1.0),
            (
                r#"favicon_domains_resolved_total{outcome="success",category="none"}"#,
                1.0,
            ),
            (
                r#"favicon_domains_resolved_total{outcome="failed",category="http_status"}"#,
                1.0,
            ),
            (
                r#"favicon_domains_resolved_total{outcome="failed",category="invalid_domain"}"#,
                1.0,
            ),
            (
                r#"favicon_domain_resolution_seconds_count{outcome="success"}"#,
                1.0,
            ),
            (
                r#"favicon_domain_resolution_seconds_count{outcome="failed"}"#,
                1.0,
            ),
            ("favicon_results_written_total", 3.0),
            (r#"favicon_leases_taken_total{work="file"}"#, 1.0),
            (r#"favicon_sqs_messages_received_total{queue="main"}"#, 1.0),
            (r#"favicon_sqs_messages_deleted_total{queue="main"}"#, 1.0),
        ],
    )
    .await;
    assert_eq!(
        sample(&text, r#"favicon_files_finished_total{status="failed"}"#),
        None
    );
    assert!(!text.contains("favicon_cache_hits_total{"), "{text}");
    assert!(
        !text.contains("example.com"),
        "no domain is a label: {text}"
    );

    // The same domains again: the icon and the 404 are answered from the cache.
    let second = app
        .upload("b.csv", "text/csv", csv.as_bytes().to_vec())
        .await;
    assert_eq!(second.status(), 202);
    let second: serde_json::Value = second.json().await.unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    let file = app.wait_until_terminal(&second_id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    let text = wait_for_samples(
        &app.http,
        &worker_metrics,
        &[
            (r#"favicon_files_finished_total{status="completed"}"#, 2.0),
            (r#"favicon_cache_hits_total{outcome="success"}"#, 1.0),
            (r#"favicon_cache_hits_total{outcome="failed"}"#, 1.0),
            (
                r#"favicon_domains_resolved_total{outcome="success",category="none"}"#,
                1.0,
            ),
            (
                r#"favicon_domains_resolved_total{outcome="failed",category="invalid_domain"}"#,
                2.0,
            ),
            ("favicon_results_written_total", 6.0),
            (r#"favicon_sqs_messages_deleted_total{queue="main"}"#, 2.0),
        ],
    )
    .await;
    assert!(
        text.contains("# TYPE favicon_results_written_total counter"),
        "{text}"
    );

    // The api counted both uploads by route template and status, and the polling by template:
    // `/files/{id}`, never the file's id.
    let text = scrape(&app.http, &api_metrics).await;
    assert_eq!(
        sample(
            &text,
            r#"favicon_http_requests_total{method="POST",route="/files/upload",status="202"}"#
        ),
        Some(2.0),
        "{text}"
    );
    // Each upload's event went out when it was accepted, alone: nothing else was uploading.
    assert_eq!(
        sample(&text, "favicon_sns_events_published_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "favicon_sns_publish_batches_total"),
        Some(2.0),
        "{text}"
    );
    let polls = sample(
        &text,
        r#"favicon_http_requests_total{method="GET",route="/files/{id}",status="200"}"#,
    );
    assert!(polls.is_some_and(|polls| polls >= 2.0), "{text}");
    assert!(!text.contains(&second_id), "no path is a label: {text}");
    assert!(
        text.contains(
            r#"favicon_http_request_duration_seconds_bucket{method="POST",route="/files/upload",le="+Inf"} 2"#
        ),
        "{text}"
    );
    // A path no route matches is one series, whatever the path.
    let unknown = app
        .http
        .get(format!("{}/no/such/{}", app.address, second_id))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let text = scrape(&app.http, &api_metrics).await;
    assert_eq!(
        sample(
            &text,
            r#"favicon_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
}
