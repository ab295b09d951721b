//! Reading files and results: lookups, listing, results pages, CSV download; and what every
//! answer carries: JSON errors, request ids, nothing internal.

use sea_orm::ConnectionTrait;
use serde_json::Value;

use test_support::TestStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_listed_newest_first_by_status_with_pagination() {
    let app = TestStack::spawn().await;
    let first = app.upload_domains(&["a.example.com"]).await;
    let second = app.upload_domains(&["b.example.com"]).await;
    let third = app.upload_domains(&["c.example.com"]).await;
    for id in [&first, &second, &third] {
        app.wait_until_terminal(id).await;
    }

    let (status, page) = app.get_json("/files?status=completed&page=1&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 3);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [third.as_str(), second.as_str()]);
    let (_, page2) = app.get_json("/files?status=COMPLETED&page=2&limit=2").await;
    assert_eq!(page2["items"][0]["id"], first.as_str());
    assert_eq!(page2["total"], 3);
    // A page past the end is empty and still tells how many there are.
    let (status, past_the_end) = app.get_json("/files?status=COMPLETED&page=3&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(past_the_end["items"], serde_json::json!([]));
    assert_eq!(past_the_end["total"], 3);
    let (_, all) = app.get_json("/files?limit=1").await;
    assert_eq!(all["total"], 3);
    assert_eq!(all["items"][0]["id"], third.as_str());
    let (_, pending) = app.get_json("/files?status=PENDING").await;
    assert_eq!(pending["total"], 0);

    for bad in [
        "/files?status=DONE",
        "/files?limit=0",
        "/files?limit=101",
        "/files?page=0",
        "/files?page=x",
        "/files?page=9223372036854775808",
    ] {
        let (status, body) = app.get_json(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["code"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_paged_in_file_order_and_downloadable_as_csv() {
    let app = TestStack::spawn().await;
    let id = app
        .upload_domains(&[
            "a.example.com",
            "missing.example.com",
            "=cmd|' /C calc'!A0",
            "b.example.com",
            "c.example.com",
        ])
        .await;
    let file = app.wait_until_terminal(&id).await;
    assert_eq!(file["status"], "COMPLETED");
    assert_eq!(file["progress"]["total"], 5);

    let (status, page) = app
        .get_json(&format!("/files/{id}/results?page=2&per_page=2"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 5);
    let domains: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["=cmd|' /C calc'!A0", "b.example.com"]);
    let (_, failed) = app
        .get_json(&format!("/files/{id}/results?status=failed"))
        .await;
    assert_eq!(failed["total"], 2);
    assert!(
        failed["items"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("http_status"),
        "{failed}"
    );
    assert!(
        failed["items"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid_domain"),
        "{failed}"
    );
    let (_, ok) = app
        .get_json(&format!(
            "/files/{id}/results?status=success&per_page=1&page=3"
        ))
        .await;
    assert_eq!(ok["items"][0]["domain"], "c.example.com");
    assert_eq!(
        ok["items"][0]["favicon_url"],
        "http://c.example.com/favicon.ico"
    );
    for bad in [
        "per_page=0",
        "per_page=1001",
        "page=0",
        "page=9223372036854775807",
        "status=failed&page=9223372036854775807",
        "status=maybe",
    ] {
        let (status, _) = app.get_json(&format!("/files/{id}/results?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }

    let response = app
        .get(&app.api_key, &format!("/files/{id}/download"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"domains-results.csv\""
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "domain,favicon_url,status,format,width,height,bytes,source,error_category,error,tries,icon_url"
    );
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(
        lines[1].starts_with(
            "a.example.com,http://a.example.com/favicon.ico,success,ico,16,16,30,fallback,,,"
        ),
        "{csv}"
    );
    assert!(
        lines[3].starts_with("'=cmd|' /C calc'!A0,,failed,"),
        "formula escaped: {csv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_are_404_and_400() {
    let app = TestStack::spawn().await;
    let unknown = uuid::Uuid::now_v7();
    for path in ["", "/results", "/download", "/source"] {
        let (status, body) = app.get_json(&format!("/files/{unknown}{path}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
        let (status, body) = app.get_json(&format!("/files/not-a-uuid{path}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_path")),
            "{path}"
        );
    }
    let (status, _): (u16, Value) = app.get_json(&format!("/jobs/{unknown}")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_answer_json_errors() {
    let app = TestStack::spawn_api_only(test_support::isolated_settings(None).await).await;
    let (status, body) = app.get_json("/no/such/endpoint").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(body["error"]["message"], "no endpoint at /no/such/endpoint");

    let response = app
        .http
        .delete(format!("{}/files", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET"), "Allow: {allow}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_kept_only_when_they_are_short_safe_tokens() {
    let app = TestStack::spawn_api_only(test_support::isolated_settings(None).await).await;
    let request_id = |sent: Option<&str>, path: &'static str| {
        let mut request = app.http.get(format!("{}{path}", app.address));
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        async move {
            let response = request.send().await.unwrap();
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };

    for kept in ["abc-123_X.y", &"a".repeat(64)] {
        assert_eq!(request_id(Some(kept), "/health").await, kept);
        assert_eq!(
            request_id(Some(kept), "/files").await,
            kept,
            "on errors too"
        );
    }
    for replaced in [
        "forged\" level=ERROR msg=\"admin logged in",
        "two words",
        &"a".repeat(65),
        "",
    ] {
        let returned = request_id(Some(replaced), "/health").await;
        assert_ne!(returned, replaced);
        assert!(uuid::Uuid::parse_str(&returned).is_ok(), "{returned}");
    }
    assert!(uuid::Uuid::parse_str(&request_id(None, "/health").await).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_opaque() {
    let app = TestStack::spawn_api_only(test_support::isolated_settings(None).await).await;
    let id = app.upload_domains(&["a.example.com"]).await;
    // Every query on files now fails inside the database driver.
    app.db
        .execute_unprepared("ALTER TABLE files RENAME TO files_gone")
        .await
        .unwrap();

    let mut responses = vec![
        app.get(&app.api_key, "/files").await,
        app.get(&app.api_key, &format!("/files/{id}")).await,
        app.get(&app.api_key, &format!("/files/{id}/results")).await,
        app.upload("d.csv", "text/csv", b"a.example.com\n".to_vec())
            .await,
    ];
    responses.push(
        app.http
            .post(format!("{}/jobs", app.address))
            .bearer_auth(&app.api_key)
            .json(&serde_json::json!({"domains": ["a.example.com"]}))
            .send()
            .await
            .unwrap(),
    );
    for response in responses {
        let url = response.url().path().to_owned();
        assert_eq!(response.status(), 500, "{url}");
        let text = response.text().await.unwrap();
        assert_eq!(
            text, r#"{"error":{"code":"internal","message":"internal server error"}}"#,
            "{url}"
        );
    }
    app.db
        .execute_unprepared("ALTER TABLE files_gone RENAME TO files")
        .await
        .unwrap();
    let (status, _) = app.get_json("/files").await;
    assert_eq!(status, 200);
}
