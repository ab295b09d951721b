//! A TCP fault proxy: forwards a random loopback port to a target and can be switched down
//! and up again, so a test can make a service disappear and come back while the processes
//! under test keep their configuration.
//!
//! Down means: every open connection is reset, and every new one is accepted and reset at
//! once. For a client that is what a stopped server looks like (its requests fail with I/O
//! errors), short of the port being closed.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// A running fault proxy. Cheap to clone; the proxy runs until the runtime stops.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    /// Where it listens (loopback, random port).
    pub addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
}

impl FaultProxy {
    /// Starts a proxy, up, forwarding to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("fault proxy address");
        let (up, _) = watch::channel(true);
        let up = Arc::new(up);
        tokio::spawn(accept_loop(listener, target.to_owned(), up.clone()));
        Self { addr, up }
    }

    /// Starts a proxy in front of the service at `url` (scheme, host and port are used).
    pub async fn in_front_of(url: &str) -> Self {
        let url = reqwest::Url::parse(url).expect("a valid URL");
        let host = url.host_str().expect("a host in the URL");
        let port = url.port_or_known_default().expect("a port in the URL");
        Self::start(&format!("{host}:{port}")).await
    }

    /// `http://` and the proxy's address, for endpoint settings.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resets every open connection and every new one until [`up`](Self::up).
    pub fn down(&self) {
        self.up.send_replace(false);
    }

    /// Forwards connections again.
    pub fn up(&self) {
        self.up.send_replace(true);
    }
}

async fn accept_loop(listener: TcpListener, target: String, up: Arc<watch::Sender<bool>>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of file descriptors or the like: try again shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if !*up.borrow() {
            reset(&client);
            continue;
        }
        tokio::spawn(forward(client, target.clone(), up.subscribe()));
    }
}

/// Closes `stream` with a reset (RST) instead of an orderly shutdown, once dropped.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn forward(mut client: TcpStream, target: String, mut up: watch::Receiver<bool>) {
    let mut server = match TcpStream::connect(&target).await {
        Ok(server) => server,
        Err(_) => {
            reset(&client);
            return;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {
            reset(&client);
            reset(&server);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buffer = [0; 4];
        stream.read_exact(&mut buffer).await?;
        Ok(buffer.to_vec())
    }

    #[tokio::test]
    async fn forwards_while_up_and_resets_while_down() {
        let proxy = FaultProxy::start(&echo_server().await.to_string()).await;
        let mut open = TcpStream::connect(proxy.addr).await.expect("connect");
        assert_eq!(round_trip(&mut open).await.expect("echo"), b"ping");

        proxy.down();
        assert!(round_trip(&mut open).await.is_err(), "open connection cut");
        let mut new = TcpStream::connect(proxy.addr).await.expect("accepted");
        assert!(round_trip(&mut new).await.is_err(), "new connection reset");

        proxy.up();
        let mut again = TcpStream::connect(proxy.addr).await.expect("connect");
        assert_eq!(round_trip(&mut again).await.expect("echo"), b"ping");
    }
}
