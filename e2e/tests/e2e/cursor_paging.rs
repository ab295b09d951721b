//! Paging results by cursor (`after`, following `next`): every page of a filter walked by
//! cursor is exactly the filtered set, in order; bad cursors are refused with a JSON 400.

use serde_json::Value;

use test_support::TestStack;

/// Follows `next` from `first` to the end, collecting the positions of every page's items
/// and checking that each page's `next_after` is its last item.
async fn walk_by_cursor(app: &TestStack, first: &str) -> Vec<i64> {
    let mut positions = Vec::new();
    let mut path = Some(first.to_owned());
    let mut pages = 0;
    while let Some(current) = path {
        pages += 1;
        assert!(pages < 1000, "the walk from {first} does not end");
        let (status, page) = app.get_json(&current).await;
        assert_eq!(status, 200, "{current}: {page}");
        let items = page["items"].as_array().unwrap();
        positions.extend(items.iter().map(|item| item["position"].as_i64().unwrap()));
        path = page["next"].as_str().map(str::to_owned);
        match &path {
            Some(next) => {
                let last = items.last().unwrap()["position"].as_i64().unwrap();
                assert_eq!(page["next_after"], last, "{current}: {page}");
                assert!(next.contains(&format!("after={last}")), "{next}");
            }
            None => assert_eq!(page["next_after"], Value::Null, "{current}: {page}"),
        }
    }
    positions
}

/// The positions of every result matching `filter`, read as one page.
async fn whole_set(app: &TestStack, id: &str, filter: &str) -> Vec<i64> {
    let (status, page) = app
        .get_json(&format!("/files/{id}/results?per_page=1000&{filter}"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["next"], Value::Null, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["position"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walking_every_page_by_cursor_gives_exactly_the_filtered_results() {
    let app = TestStack::spawn().await;
    // Failures of two categories among successes: `missing...` hosts have no icon
    // (`http_status`), entries with a space are no domain (`invalid_domain`).
    let domains: Vec<String> = (0..40)
        .map(|n| match n % 5 {
            0 | 3 => format!("missing-{n}.example.com"),
            4 if n % 10 == 4 => format!("not a domain {n}"),
            _ => format!("site-{n}.example.com"),
        })
        .collect();
    let id = app.upload_domains(&domains).await;
    let file = app.wait_until_terminal(&id).await;
    assert_eq!(file["status"], "COMPLETED");

    for filter in [
        "status=failed",
        "status=success",
        "error_category=invalid_domain",
        "status=failed&error_category=http_status",
        "",
    ] {
        let expected = whole_set(&app, &id, filter).await;
        assert!(!expected.is_empty(), "{filter}");
        for per_page in [1, 3, 7] {
            let first = format!("/files/{id}/results?per_page={per_page}&{filter}");
            let walked = walk_by_cursor(&app, &first).await;
            assert_eq!(walked, expected, "{filter}, per_page={per_page}");
            // Starting from a cursor instead of the first page gives the same rest.
            let from_cursor = format!(
                "/files/{id}/results?after={}&per_page={per_page}&{filter}",
                expected[0]
            );
            let walked = walk_by_cursor(&app, &from_cursor).await;
            assert_eq!(walked, expected[1..], "{from_cursor}");
        }
    }

    // Page numbers still work, and say where to go on by cursor.
    let failed = whole_set(&app, &id, "status=failed").await;
    let (_, second) = app
        .get_json(&format!(
            "/files/{id}/results?status=failed&page=2&per_page=3"
        ))
        .await;
    assert_eq!(second["page"], 2);
    assert_eq!(second["total"], failed.len());
    assert_eq!(second["items"][0]["position"], failed[3]);
    assert_eq!(second["next_after"], failed[5]);
    // By cursor, a page has no number.
    let (_, after) = app
        .get_json(&format!(
            "/files/{id}/results?status=failed&after={}&per_page=3",
            failed[5]
        ))
        .await;
    assert_eq!(after["page"], Value::Null);
    assert_eq!(after["items"][0]["position"], failed[6]);
    // After the last result: an empty page, with nothing next.
    let last = failed.last().unwrap();
    let (status, end) = app
        .get_json(&format!("/files/{id}/results?status=failed&after={last}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(end["items"], serde_json::json!([]));
    assert_eq!(end["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cursor_is_refused_with_a_json_400() {
    let app = TestStack::spawn().await;
    let id = app.upload_domains(&["a.example.com"]).await;
    app.wait_until_terminal(&id).await;
    for bad in [
        "after=-1",
        "after=x",
        "after=",
        "after=1.5",
        "after=2147483648",
        "after=9223372036854775808",
        "status=failed&after=-5",
        "page=1&after=0",
    ] {
        let (status, body) = app.get_json(&format!("/files/{id}/results?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["code"].is_string(), "{bad}: {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
    let (status, body) = app.get_json(&format!("/files/{id}/results?after=-1")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_after", "{body}");
}
