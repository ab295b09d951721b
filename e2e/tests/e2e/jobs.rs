//! `/jobs`: a JSON list of domains through the same pipeline.

use serde_json::json;

use test_support::TestStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_through_the_pipeline_and_reports_progress() {
    let app = TestStack::spawn().await;

    let (status, accepted) = app
        .post_job(&json!({"domains": ["a.example.com", "missing.example.com", "A.example.com"]}))
        .await;

    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "processing");
    let id = accepted["job_id"].as_str().unwrap();
    app.wait_until_terminal(id).await;
    let (status, job) = app.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        job,
        json!({"job_id": id, "status": "completed", "progress": 100.0, "total": 2, "completed": 1, "failed": 1, "error": null})
    );
    let (_, results) = app
        .get_json(&format!("/jobs/{id}/results?per_page=1&page=2"))
        .await;
    assert_eq!(results["items"][0]["domain"], "missing.example.com");
    let csv = app
        .get(&app.api_key, &format!("/jobs/{id}/download"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_are_refused() {
    let app = TestStack::spawn().await;
    let (status, body) = app.post_job(&json!({"domains": []})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("empty_job"))
    );
    let (status, body) = app.post_job(&json!({"domains": "a.com"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    // The body is an object with a list of strings: a bare array is not read as one.
    for (bad, message) in [
        (
            json!([null, ["x"]]),
            "the body must be a JSON object such as {\"domains\": [\"example.com\"]}, not an array",
        ),
        (
            json!("x"),
            "the body must be a JSON object such as {\"domains\": [\"example.com\"]}, not a string",
        ),
        (json!({}), "domains is required: a list of domains or URLs"),
        (
            json!({"domains": ["a.com"], "client_id": 7}),
            "client_id must be a string, not a number",
        ),
    ] {
        let (status, body) = app.post_job(&bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_json")),
            "{bad}"
        );
        assert_eq!(body["error"]["message"], message);
    }
    for (bad, message) in [
        (
            json!({"domains": ["a.com", null, 1]}),
            "domains[1] is null; every entry must be a string",
        ),
        (
            json!({"domains": [["x"]]}),
            "domains[0] is an array; every entry must be a string",
        ),
    ] {
        let (status, body) = app.post_job(&bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_entry")),
            "{bad}"
        );
        assert_eq!(body["error"]["message"], message);
    }
    let (_, listed) = app.get_json("/files").await;
    assert_eq!(listed["total"], 0, "nothing refused was recorded");

    let (status, body) = app
        .post_job(&json!({"client_id": "someone-else", "domains": ["a.com"]}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = app
        .post_job(&json!({"client_id": "test-client", "domains": ["a.com"]}))
        .await;
    assert_eq!(status, 202);
    let response = app
        .http
        .post(format!("{}/jobs", app.address))
        .bearer_auth(&app.api_key)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_may_name_itself_by_its_uuid_in_any_case() {
    let app = TestStack::spawn_api_only(test_support::isolated_settings(None).await).await;
    let own = <entity::clients::Entity as sea_orm::EntityTrait>::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    for claimed in [
        own.to_string(),
        own.to_string().to_uppercase(),
        own.simple().to_string(),
        format!("{{{own}}}"),
    ] {
        let (status, body) = app
            .post_job(&json!({"client_id": claimed, "domains": ["a.com"]}))
            .await;
        assert_eq!(status, 202, "{claimed}: {body}");
    }
    let (status, _) = app
        .post_job(&json!({"client_id": uuid::Uuid::now_v7().to_string().to_uppercase(), "domains": ["a.com"]}))
        .await;
    assert_eq!(status, 403);

    crate::limits::assert_documented(&app, "post", "/jobs", 422).await;
}
