//! With `SENTRY_DSN` set, an `error!` event reaches the Sentry server the DSN names: here a
//! local HTTP server that records what it is sent, so the test runs offline.
//!
//! A binary of its own: it installs the process's global subscriber and Sentry client, which
//! the unit tests (where no DSN means no client) must not see.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::mpsc,
    time::Duration,
};

use common::config::LogFormat;
use secrecy::SecretString;

/// Accepts connections on a free port and sends each request's path and body to the channel,
/// answering 200 like Sentry's ingestion endpoint.
fn start_fake_sentry() -> (u16, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .unwrap();
            let _ = sender.send((path, body));
        }
    });
    (port, receiver)
}

#[test]
fn with_a_dsn_an_error_event_is_delivered_to_the_sentry_server() {
    let (port, received) = start_fake_sentry();
    let dsn = SecretString::from(format!("http://public@127.0.0.1:{port}/42"));

    let telemetry = common::telemetry::init(LogFormat::Compact, Some(&dsn));
    assert!(telemetry.reports_errors());
    tracing::info!("a breadcrumb before the error");
    tracing::error!(file.id = "f-1", "sentry test error 7f3a");
    tracing::warn!("a warning is no event");
    drop(telemetry); // flushes

    let mut bodies = Vec::new();
    while let Ok((path, body)) = received.recv_timeout(Duration::from_secs(5)) {
        assert_eq!(path, "/api/42/envelope/");
        bodies.push(String::from_utf8_lossy(&body).into_owned());
        if bodies
            .iter()
            .any(|body| body.contains("sentry test error 7f3a"))
        {
            break;
        }
    }
    let event = bodies
        .iter()
        .find(|body| body.contains("sentry test error 7f3a"))
        .unwrap_or_else(|| panic!("no event with the error reached the server: {bodies:#?}"));
    // An event, not a log line or a breadcrumb; `error` is an event's default level.
    assert!(event.contains(r#""type":"event""#), "{event}");
    assert!(
        event.contains(r#""message":"sentry test error 7f3a""#),
        "{event}"
    );
    assert!(event.contains("a breadcrumb before the error"), "{event}");
    assert!(!event.contains("a warning is no event"), "{event}");
}
