//! The walking skeleton: a file goes from upload through S3, SNS and SQS to a terminal status.

use test_support::TestStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_csv_flows_through_the_pipeline_to_completed() {
    let app = TestStack::spawn().await;
    let csv = "domain\nexample.com\nhttps://Example.com/path\nmissing.example.org\nnot a domain\n";

    let response = app
        .upload("domains.csv", "text/csv", csv.as_bytes().to_vec())
        .await;

    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["file_type"], "csv");
    assert_eq!(body["original_name"], "domains.csv");
    let id = body["id"].as_str().unwrap();

    let stored = app
        .aws
        .s3
        .get_object()
        .bucket(&app.settings.aws.bucket)
        .key(format!("uploads/{id}/domains.csv"))
        .send()
        .await
        .expect("the upload is stored in S3");
    assert_eq!(
        stored.body.collect().await.unwrap().into_bytes().as_ref(),
        csv.as_bytes()
    );

    let file = app.wait_until_terminal(id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(
        file["progress"]["total"], 3,
        "duplicates count once: {file}"
    );
    assert_eq!(file["progress"]["succeeded"], 1, "{file}");
    assert_eq!(file["progress"]["failed"], 2, "{file}");
    assert_eq!(file["progress"]["percent"], 100.0);
    assert!(file["processed_at"].is_string());

    let results = app.all_results(id).await;
    let summary: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["domain"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("example.com", "success"),
            ("missing.example.org", "failed"),
            ("not a domain", "failed"),
        ]
    );
    assert_eq!(
        results[0]["favicon_url"], "http://example.com/favicon.ico",
        "{results:?}"
    );
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("http_status: "),
        "{results:?}"
    );
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid_domain: "),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_file_completes_with_its_distinct_domains() {
    let app = TestStack::spawn().await;
    let json = r#"{"domains": ["a.example.com", "B.example.com.", "missing.example.net", "a.example.com", "bücher.de"]}"#;

    let response = app
        .upload("list.json", "application/json", json.as_bytes().to_vec())
        .await;

    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["file_type"], "json");
    let file = app.wait_until_terminal(body["id"].as_str().unwrap()).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["progress"]["total"], 4, "{file}");
    assert_eq!(file["progress"]["succeeded"], 3, "{file}");
    assert_eq!(file["progress"]["failed"], 1, "{file}");
    let results = app.all_results(body["id"].as_str().unwrap()).await;
    let domains: Vec<&str> = results
        .iter()
        .map(|r| r["domain"].as_str().unwrap())
        .collect();
    assert_eq!(
        domains,
        [
            "a.example.com",
            "b.example.com",
            "missing.example.net",
            "xn--bcher-kva.de"
        ],
        "normalised, in order of first appearance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_with_a_named_column_uses_that_column() {
    let app = TestStack::spawn().await;
    let csv = "rank,Website,notes\n1,shop.example.com,a\n2,HTTPS://user:pw@Blog.Example.com:8443/x?y#z,b\n3,,c\n";

    let id = {
        let response = app
            .upload("top.csv", "text/csv", csv.as_bytes().to_vec())
            .await;
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    };

    let file = app.wait_until_terminal(&id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    let results = app.all_results(&id).await;
    let found: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["domain"].as_str().unwrap(),
                r["favicon_url"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("shop.example.com", "http://shop.example.com/favicon.ico"),
            ("blog.example.com", "http://blog.example.com/favicon.ico"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_file_ends_failed_with_the_line_named() {
    let app = TestStack::spawn().await;
    let json = "[\"a.example.com\",\n \"b.example.com\"\n";

    let response = app
        .upload("broken.json", "application/json", json.as_bytes().to_vec())
        .await;

    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    let file = app.wait_until_terminal(body["id"].as_str().unwrap()).await;
    assert_eq!(file["status"], "FAILED", "{file}");
    let message = file["error_message"].as_str().unwrap();
    assert!(message.contains("malformed JSON at line 3"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn favicons_on_private_addresses_are_blocked_by_default() {
    let icons = test_support::IconServer::start().await.addr;
    let mut settings = test_support::isolated_settings(Some(icons)).await;
    settings.resolver.dns_override =
        vec![("intranet.example.com".to_owned(), [127, 0, 0, 1].into())];
    let app = TestStack::spawn_with(settings).await;

    let id = app.upload_domains(&["intranet.example.com"]).await;

    let file = app.wait_until_terminal(&id).await;
    assert_eq!(file["progress"]["failed"], 1, "{file}");
    let (_, results) = app.get_json(&format!("/files/{id}/results")).await;
    let error = results["items"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("blocked: "), "{error}");
    assert_eq!(results["items"][0]["tries"], 1, "not retried: {results}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_file_over_the_domain_cap_fails_with_a_clear_reason() {
    let icons = test_support::IconServer::start().await.addr;
    let mut settings = test_support::isolated_settings(Some(icons)).await;
    settings.limits.max_domains_per_file = 3;
    let app = TestStack::spawn_with(settings).await;

    let id = app
        .upload_domains(&[
            "a.example.com",
            "b.example.com",
            "c.example.com",
            "d.example.com",
        ])
        .await;

    let file = app.wait_until_terminal(&id).await;
    assert_eq!(file["status"], "FAILED", "{file}");
    let reason = file["error_message"].as_str().unwrap();
    assert!(reason.starts_with("too_many_domains: "), "{reason}");
    assert!(reason.contains("at most 3"), "{reason}");
    assert_eq!(file["progress"]["total"], 0, "nothing was resolved: {file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsv_and_ndjson_files_are_read_by_their_own_rules() {
    let app = TestStack::spawn().await;
    let tsv =
        "rank\tdomain\tnotes, with a comma\n1\ttab.example.com\tx\n2\tsecond.example.com\ty\n";
    let ndjson = "{\"domain\":\"one.example.com\",\"rank\":1}\n\"two.example.com\"\n{\"name\":\"no domain here\"}\n";
    let cases = [
        ("export.tsv", "text/tab-separated-values", tsv, "tsv"),
        ("lines.ndjson", "application/x-ndjson", ndjson, "ndjson"),
    ];
    for (name, media_type, body, file_type) in cases {
        let response = app.upload(name, media_type, body.as_bytes().to_vec()).await;
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["file_type"], file_type, "{body}");
        let id = body["id"].as_str().unwrap();
        let file = app.wait_until_terminal(id).await;
        assert_eq!(file["status"], "COMPLETED", "{file}");
        let results = app.all_results(id).await;
        let found: Vec<(&str, &str)> = results
            .iter()
            .map(|r| (r["domain"].as_str().unwrap(), r["status"].as_str().unwrap()))
            .collect();
        let expected: &[(&str, &str)] = if file_type == "tsv" {
            &[
                ("tab.example.com", "success"),
                ("second.example.com", "success"),
            ]
        } else {
            &[
                ("one.example.com", "success"),
                ("two.example.com", "success"),
                ("{\"name\":\"no domain here\"}", "failed"),
            ]
        };
        assert_eq!(found, expected, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_files_progress_agrees_with_its_counters() {
    let app = TestStack::spawn().await;
    let response = app
        .upload(
            "broken.json",
            "application/json",
            b"[\"a.example.com\", \"b.example.com\" 17".to_vec(),
        )
        .await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();

    let file = app.wait_until_terminal(id).await;
    assert_eq!(file["status"], "FAILED", "{file}");
    assert!(file["error_message"].is_string(), "{file}");
    assert_eq!(
        file["progress"],
        serde_json::json!({"total": 0, "succeeded": 0, "failed": 0, "processed": 0, "percent": 0.0}),
        "nothing was processed, so nothing is done"
    );
    let (_, job) = app.get_json(&format!("/jobs/{id}")).await;
    assert_eq!(
        (&job["status"], &job["progress"]),
        (&"failed".into(), &0.0.into())
    );
}
