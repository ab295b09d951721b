//! API keys and tenancy: no key, a wrong key, many wrong keys, another client's files, and
//! the cache of keys: answered without a query, forgotten on every instance when rotated.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
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

/// Waits until `instances` api processes listen for changes on the stack's database (their
/// `LISTEN` has returned), so that what they cache from now on is not cleared by their first
/// `Resync`, and a change committed from now on reaches them.
async fn wait_until_listening(app: &TestStack, instances: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listening = app
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND state = 'idle' \
                 AND query = 'LISTEN \"file_changes\"'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        if listening >= instances {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{listening} of {instances} api instances listen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_stops_working_on_every_instance_at_once_and_the_new_one_works() {
    let mut settings = test_support::isolated_settings(None).await;
    // Far longer than the test: only the database's notification can end the old key.
    settings.api.api_key_cache = Duration::from_secs(3600);
    let app = TestStack::spawn_api_only(settings).await;
    let second = app.start_another_api().await;
    wait_until_listening(&app, 2).await;
    let instances = [&app.api, &second];
    let (_, old_key) = app.new_client("rotating-client").await.unwrap();
    for instance in instances {
        // The second request of each is answered from the cache.
        for _ in 0..2 {
            assert_eq!(instance.get(&old_key, "/files").await.status(), 200);
        }
    }

    // As `api create-client rotating-client --rotate` does.
    let (_, new_key) = store::clients::create(&app.db, "rotating-client", true)
        .await
        .unwrap();
    let new_key = new_key.expose().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    for instance in instances {
        loop {
            let status = instance.get(&old_key, "/files").await.status();
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                Instant::now() < deadline,
                "the old key still works on {}",
                instance.address
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(instance.get(&new_key, "/files").await.status(), 200);
        assert_eq!(
            instance.get(&old_key, "/files").await.status(),
            401,
            "the old key is not cached again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_seen_recently_is_answered_without_a_query_unless_the_cache_is_off() {
    for cache_secs in [60, 0] {
        let mut settings = test_support::isolated_settings(None).await;
        settings.api.api_key_cache = Duration::from_secs(cache_secs);
        // A request that waits for the locked table below ends in a 408.
        settings.api.request_timeout = Duration::from_secs(2);
        let app = TestStack::spawn_api_only(settings).await;
        wait_until_listening(&app, 1).await;
        // Two tries, in case the listener's first `Resync` cleared the cache just after the
        // first request.
        let mut locked_status = 0;
        for _ in 0..2 {
            assert_eq!(app.get(&app.api_key, "/files").await.status(), 200);
            let lock = app.db.begin().await.unwrap();
            lock.execute_unprepared("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
                .await
                .unwrap();
            locked_status = app.get(&app.api_key, "/files").await.status().as_u16();
            lock.rollback().await.unwrap();
            if locked_status == 200 {
                break;
            }
        }
        let expected = if cache_secs == 0 { 408 } else { 200 };
        assert_eq!(locked_status, expected, "API_KEY_CACHE_SECS={cache_secs}");
    }
}
