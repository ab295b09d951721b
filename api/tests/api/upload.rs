//! `POST /files/upload`: what is accepted, and a clear JSON error for everything else.

use serde_json::Value;

use crate::helpers::TestApp;

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_clear_errors() {
    let app = TestApp::spawn().await;
    let limit = usize::try_from(app.settings.api.max_upload_bytes).unwrap();

    let too_large = format!("domain\n{}", "a.example.com\n".repeat(limit / 14 + 10));
    assert_eq!(
        error_of(
            app.upload("big.csv", "text/csv", too_large.into_bytes())
                .await
        )
        .await,
        (413, "payload_too_large".into())
    );
    assert_eq!(
        error_of(
            app.upload("logo.png", "image/png", b"\x89PNG\r\n\x1a\n....".to_vec())
                .await
        )
        .await,
        (415, "unsupported_media_type".into())
    );
    assert_eq!(
        error_of(
            app.upload("list.csv", "text/csv", b"a.com\0\0\x01binary".to_vec())
                .await
        )
        .await,
        (415, "unsupported_media_type".into())
    );
    assert_eq!(
        error_of(
            app.upload("list.json", "application/json", b"a.example.com".to_vec())
                .await
        )
        .await,
        (415, "unsupported_media_type".into())
    );
    assert_eq!(
        error_of(app.upload("empty.csv", "text/csv", Vec::new()).await).await,
        (400, "empty_file".into())
    );

    let wrong_field = reqwest::multipart::Form::new().text("other", "a.example.com");
    let response = app
        .http
        .post(format!("{}/files/upload", app.address))
        .bearer_auth(&app.api_key)
        .multipart(wrong_field)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (400, "missing_file".into()));

    let not_multipart = app
        .http
        .post(format!("{}/files/upload", app.address))
        .bearer_auth(&app.api_key)
        .body("a.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(not_multipart).await,
        (400, "invalid_multipart".into())
    );

    let broken = app
        .http
        .post(format!("{}/files/upload", app.address))
        .bearer_auth(&app.api_key)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\na.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(broken).await.0, 400);

    let (_, listed) = app.get_json("/files").await;
    assert_eq!(
        listed["total"], 0,
        "nothing rejected was recorded: {listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_stored_under_a_sanitised_key_and_announced() {
    let app = TestApp::spawn().await;

    let response = app
        .upload(
            "../../etc/evil name.csv",
            "text/csv",
            b"a.example.com\n".to_vec(),
        )
        .await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(body["original_name"], "../../etc/evil name.csv");
    let key = format!("uploads/{id}/evil_name.csv");
    app.aws
        .s3
        .head_object()
        .bucket(&app.settings.aws.bucket)
        .key(&key)
        .send()
        .await
        .expect("object under the sanitised key");

    let (status, source) = app.get_json(&format!("/files/{id}/source")).await;
    assert_eq!(status, 200);
    let original = reqwest::get(source["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(original.bytes().await.unwrap().as_ref(), b"a.example.com\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_part_upload_is_streamed_whole_to_s3() {
    let mut settings =
        test_support::isolated_settings(Some(test_support::IconServer::start().await.addr)).await;
    settings.api.max_upload_bytes = 8 * 1024 * 1024;
    let app = TestApp::spawn_with(settings).await;
    let csv: String = (0..300_000)
        .map(|i| format!("host{i}.example.com\n"))
        .collect();
    assert!(csv.len() > 5 * 1024 * 1024, "needs more than one S3 part");

    let response = app
        .upload("large.csv", "text/csv", csv.clone().into_bytes())
        .await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["size_bytes"], csv.len());
    let key = format!("uploads/{}/large.csv", body["id"].as_str().unwrap());
    let object = app
        .aws
        .s3
        .get_object()
        .bucket(&app.settings.aws.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().len(),
        csv.len()
    );
}
