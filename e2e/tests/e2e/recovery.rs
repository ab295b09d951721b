//! Outages: nothing accepted is lost (a file whose SNS publish failed is published again
//! later), and an upload S3 cannot store is refused with a 503 the client can retry.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use test_support::TestStack;

use crate::limits::assert_documented;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_publish_failed_is_processed_after_recovery() {
    let icons = test_support::IconServer::start().await.addr;
    let good = test_support::isolated_settings(Some(icons)).await;
    let mut broken = good.clone();
    broken.aws.topic_arn = format!("{}-missing", good.aws.topic_arn);
    let app = TestStack::spawn_with(broken).await;

    let id = app
        .upload_domains(&["a.example.com", "b.example.com"])
        .await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, file) = app.get_json(&format!("/files/{id}")).await;
    assert_eq!(file["status"], "PENDING", "nothing was announced: {file}");

    let mut recovered = good;
    recovered.api.republish_after = Duration::from_millis(500);
    let second_api = api::Application::build(recovered.api_config())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(second_api.run_until(stop.clone()));

    let file = app.wait_until_terminal(&id).await;
    stop.cancel();
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["progress"]["succeeded"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_during_an_upload_answers_503_and_records_nothing() {
    let mut settings =
        test_support::isolated_settings(Some(test_support::IconServer::start().await.addr)).await;
    let proxy = test_support::FaultProxy::in_front_of(&test_support::aws::endpoint()).await;
    settings.aws.connection.endpoint_override = Some(proxy.url());
    settings.api.max_upload_bytes = 8 * 1024 * 1024;
    let app = TestStack::spawn_api_only(settings).await;

    proxy.down();
    let small = b"domain\na.example.com\n".to_vec();
    // Larger than a part: S3 is first needed to start a multipart upload.
    let large: String = (0..300_000)
        .map(|i| format!("host{i}.example.com\n"))
        .collect();
    for file in [small.clone(), large.into_bytes()] {
        let response = app.upload("d.csv", "text/csv", file).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("retry in 5 s"), "{message}");
    }
    let (status, body) = app
        .post_job(&serde_json::json!({"domains": ["a.example.com"]}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("storage_unavailable"))
    );
    let (_, listed) = app.get_json("/files").await;
    assert_eq!(listed["total"], 0, "nothing was recorded: {listed}");

    proxy.up();
    let response = app.upload("d.csv", "text/csv", small).await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    app.start_worker().await;
    let file = app.wait_until_terminal(body["id"].as_str().unwrap()).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");

    assert_documented(&app, "post", "/files/upload", 503).await;
    assert_documented(&app, "post", "/jobs", 503).await;
}
