//! API keys and tenancy: no key, a wrong key, and another client's files.

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_but_operations_needs_a_valid_key() {
    let app = TestApp::spawn().await;
    let id = uuid::Uuid::now_v7();
    let protected = [
        "/files".to_owned(),
        format!("/files/{id}"),
        format!("/files/{id}/results"),
        format!("/files/{id}/download"),
        format!("/files/{id}/source"),
        format!("/jobs/{id}"),
        format!("/jobs/{id}/results"),
        format!("/jobs/{id}/download"),
    ];
    for path in &protected {
        for key in ["", "fpk_wrong"] {
            let response = app.get(key, path).await;
            assert_eq!(response.status(), 401, "{path} with {key:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    let upload = app
        .http
        .post(format!("{}/files/upload", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 401);
    let job = app
        .http
        .post(format!("{}/jobs", app.address))
        .json(&serde_json::json!({"domains": ["a.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), 401);
    for open in ["/health", "/ready", "/openapi.json"] {
        assert_eq!(app.get("", open).await.status(), 200, "{open}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_never_sees_another_clients_files() {
    let app = TestApp::spawn().await;
    let id = app.upload_domains(&["a.example.com"]).await;
    app.wait_until_terminal(&id).await;
    let other = app.new_client_key("other-client").await;

    for path in ["", "/results", "/download", "/source"] {
        let (status, body) = app.get_json_as(&other, &format!("/files/{id}{path}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) = app.get_json_as(&other, &format!("/jobs/{id}")).await;
    assert_eq!(status, 404);
    let (_, listed) = app.get_json_as(&other, "/files").await;
    assert_eq!(listed["total"], 0);
    let (status, mine) = app.get_json(&format!("/files/{id}")).await;
    assert_eq!((status, mine["id"].as_str()), (200, Some(id.as_str())));
}
