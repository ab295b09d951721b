//! `worker resolve` against the farm, as a person would run it: the worker binary's own
//! command, so its tests stay with the worker (the resolver's are in `favicon/tests`). No
//! database or LocalStack needed.

#![expect(clippy::expect_used, reason = "tests")]

use std::process::Stdio;

use serde_json::Value;
use test_support::farm::Farm;
use tokio::{io::AsyncWriteExt, process::Command};

/// Runs `worker resolve` with `args` (and `stdin`, if any) against `farm`; one JSON value
/// per output line, in the order printed.
async fn run(farm: &Farm, args: &[&str], stdin: Option<&str>) -> Vec<Value> {
    run_with_timeout(farm, args, stdin, 5).await
}

/// [`run`] with a domain deadline of `timeout_secs`.
async fn run_with_timeout(
    farm: &Farm,
    args: &[&str],
    stdin: Option<&str>,
    timeout_secs: u32,
) -> Vec<Value> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .env_clear()
        .arg("resolve")
        .arg("--connect-to")
        .arg(farm.addr.to_string())
        .arg("--ca-cert")
        .arg(farm.ca_cert_path())
        .args(args)
        .env(
            "RESOLVER_DNS_OVERRIDE",
            "loopback.test=127.0.0.1,*.nx.test=NXDOMAIN",
        )
        .env("RESOLVER_TIMEOUT_SECS", timeout_secs.to_string())
        .env("RESOLVER_MAX_TRIES", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("worker starts");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = child.wait_with_output().await.expect("worker runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// `lines` in input order, by their `position`.
fn by_position(mut lines: Vec<Value>) -> Vec<Value> {
    lines.sort_by_key(|line| line["position"].as_u64().expect("a position"));
    lines
}

#[tokio::test]
async fn domains_from_arguments_print_one_json_line_each_with_its_position() {
    let farm = Farm::start().await;
    let lines = run(
        &farm,
        &["sizes.test", "loopback.test", "not a domain", "Bücher.test"],
        None,
    )
    .await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let lines = by_position(lines);
    let positions: Vec<&Value> = lines.iter().map(|line| &line["position"]).collect();
    assert_eq!(positions, [0, 1, 2, 3]);

    assert_eq!(lines[0]["domain"], "sizes.test");
    assert_eq!(lines[0]["status"], "success");
    assert_eq!(lines[0]["favicon_url"], "https://sizes.test/i/192x192.png");
    assert_eq!(lines[0]["width"], 192);
    assert_eq!(lines[0]["height"], 192);
    assert_eq!(lines[0]["format"], "png");
    assert_eq!(lines[0]["source"], "link");
    assert_eq!(lines[0]["error"], Value::Null);

    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[1]["category"], "blocked");
    assert!(
        lines[1]["error"].as_str().unwrap().starts_with("blocked: "),
        "{}",
        lines[1]
    );
    assert_eq!(lines[1]["favicon_url"], Value::Null);

    assert_eq!(lines[2]["domain"], "not a domain");
    assert_eq!(lines[2]["category"], "invalid_domain");

    assert_eq!(lines[3]["domain"], "xn--bcher-kva.test");
    assert_eq!(
        lines[3]["favicon_url"],
        "https://xn--bcher-kva.test/i/32x32.png"
    );
}

#[tokio::test]
async fn domains_from_stdin_and_allow_private() {
    let farm = Farm::start().await;
    let lines = run(
        &farm,
        &["--allow-private"],
        Some("loopback.test\n\nmetadata-redirect.test\n"),
    )
    .await;
    let lines = by_position(lines);
    let found: Vec<(&Value, &Value)> = lines
        .iter()
        .map(|line| (&line["position"], &line["favicon_url"]))
        .collect();
    // The blank line counts as position 1 and prints nothing.
    assert_eq!(
        found,
        [
            (
                &Value::from(0),
                &Value::from("https://loopback.test/favicon.ico")
            ),
            (
                &Value::from(2),
                &Value::from("http://169.254.169.254/favicon.ico")
            ),
        ]
    );
}

#[tokio::test]
async fn a_domain_that_hangs_does_not_hold_back_the_lines_after_it() {
    let farm = Farm::start().await;
    // `hang.test` accepts and never answers: its line comes when its 2 s deadline has
    // passed, after the other lines, though it is first in the input.
    let lines = run_with_timeout(
        &farm,
        &["hang.test", "relative.test", "nxdomain-1.nx.test"],
        None,
        2,
    )
    .await;
    let order: Vec<&Value> = lines.iter().map(|line| &line["position"]).collect();
    assert_eq!(order.last(), Some(&&Value::from(0)), "{lines:?}");
    let lines = by_position(lines);
    assert_eq!(lines[0]["category"], "timeout");
    assert_eq!(lines[1]["favicon_url"], "https://relative.test/i/32x32.png");
    assert_eq!(lines[2]["category"], "dns");
}
