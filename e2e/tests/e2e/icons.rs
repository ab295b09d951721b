//! The icons themselves (issue 15): stored once in S3 by content, served at any size from our
//! own endpoint, resolved on demand, with a letter fallback, and a ZIP of a file's icons. The
//! resolver is pointed at the web farm (`test_support::farm`), whose images are real and
//! identical for identical requests: `absolute-N.test` sites all link one 48x48 PNG on
//! `static.test`.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use test_support::{TestStack, farm::Farm, isolated_settings};

/// A stack (api and worker in this process) whose resolver reaches the farm, and the farm.
async fn farm_stack() -> (TestStack, Farm) {
    let farm = Farm::start().await;
    let mut settings = isolated_settings(Some(farm.addr)).await;
    settings.resolver.ca_cert = Some(farm.ca_cert_path().to_owned());
    settings.worker.domain_concurrency = 16;
    let stack = TestStack::spawn_with(settings).await;
    (stack, farm)
}

/// One number the stack's database answers.
async fn count(stack: &TestStack, sql: &str) -> i64 {
    stack
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            stack.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect(sql)
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number")
}

/// The keys of the icon objects in the stack's bucket.
async fn icon_objects(stack: &TestStack) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = stack
        .aws
        .s3
        .list_objects_v2()
        .bucket(&stack.settings.aws.bucket)
        .prefix("icons/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list the bucket");
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    keys
}

/// Uploads `domains`, waits until the file is COMPLETED, returns its id.
async fn resolved_file(stack: &TestStack, domains: &[String]) -> String {
    let id = stack.api.upload_domains(domains).await;
    let file = stack
        .api
        .wait_until_terminal_within(&id, Duration::from_secs(180))
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    id
}

fn hosts(scenario: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| test_support::farm::scenarios::host_name(scenario, n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_icon_shared_by_a_hundred_domains_is_stored_once() {
    let (stack, _farm) = farm_stack().await;
    let domains = hosts("absolute", 100);
    let id = resolved_file(&stack, &domains).await;

    let results = stack.api.all_results(&id).await;
    assert_eq!(results.len(), 100);
    for result in &results {
        assert_eq!(result["status"], "success", "{result}");
        let domain = result["domain"].as_str().unwrap();
        assert_eq!(result["icon_url"], format!("/icons/{domain}"), "{result}");
        assert!(
            result["favicon_url"]
                .as_str()
                .unwrap()
                .starts_with("https://static.test/abs/"),
            "{result}"
        );
    }
    let objects = icon_objects(&stack).await;
    assert_eq!(objects.len(), 1, "one object for the shared icon: {objects:?}");
    assert!(objects[0].starts_with("icons/sha256/"), "{objects:?}");
    assert_eq!(count(&stack, "SELECT count(*) FROM icons").await, 1);
    assert_eq!(
        count(&stack, "SELECT count(DISTINCT icon_hash) FROM results WHERE icon_hash IS NOT NULL").await,
        1
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
        100,
        "one resolution per domain"
    );
    let hash = objects[0].trim_start_matches("icons/sha256/");
    let object = stack
        .aws
        .s3
        .get_object()
        .bucket(&stack.settings.aws.bucket)
        .key(&objects[0])
        .send()
        .await
        .expect("the icon object");
    assert_eq!(object.content_type(), Some("image/png"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(store::icons::content_hash(&bytes), hash, "addressed by content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_domain_creates_no_new_object_and_no_new_resolution() {
    let (stack, farm) = farm_stack().await;
    let domains = vec!["relative-1.test".to_owned(), "sizes-1.test".to_owned()];
    resolved_file(&stack, &domains).await;
    let (objects, resolutions) = (
        icon_objects(&stack).await,
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
    );
    let requests = farm.total_requests();

    let other = stack.api.as_client(&stack.new_client_key("other").await);
    let id = other.upload_domains(&domains).await;
    assert_eq!(other.wait_until_terminal(&id).await["status"], "COMPLETED");
    let results = other.all_results(&id).await;
    for result in &results {
        assert_eq!(result["from_cache"], true, "{result}");
        assert!(result["icon_url"].is_string(), "{result}");
    }
    assert_eq!(farm.total_requests(), requests, "nothing fetched");
    assert_eq!(icon_objects(&stack).await, objects, "no new object");
    assert_eq!(
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
        resolutions,
        "no new resolution"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(DISTINCT resolution_id) FROM results WHERE icon_hash IS NOT NULL"
        )
        .await,
        2,
        "the copies point at the first resolutions"
    );
}
