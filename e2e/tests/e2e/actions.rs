//! What owners do to their files after uploading: cancel, retry the failures, delete, and
//! download the results as JSON lines. Each action through the real api and a worker, with its
//! effect on status, counters, S3 objects, the queue and later reads.

use std::time::Duration;

use serde_json::Value;
use test_support::{ApiClient, FaultProxy, TestStack};

use crate::harness::{domains, messages_in, wait_until_drained};

/// `POST {path}` as `api`'s client: status and JSON body.
async fn post(api: &ApiClient, path: &str) -> (u16, Value) {
    let response = api
        .http
        .post(format!("{}{path}", api.address))
        .bearer_auth(&api.api_key)
        .send()
        .await
        .expect("POST request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `DELETE /files/{id}` as `api`'s client: status and body (empty on 204).
async fn delete(api: &ApiClient, file_id: &str) -> (u16, Value) {
    let response = api
        .http
        .delete(format!("{}/files/{file_id}", api.address))
        .bearer_auth(&api.api_key)
        .send()
        .await
        .expect("DELETE request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every key in the stack's bucket.
async fn bucket_keys(stack: &TestStack) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = stack
        .aws
        .s3
        .list_objects_v2()
        .bucket(&stack.settings.aws.bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list the bucket");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned)),
        );
    }
    keys
}

/// Results rows of `file_id` in the database, whatever the api says.
async fn result_rows(stack: &TestStack, file_id: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    stack
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            stack.db.get_database_backend(),
            format!("SELECT count(*) FROM results WHERE file_id = '{file_id}'"),
        ))
        .await
        .expect("count")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number")
}

/// Polls until the file is COMPLETED (it must not end otherwise).
async fn wait_completed(stack: &TestStack, file_id: &str) -> Value {
    let file = stack
        .api
        .wait_for_file(file_id, Duration::from_secs(120), "COMPLETED", |file| {
            file["status"] == "COMPLETED" || file["status"] == "FAILED"
        })
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    file
}

/// Result of each domain of a file, by domain.
async fn results_by_domain(
    stack: &TestStack,
    file_id: &str,
) -> std::collections::HashMap<String, Value> {
    stack
        .api
        .all_results(file_id)
        .await
        .into_iter()
        .map(|result| (result["domain"].as_str().unwrap().to_owned(), result))
        .collect()
}

/// A PENDING file is cancelled; a finished one is not (409 `not_cancellable`); a CANCELLED
/// file is neither retried nor cancelled again, and a worker started later deletes its message
/// without processing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_file_is_cancelled_and_never_processed() {
    let stack = TestStack::start(Duration::ZERO, |_| {}).await;
    let file_id = stack.api.upload_domains(&domains("cancelled", 5)).await;
    let (status, retried) = post(&stack.api, &format!("/files/{file_id}/retry")).await;
    assert_eq!(status, 409, "{retried}");
    assert_eq!(retried["error"]["code"], "not_retryable", "{retried}");

    let (status, cancelled) = post(&stack.api, &format!("/files/{file_id}/cancel")).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["id"], file_id.as_str());
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    assert!(cancelled["processed_at"].is_string(), "{cancelled}");
    let (status, again) = post(&stack.api, &format!("/files/{file_id}/cancel")).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "not_cancellable", "{again}");
    assert_eq!(
        again["error"]["message"],
        "the file is CANCELLED already; only a PENDING or PROCESSING file can be cancelled"
    );
    let (status, retried) = post(&stack.api, &format!("/files/{file_id}/retry")).await;
    assert_eq!(
        (status, &retried["error"]["code"]),
        (409, &Value::from("not_retryable"))
    );

    let (status, listed) = stack.api.get_json("/files?status=cancelled").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], file_id.as_str());

    stack.start_worker().await;
    wait_until_drained(&stack.aws.sqs, &stack.settings.aws.queue_url).await;
    let file = stack.api.file(&file_id).await;
    assert_eq!(file["status"], "CANCELLED", "{file}");
    assert_eq!(file["progress"]["processed"], 0, "{file}");
    assert_eq!(result_rows(&stack, &file_id).await, 0);

    // The worker is fine: a later file completes, and cannot be cancelled once COMPLETED.
    let later = stack.api.upload_domains(&domains("later", 3)).await;
    wait_completed(&stack, &later).await;
    let (status, refused) = post(&stack.api, &format!("/files/{later}/cancel")).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "the file is COMPLETED already; only a PENDING or PROCESSING file can be cancelled"
    );
    let (status, refused) = post(&stack.api, &format!("/files/{later}/retry")).await;
    assert_eq!(status, 409, "no failure to retry: {refused}");
    assert_eq!(refused["error"]["code"], "not_retryable");
}

/// A file cancelled while a worker resolves its chunks stops at the next batch: fewer results
/// than entries, the counters equal to the rows, status CANCELLED for good, and every message
/// of it (the file's and its chunks') deleted from the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_file_in_progress_stops_its_workers_at_the_next_batch() {
    let stack = TestStack::start(Duration::from_millis(200), |settings| {
        settings.worker.chunk_domains = 40;
        settings.worker.result_batch_size = 5;
        settings.worker.domain_concurrency = 4;
    })
    .await;
    let entries = domains("stopped", 200);
    let file_id = stack.api.upload_domains(&entries).await;
    stack.start_worker().await;
    stack
        .api
        .wait_for_file(&file_id, Duration::from_secs(60), "started", |file| {
            file["progress"]["succeeded"].as_u64() >= Some(10)
        })
        .await;
    let (status, cancelled) = post(&stack.api, &format!("/files/{file_id}/cancel")).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");

    wait_until_drained(&stack.aws.sqs, &stack.settings.aws.queue_url).await;
    assert_eq!(
        messages_in(&stack.aws.sqs, &stack.settings.aws.queue_url).await,
        0
    );
    let file = stack.api.file(&file_id).await;
    assert_eq!(file["status"], "CANCELLED", "{file}");
    let processed = file["progress"]["processed"].as_i64().unwrap();
    assert!(processed >= 10, "what was resolved stays: {file}");
    assert!(processed < 200, "the rest was never resolved: {file}");
    assert_eq!(
        result_rows(&stack, &file_id).await,
        processed,
        "counters equal the rows"
    );
    assert_eq!(
        stack.api.all_results(&file_id).await.len() as i64,
        processed
    );

    // The worker carries on with other files.
    let later = stack.api.upload_domains(&domains("after-cancel", 3)).await;
    wait_completed(&stack, &later).await;
    assert_eq!(stack.api.file(&file_id).await["status"], "CANCELLED");
}

/// A retry resolves again only the failed results (never entries that are no domain), without
/// the cache: the counters move from failed to succeeded, `tries` adds up, results that
/// succeeded are not fetched again, and a second retry takes only what still fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_resolves_only_the_failures_again() {
    let icons = test_support::IconServer::start().await;
    let site = FaultProxy::start(&icons.addr.to_string()).await;
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.resolver.connect_to = Some(site.addr);
    })
    .await;
    stack.start_worker().await;
    let good = domains("flaky", 4);
    let missing = domains("missing", 2);
    let mut entries: Vec<String> = good.iter().chain(&missing).cloned().collect();
    entries.push("not a domain".to_owned());

    // The sites are down: every entry fails.
    site.down();
    let file_id = stack.api.upload_domains(&entries).await;
    let file = wait_completed(&stack, &file_id).await;
    assert_eq!(file["progress"]["failed"], 7, "{file}");
    let before = results_by_domain(&stack, &file_id).await;

    // Up again: the retry resolves the six domains again, not the invalid entry.
    site.up();
    let (status, retried) = post(&stack.api, &format!("/files/{file_id}/retry")).await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["status"], "PROCESSING", "{retried}");
    assert_eq!(
        retried["progress"]["failed"], 7,
        "nothing moved yet: {retried}"
    );
    let file = wait_completed(&stack, &file_id).await;
    assert_eq!(file["progress"]["succeeded"], 4, "{file}");
    assert_eq!(file["progress"]["failed"], 3, "{file}");
    assert_eq!(file["progress"]["total"], 7, "{file}");
    assert_eq!(file["progress"]["percent"], 100.0, "{file}");
    let after = results_by_domain(&stack, &file_id).await;
    assert_eq!(after.len(), 7);
    for domain in &good {
        let (old, new) = (&before[domain], &after[domain]);
        assert_eq!(new["status"], "success", "{new}");
        assert_eq!(new["position"], old["position"]);
        assert!(
            new["tries"].as_i64() > old["tries"].as_i64(),
            "{old} -> {new}"
        );
        assert_eq!(new["from_cache"], false, "{new}");
    }
    for domain in &missing {
        let (old, new) = (&before[domain], &after[domain]);
        assert_eq!(new["status"], "failed", "{new}");
        assert_eq!(new["error_category"], "http_status", "{new}");
        assert!(
            new["tries"].as_i64() > old["tries"].as_i64(),
            "{old} -> {new}"
        );
    }
    assert_eq!(
        after["not a domain"], before["not a domain"],
        "never retried"
    );
    let (status, failures) = stack
        .api
        .get_json(&format!("/files/{file_id}/results?status=failed"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(failures["total"], 3, "{failures}");

    // A second retry takes only the two that still fail.
    let fetched = icons.requests_by_host();
    let (status, _) = post(&stack.api, &format!("/files/{file_id}/retry")).await;
    assert_eq!(status, 202);
    let file = wait_completed(&stack, &file_id).await;
    assert_eq!(file["progress"]["failed"], 3, "{file}");
    let refetched = icons.requests_by_host();
    for domain in &good {
        assert_eq!(
            refetched.get(domain),
            fetched.get(domain),
            "{domain} was fetched again"
        );
    }
    for domain in &missing {
        assert!(
            refetched.get(domain) > fetched.get(domain),
            "{domain} was not retried"
        );
    }
    wait_until_drained(&stack.aws.sqs, &stack.settings.aws.queue_url).await;
}

/// Deleting a file removes its row, results, chunks and S3 objects (the upload and its chunk
/// objects), never another file's objects nor the shared icons; its id then answers 404 to
/// every endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_file_removes_it_its_results_and_its_objects_only() {
    let stack = TestStack::start(Duration::ZERO, |settings| {
        settings.worker.chunk_domains = 10;
    })
    .await;
    stack.start_worker().await;
    let file_id = stack.api.upload_domains(&domains("deleted", 30)).await;
    let kept = stack.api.upload_domains(&domains("kept", 3)).await;
    wait_completed(&stack, &file_id).await;
    wait_completed(&stack, &kept).await;
    let bucket = &stack.settings.aws.bucket;
    stack
        .aws
        .s3
        .put_object()
        .bucket(bucket)
        .key("icons/shared.ico")
        .body(test_support::icons::ICO_BYTES.to_vec().into())
        .send()
        .await
        .expect("an icon");
    let (_, upload_key) = stack.object_of(&file_id).await;
    let (_, kept_key) = stack.object_of(&kept).await;
    let keys = bucket_keys(&stack).await;
    assert!(keys.contains(&upload_key), "{keys:?}");
    let chunk_prefix = format!("chunks/{file_id}/");
    assert_eq!(
        keys.iter()
            .filter(|key| key.starts_with(&chunk_prefix))
            .count(),
        3,
        "three chunk objects: {keys:?}"
    );
    assert_eq!(result_rows(&stack, &file_id).await, 30);

    let (status, body) = delete(&stack.api, &file_id).await;
    assert_eq!(status, 204, "{body}");
    let keys = bucket_keys(&stack).await;
    assert!(
        !keys.iter().any(|key| key.contains(&file_id)),
        "objects of the deleted file left: {keys:?}"
    );
    assert!(keys.contains(&kept_key), "another file's upload: {keys:?}");
    assert!(
        keys.contains(&"icons/shared.ico".to_owned()),
        "icons stay: {keys:?}"
    );
    assert_eq!(result_rows(&stack, &file_id).await, 0);

    for path in [
        format!("/files/{file_id}"),
        format!("/files/{file_id}/results"),
        format!("/files/{file_id}/download"),
        format!("/files/{file_id}/download?format=jsonl"),
        format!("/files/{file_id}/source"),
    ] {
        let (status, body) = stack.api.get_json(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    for action in ["cancel", "retry"] {
        let (status, _) = post(&stack.api, &format!("/files/{file_id}/{action}")).await;
        assert_eq!(status, 404, "{action}");
    }
    assert_eq!(delete(&stack.api, &file_id).await.0, 404, "deleted once");
    let (_, listed) = stack.api.get_json("/files").await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(stack.api.all_results(&kept).await.len(), 3);
}

/// A file deleted while a worker processes it is cancelled first; the worker drops it at its
/// next batch (deleting its message) and goes on with other files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_file_in_progress_leaves_the_worker_working() {
    let stack = TestStack::start(Duration::from_millis(200), |settings| {
        settings.worker.result_batch_size = 5;
        settings.worker.domain_concurrency = 4;
    })
    .await;
    stack.start_worker().await;
    let file_id = stack.api.upload_domains(&domains("vanishing", 100)).await;
    stack
        .api
        .wait_for_file(&file_id, Duration::from_secs(60), "started", |file| {
            file["progress"]["succeeded"].as_u64() >= Some(5)
        })
        .await;
    let (status, body) = delete(&stack.api, &file_id).await;
    assert_eq!(status, 204, "{body}");
    wait_until_drained(&stack.aws.sqs, &stack.settings.aws.queue_url).await;
    let (status, _) = stack.api.get_json(&format!("/files/{file_id}")).await;
    assert_eq!(status, 404);
    assert_eq!(result_rows(&stack, &file_id).await, 0);
    let later = stack.api.upload_domains(&domains("survivor", 3)).await;
    wait_completed(&stack, &later).await;
}

/// `?format=jsonl` streams one JSON object per result, the same objects as the results
/// endpoint; CSV stays the default and an unknown format is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jsonl_download_holds_the_results() {
    let stack = TestStack::spawn().await;
    let mut entries = domains("lines", 3);
    entries.push("missing-1.example.com".to_owned());
    entries.push("not a domain".to_owned());
    let file_id = stack.api.upload_domains(&entries).await;
    wait_completed(&stack, &file_id).await;

    let response = stack
        .api
        .get(
            &stack.api.api_key,
            &format!("/files/{file_id}/download?format=jsonl"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"domains-results.jsonl\""
    );
    let body = response.text().await.expect("body");
    assert!(body.ends_with('\n'), "every line ends: {body:?}");
    let lines: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines, stack.api.all_results(&file_id).await);
    assert_eq!(lines.len(), 5);

    let csv = stack
        .api
        .get(&stack.api.api_key, &format!("/files/{file_id}/download"))
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let (status, body) = stack
        .api
        .get_json(&format!("/files/{file_id}/download?format=xml"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_format", "{body}");
}

/// Another client's file is as absent as an unknown one for every new endpoint, and none of
/// them changes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_file_answers_404_to_every_action() {
    let stack = TestStack::start(Duration::ZERO, |_| {}).await;
    let file_id = stack.api.upload_domains(&domains("private", 2)).await;
    let other = stack.api.as_client(&stack.new_client_key("other").await);
    for action in ["cancel", "retry"] {
        let (status, body) = post(&other, &format!("/files/{file_id}/{action}")).await;
        assert_eq!(status, 404, "{action}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{action}: {body}");
    }
    let (status, body) = delete(&other, &file_id).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = other
        .get_json(&format!("/files/{file_id}/download?format=jsonl"))
        .await;
    assert_eq!(status, 404, "{body}");
    let file = stack.api.file(&file_id).await;
    assert_eq!(file["status"], "PENDING", "untouched: {file}");
    let (_, key) = stack.object_of(&file_id).await;
    assert!(bucket_keys(&stack).await.contains(&key));
}

/// The OpenAPI document lists the new endpoints with their answers, both download formats and
/// the CANCELLED status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_the_actions() {
    let stack = TestStack::start(Duration::ZERO, |_| {}).await;
    let (status, doc) = stack.api.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    for (path, method, statuses) in [
        ("/files/{id}/cancel", "post", &["200", "404", "409"][..]),
        (
            "/files/{id}/retry",
            "post",
            &["202", "404", "409", "503"][..],
        ),
        ("/files/{id}", "delete", &["204", "404", "503"][..]),
    ] {
        for status in statuses {
            assert!(
                doc["paths"][path][method]["responses"][*status].is_object(),
                "{method} {path} {status}"
            );
        }
    }
    let download = &doc["paths"]["/files/{id}/download"]["get"]["responses"]["200"]["content"];
    assert!(download["text/csv"].is_object(), "{download}");
    assert!(download["application/x-ndjson"].is_object(), "{download}");
    let statuses = &doc["components"]["schemas"]["FileStatus"]["enum"];
    assert!(
        statuses
            .as_array()
            .unwrap()
            .contains(&Value::from("CANCELLED")),
        "{statuses}"
    );
}
