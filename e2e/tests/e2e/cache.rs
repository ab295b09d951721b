//! A domain resolved recently is answered from the database, across files and clients.

use std::time::Duration;

use crate::harness::{domains, start_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recently_resolved_domain_is_answered_without_fetching() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    let _worker = stack.spawn_worker("worker");
    let mut first = domains("cached", 5);
    first.push("missing-cached.example.com".to_owned());
    let id = stack.api.upload_domains(&first).await;
    assert_eq!(
        stack.api.wait_until_terminal(&id).await["status"],
        "COMPLETED"
    );
    let fetched = stack.icons().requests_by_host();

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
    let now = stack.icons().requests_by_host();
    for domain in &second[..2] {
        assert_eq!(
            now.get(domain),
            fetched.get(domain),
            "{domain} was fetched again"
        );
    }
    assert!(now.get("fresh.example.com").is_some_and(|n| *n > 0));
}

/// What a file's result says: (domain, status, from the cache, tries).
fn summary(results: &[serde_json::Value]) -> Vec<(String, String, bool, i64)> {
    results
        .iter()
        .map(|r| {
            (
                r["domain"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
                r["from_cache"].as_bool().unwrap_or_default(),
                r["tries"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// The resolver tells NXDOMAIN from a temporary DNS failure (its unit tests); here, what the
/// worker does with each once stored. The farm cannot fail DNS, so the first file's rows are
/// rewritten as the resolver writes those two outcomes: a `dns` failure without a cache class
/// (SERVFAIL, EAI_AGAIN), and one of class `no_such_name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_dns_failure_is_fetched_again_and_nxdomain_is_remembered_until_its_ttl() {
    let stack = start_stack(Duration::ZERO, |settings| {
        settings.resolver.cache_nxdomain_ttl = Duration::from_secs(600);
    })
    .await;
    let _worker = stack.spawn_worker("worker");
    let domains = ["outage.example.com", "gone.example.com"];
    let id = stack.api.upload_domains(&domains).await;
    assert_eq!(
        stack.api.wait_until_terminal(&id).await["status"],
        "COMPLETED"
    );
    for (domain, reason, class) in [
        (domains[0], "Temporary failure in name resolution", "NULL"),
        (domains[1], "Name or service not known", "'no_such_name'"),
    ] {
        stack
            .sql(&format!(
                "UPDATE results SET status = 'failed', favicon_url = NULL, icon_format = NULL, \
                 icon_width = NULL, icon_height = NULL, icon_bytes = NULL, icon_source = NULL, \
                 error_category = 'dns', cache_class = {class}, \
                 error = 'dns: https://{domain}/: cannot resolve {domain}: \
                 failed to lookup address information: {reason}' \
                 WHERE file_id = '{id}' AND domain = '{domain}'"
            ))
            .await;
    }
    let fetched = stack.icons().requests_by_host();

    // The next file, of another client: the outage is not remembered, NXDOMAIN is.
    let other = stack.api.as_client(&stack.new_client_key("other").await);
    let id = other.upload_domains(&domains).await;
    let file = other.wait_until_terminal(&id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    let results = other.all_results(&id).await;
    let expected = |gone_cached: bool| {
        vec![
            (domains[0].to_owned(), "success".to_owned(), false, 1),
            (
                domains[1].to_owned(),
                if gone_cached { "failed" } else { "success" }.to_owned(),
                gone_cached,
                if gone_cached { 0 } else { 1 },
            ),
        ]
    };
    assert_eq!(summary(&results), expected(true));
    assert_eq!(results[1]["error_category"], "dns", "{results:?}");
    let now = stack.icons().requests_by_host();
    assert!(
        now.get(domains[0]) > fetched.get(domains[0]),
        "fetched again"
    );
    assert_eq!(now.get(domains[1]), fetched.get(domains[1]), "not fetched");

    // Once its time to live has passed, NXDOMAIN is asked again.
    stack
        .sql(&format!(
            "UPDATE results SET created_at = now() - interval '601 seconds' \
             WHERE domain = '{}' AND cache_class = 'no_such_name'",
            domains[1]
        ))
        .await;
    let id = other.upload_domains(&domains).await;
    assert_eq!(other.wait_until_terminal(&id).await["status"], "COMPLETED");
    let results = other.all_results(&id).await;
    // The outage domain succeeded on the second file: that icon is remembered now.
    assert_eq!(
        summary(&results),
        vec![
            (domains[0].to_owned(), "success".to_owned(), true, 0),
            (domains[1].to_owned(), "success".to_owned(), false, 1),
        ]
    );
}
