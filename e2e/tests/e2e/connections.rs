//! Connection-level limits: a request head must arrive within `HEADER_READ_TIMEOUT_SECS`, and at
//! most `MAX_CONNECTIONS` connections are served at once.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use test_support::TestStack;

async fn settings() -> test_support::StackSettings {
    test_support::isolated_settings(None).await
}

async fn connect(app: &TestStack) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (EOF or reset) and returns what it sent.
async fn read_until_closed(mut stream: tokio::net::tcp::OwnedReadHalf) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// The status line of a whole `Connection: close` exchange of `request` on `stream`.
async fn exchange(mut stream: TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.lines().next().unwrap_or_default().to_owned()
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_slowly_is_disconnected() {
    let mut settings = settings().await;
    settings.api.header_read_timeout = Duration::from_secs(2);
    let app = TestStack::spawn_api_only(settings).await;

    let (read, mut write) = connect(&app).await.into_split();
    let mut closed = tokio::spawn(read_until_closed(read));
    write
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // One more header line every 1.5 s, never the blank line that ends the head: each line
    // arrives well within the limit, the head as a whole never does.
    let mut lines = 0;
    let received = loop {
        tokio::select! {
            received = &mut closed => break received.unwrap(),
            () = tokio::time::sleep(Duration::from_millis(1500)) => {
                assert!(lines < 20, "still connected after {lines} header lines");
                lines += 1;
                if write.write_all(format!("X-Slow-{lines}: 1\r\n").as_bytes()).await.is_err() {
                    break closed.await.unwrap();
                }
            }
        }
    };
    let received = String::from_utf8_lossy(&received);
    assert!(
        received.is_empty() || received.starts_with("HTTP/1.1 408"),
        "closed without an answer to the unfinished request: {received:?}"
    );

    // Prompt clients are served as usual.
    assert_eq!(
        exchange(connect(&app).await, HEALTH).await,
        "HTTP/1.1 200 OK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let mut settings = settings().await;
    settings.api.max_connections = 2;
    let app = TestStack::spawn_api_only(settings).await;

    // Two connections that have started a request take both places.
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    for held in [&mut first, &mut second] {
        held.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    }

    // A third is not served while they are open...
    let mut third = connect(&app).await;
    third.write_all(HEALTH.as_bytes()).await.unwrap();
    let mut buffer = [0_u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buffer)).await;
    assert!(early.is_err(), "answered beyond the cap: {early:?}");

    // ...and is served as soon as one of them closes.
    drop(first);
    let mut response = Vec::new();
    third.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    drop(second);
}
