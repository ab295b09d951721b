//! A domain resolved recently is answered from the database, across files and clients.

use std::time::Duration;

use crate::harness::{Stack, domains};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recently_resolved_domain_is_answered_without_fetching() {
    let stack = Stack::start(Duration::ZERO, |_| {}).await;
    let _worker = stack.spawn_worker("worker");
    let mut first = domains("cached", 5);
    first.push("missing-cached.example.com".to_owned());
    let id = stack.api.upload_domains(&first).await;
    assert_eq!(
        stack.api.wait_until_terminal(&id).await["status"],
        "COMPLETED"
    );
    let fetched = stack.icons.requests_by_host();

    // Another client uploads some of the same domains and a new one.
    let other = stack.api.as_client(&stack.new_client_key("other").await);
    let second = [
        first[0].clone(),
        first[5].clone(),
        "fresh.example.com".to_owned(),
    ];
    let id = other.upload_domains(&second).await;
    let file = other.wait_until_terminal(&id).await;

    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["progress"]["succeeded"], 2, "{file}");
    assert_eq!(file["progress"]["failed"], 1, "{file}");
    let results = other.all_results(&id).await;
    let summary: Vec<(&str, bool, i64)> = results
        .iter()
        .map(|r| {
            (
                r["domain"].as_str().unwrap_or_default(),
                r["from_cache"].as_bool().unwrap_or_default(),
                r["tries"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cached-0.example.com", true, 0),
            ("missing-cached.example.com", true, 0),
            ("fresh.example.com", false, 1),
        ]
    );
    assert_eq!(results[0]["icon"]["format"], "ico", "{results:?}");
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("http_status"),
        "a remembered failure keeps its reason: {results:?}"
    );
    let now = stack.icons.requests_by_host();
    for domain in &second[..2] {
        assert_eq!(
            now.get(domain),
            fetched.get(domain),
            "{domain} was fetched again"
        );
    }
    assert!(now.get("fresh.example.com").is_some_and(|n| *n > 0));
}
