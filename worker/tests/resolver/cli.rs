//! `worker resolve` against the farm, as a person would run it.

use std::process::Stdio;

use serde_json::Value;
use test_support::farm::Farm;
use tokio::{io::AsyncWriteExt, process::Command};

/// Runs `worker resolve` with `args` (and `stdin`, if any) against `farm`; one JSON value
/// per output line.
async fn run(farm: &Farm, args: &[&str], stdin: Option<&str>) -> Vec<Value> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
    command
        .env_clear()
        .arg("resolve")
        .arg("--connect-to")
        .arg(farm.addr.to_string())
        .arg("--ca-cert")
        .arg(farm.ca_cert_path())
        .args(args)
        .env("RESOLVER_DNS_OVERRIDE", "loopback.test=127.0.0.1")
        .env("RESOLVER_TIMEOUT_SECS", "5")
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

#[tokio::test]
async fn domains_from_arguments_print_one_json_line_each_in_order() {
    let farm = Farm::start().await;
    let lines = run(
        &farm,
        &["sizes.test", "loopback.test", "not a domain", "Bücher.test"],
        None,
    )
    .await;
    assert_eq!(lines.len(), 4, "{lines:?}");

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
    let urls: Vec<&Value> = lines.iter().map(|line| &line["favicon_url"]).collect();
    assert_eq!(
        urls,
        [
            "https://loopback.test/favicon.ico",
            "http://169.254.169.254/favicon.ico"
        ]
    );
}
