//! Nothing accepted is lost: a file whose SNS publish failed is published again later.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_publish_failed_is_processed_after_recovery() {
    let icons = test_support::IconServer::start().await.addr;
    let good = test_support::isolated_settings(Some(icons)).await;
    let mut broken = good.clone();
    broken.aws.topic_arn = format!("{}-missing", good.aws.topic_arn);
    let app = TestApp::spawn_with(broken).await;

    let id = app
        .upload_domains(&["a.example.com", "b.example.com"])
        .await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, file) = app.get_json(&format!("/files/{id}")).await;
    assert_eq!(file["status"], "PENDING", "nothing was announced: {file}");

    let mut recovered = good;
    recovered.api.republish_after = Duration::from_millis(500);
    let second_api = api::Application::build(recovered).await.unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(second_api.run_until(stop.clone()));

    let file = app.wait_until_terminal(&id).await;
    stop.cancel();
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["progress"]["succeeded"], 2);
}
