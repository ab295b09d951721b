//! Hostile and odd entries: each one costs one failed result, never the file. Every file
//! below goes through the real api and a worker process, and ends COMPLETED with exact counts
//! and the bad entry's `invalid_domain` reason.

use std::time::Duration;

use serde_json::{Value, json};

use test_support::TestStack;

use crate::harness::start_stack;

/// Waits for the file to end and asserts it COMPLETED with these counts, without an error.
async fn assert_completed(
    stack: &TestStack,
    file_id: &str,
    total: u64,
    succeeded: u64,
    failed: u64,
) {
    let file = stack
        .api
        .wait_until_terminal_within(file_id, Duration::from_secs(180))
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    assert_eq!(file["error_message"], Value::Null, "{file}");
    let progress = &file["progress"];
    assert_eq!(
        (
            &progress["total"],
            &progress["succeeded"],
            &progress["failed"]
        ),
        (&json!(total), &json!(succeeded), &json!(failed)),
        "{file}"
    );
}

/// The one result whose domain satisfies `pick`.
fn result_where(results: &[Value], pick: impl Fn(&str) -> bool) -> &Value {
    let found: Vec<&Value> = results
        .iter()
        .filter(|r| pick(r["domain"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(found.len(), 1, "{results:?}");
    found[0]
}

/// Asserts that `result` is an `invalid_domain` failure whose reason contains `reason`.
fn assert_invalid(result: &Value, reason: &str) {
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["error_category"], "invalid_domain", "{result}");
    let error = result["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("invalid_domain: "), "{result}");
    assert!(error.contains(reason), "{reason:?} not in {result}");
    assert_eq!(result["tries"], 0, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_postgresql_text_cannot_hold_become_invalid_results() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;

    // POST /jobs with a NUL inside a domain.
    let (status, body) = stack
        .api
        .post_job(&json!({ "domains": ["nul\u{0}job.example.com", "ok.example.com"] }))
        .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_owned();
    // A JSON upload with an escaped NUL.
    let json_file = stack
        .upload_accepted(
            "nul.json",
            "application/json",
            br#"["a\u0000b", "ok-json.example.com"]"#.to_vec(),
        )
        .await;
    // A CSV with a raw NUL byte well after the first 4 KB the api looks at (and after the
    // first 8 KB it may have received with them); a second column pads the lines.
    let mut csv = b"domain,note\n".to_vec();
    let padding = "p".repeat(200);
    for i in 0..300 {
        csv.extend_from_slice(format!("fill-{i}.example.com,{padding}\n").as_bytes());
    }
    assert!(csv.len() > 60_000);
    csv.extend_from_slice(b"raw\0nul.example.com\nafter.example.com\n");
    let csv_file = stack.upload_accepted("nul.csv", "text/csv", csv).await;

    let worker = stack.spawn_worker("worker");
    assert_completed(&stack, &job, 2, 1, 1).await;
    assert_completed(&stack, &json_file, 2, 1, 1).await;
    assert_completed(&stack, &csv_file, 302, 301, 1).await;

    let (status, job_view) = stack.api.get_json(&format!("/jobs/{job}")).await;
    assert_eq!(status, 200);
    assert_eq!(job_view["status"], "completed", "{job_view}");
    assert_eq!(job_view["error"], Value::Null, "{job_view}");
    for (file_id, bad) in [
        (&job, "nul\u{fffd}job.example.com"),
        (&json_file, "a\u{fffd}b"),
        (&csv_file, "raw\u{fffd}nul.example.com"),
    ] {
        let results = stack.api.all_results(file_id).await;
        let result = result_where(&results, |domain| domain == bad);
        assert_invalid(result, "invalid characters");
        let text = serde_json::to_string(&results).expect("JSON");
        assert!(!text.contains("sqlx"), "{text}");
    }
    let log = worker.log();
    assert!(!log.contains("transient error"), "nothing retried: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_many_invalid_entries_complete_with_exact_counts() {
    let stack = start_stack(Duration::ZERO, |settings| {
        settings.api.max_upload_bytes = 16 * 1024 * 1024;
        settings.worker.chunk_domains = 400;
        settings.worker.result_batch_size = 1_000;
    })
    .await;
    // 200,000 entries, all invalid: far above WORKER_CHUNK_DOMAINS, and 17 columns each
    // would need 3.4 million bind parameters in one INSERT.
    let mut all_invalid = String::from("domain\n");
    for i in 0..200_000 {
        all_invalid.push_str(&format!("invalid-{i}\n"));
    }
    let all_invalid = stack
        .upload_accepted("invalid.csv", "text/csv", all_invalid.into_bytes())
        .await;
    // Many invalid entries beside more valid ones than a chunk holds: the file is split, and
    // its invalid entries are recorded when it is.
    let mut mixed = String::from("domain\n");
    for i in 0..20_000 {
        mixed.push_str(&format!("bad-{i}\n"));
        if i % 40 == 0 {
            mixed.push_str(&format!("good-{i}.example.com\n"));
        }
    }
    let mixed = stack
        .upload_accepted("mixed.csv", "text/csv", mixed.into_bytes())
        .await;

    let worker = stack.spawn_worker("worker");
    assert_completed(&stack, &all_invalid, 200_000, 0, 200_000).await;
    assert_completed(&stack, &mixed, 20_500, 500, 20_000).await;
    let (_, page) = stack
        .api
        .get_json(&format!(
            "/files/{all_invalid}/results?page=400&per_page=500"
        ))
        .await;
    let last = &page["items"][499];
    assert_eq!(last["position"], 199_999, "{page}");
    assert_eq!(last["domain"], "invalid-199999", "{page}");
    assert_invalid(last, "no top-level domain");
    let log = worker.log();
    assert!(
        log.contains("split file"),
        "the mixed file was split: {log}"
    );
    assert!(!log.contains("transient error"), "nothing retried: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_addresses_huge_numbers_and_long_lines_are_single_invalid_entries() {
    let stack = start_stack(Duration::ZERO, |settings| {
        settings.api.max_upload_bytes = 4 * 1024 * 1024;
    })
    .await;
    let json_file = stack
        .upload_accepted(
            "numbers.json",
            "application/json",
            br#"["0x7f.0x1", "0177.0x1", "2130706433", "127.1", "0x7f000001.", 1e999999,
                "ok.example.com"]"#
                .to_vec(),
        )
        .await;
    let mut long = b"domain\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 1_000_000));
    long.extend_from_slice(b".example.com/\nok-long.example.com\n");
    let long_file = stack.upload_accepted("long.csv", "text/csv", long).await;

    let _worker = stack.spawn_worker("worker");
    assert_completed(&stack, &json_file, 7, 1, 6).await;
    let results = stack.api.all_results(&json_file).await;
    for address in ["0x7f.0x1", "0177.0x1", "2130706433", "127.1", "0x7f000001."] {
        assert_invalid(
            result_where(&results, |domain| domain == address),
            "an IP address is not a domain",
        );
    }
    assert_invalid(
        result_where(&results, |domain| domain == "1e999999"),
        "has no top-level domain",
    );

    assert_completed(&stack, &long_file, 2, 1, 1).await;
    let results = stack.api.all_results(&long_file).await;
    let long = result_where(&results, |domain| domain.starts_with("xxx"));
    assert_invalid(long, "invalid length");
    let domain = long["domain"].as_str().unwrap_or_default();
    let error = long["error"].as_str().unwrap_or_default();
    assert!(domain.chars().count() <= 255, "{} chars", domain.len());
    assert!(domain.ends_with('…'), "{long}");
    assert!(error.chars().count() <= 1_000, "{} chars", error.len());
    assert!(
        error.contains("\"… has an invalid length"),
        "quoted in part: {error}"
    );
}

/// UTF-16 text with a byte order mark, in both byte orders: a UTF-16LE CSV is what
/// spreadsheet programs save as "Unicode text".
fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut bytes = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        let pair = if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        };
        bytes.extend_from_slice(&pair);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf16_files_and_long_blank_prefixes_are_read() {
    let stack = start_stack(Duration::ZERO, |_| {}).await;
    let blank = "\n \r\n\t\n".repeat(5_000);
    assert!(blank.len() > 20_000);
    // (name, media type, what the worker reads, what the api is given). The api may not
    // accept these yet; the worker reads whatever was stored, so the object is swapped in
    // before any worker starts.
    let files = [
        (
            "utf16le.csv",
            "text/csv",
            utf16("domain\r\nutf16-le.example.com\r\nbücher.example\r\n", true),
        ),
        (
            "utf16be.json",
            "application/json",
            utf16(r#"["utf16-be.example.com", "bücher.example"]"#, false),
        ),
        (
            "blank.csv",
            "text/csv",
            format!("{blank}domain\nblank-csv.example.com\nbücher.example\n").into_bytes(),
        ),
        (
            "blank.json",
            "application/json",
            format!(r#"{blank}["blank-json.example.com", "bücher.example"]"#).into_bytes(),
        ),
        (
            "blank.ndjson",
            "application/x-ndjson",
            format!("{blank}\"blank-ndjson.example.com\"\n\"bücher.example\"\n").into_bytes(),
        ),
    ];
    let mut ids = Vec::new();
    for (name, media_type, content) in files {
        let placeholder = if media_type == "text/csv" {
            b"domain\nplaceholder.example.com\n".to_vec()
        } else {
            br#"["placeholder.example.com"]"#.to_vec()
        };
        let id = stack.upload_accepted(name, media_type, placeholder).await;
        stack.replace_object(&id, content).await;
        ids.push((name, id));
    }

    let _worker = stack.spawn_worker("worker");
    for (name, id) in &ids {
        assert_completed(&stack, id, 2, 2, 0).await;
        let results = stack.api.all_results(id).await;
        let domains: Vec<&str> = results
            .iter()
            .map(|r| r["domain"].as_str().unwrap_or_default())
            .collect();
        assert!(
            domains.contains(&"xn--bcher-kva.example"),
            "{name}: {domains:?}"
        );
        assert!(
            !domains.contains(&"domain"),
            "{name}: the header is a header"
        );
    }
}
