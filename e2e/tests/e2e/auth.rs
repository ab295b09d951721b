//! API keys and tenancy: no key, a wrong key, many wrong keys, and another client's files.

use std::time::Duration;

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::Value;
use test_support::ApiClient;

use test_support::TestStack;

use crate::limits::assert_documented;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_but_operations_needs_a_valid_key() {
    let app = TestStack::spawn().await;
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
    let app = TestStack::spawn().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_limited_per_address_without_asking_the_database() {
    let mut settings = test_support::isolated_settings(None).await;
    settings.api.auth_failure_limit = 3;
    settings.api.auth_failure_window = Duration::from_secs(60);
    // Were a refused request to query the locked table below, it would end in a 408.
    settings.api.request_timeout = Duration::from_secs(2);
    let app = TestStack::spawn_api_only(settings).await;
    assert_eq!(app.get(&app.api_key, "/files").await.status(), 200);
    let fresh = app.new_client_key("fresh-client").await;
    // Well-formed, so checking it takes a query.
    let wrong = format!("fpk_{}", "0".repeat(64));

    for _ in 0..3 {
        assert_eq!(app.get(&wrong, "/files").await.status(), 401);
    }

    // Hold the clients table: any key lookup now waits for it.
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    for key in [wrong.as_str(), "fpk_malformed", fresh.as_str()] {
        let response = app.get(key, "/files").await;
        assert_eq!(response.status(), 429, "{key}");
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_auth_failures");
    }
    // Without a key there is nothing to look up: still a plain 401.
    assert_eq!(app.get("", "/files").await.status(), 401);
    lock.rollback().await.unwrap();

    // A key that authenticated before is still checked, and works.
    assert_eq!(app.get(&app.api_key, "/files").await.status(), 200);
    // Another address has its own allowance.
    let elsewhere = ApiClient {
        http: reqwest::Client::builder()
            .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap(),
        ..app.api.clone()
    };
    assert_eq!(elsewhere.get(&wrong, "/files").await.status(), 401);
    assert_eq!(elsewhere.get(&fresh, "/files").await.status(), 200);

    assert_documented(&app, "get", "/files", 429).await;
}
