//! A flaky link to a JSON-RPC server: an HTTP proxy that drops every `n`-th call (closes
//! the connection without answering, as a restarting or overloaded `bitcoind` does), so
//! tests can check that a node keeps going on a bad link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The proxy; it stops when dropped.
pub struct FlakyProxy {
    /// Its URL (`http://127.0.0.1:PORT`): use it instead of the server's.
    pub url: String,
    calls: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    /// A proxy to `upstream` dropping every `every`-th call.
    pub async fn start(upstream: SocketAddr, every: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (c, d) = (calls.clone(), dropped.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, every, c.clone(), d.clone()));
            }
        });
        Self {
            url,
            calls,
            dropped,
            task,
        }
    }

    /// Calls seen so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    every: usize,
    calls: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
) {
    let mut buffered = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buffered).await {
        if (calls.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every) {
            dropped.fetch_add(1, Ordering::Relaxed);
            return; // the connection closes unanswered
        }
        let Ok(mut server) = TcpStream::connect(upstream).await else {
            return;
        };
        if server.write_all(&request).await.is_err() {
            return;
        }
        let mut rest = Vec::new();
        let Some(response) = read_message(&mut server, &mut rest).await else {
            return;
        };
        if client.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 message (head and `Content-Length` body) from `stream`, after what
/// `buffered` already holds; `None` at end of stream.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffered: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(buffered, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffered[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buffered.len() < total {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buffered.extend_from_slice(&chunk[..n]);
            }
            return Some(buffered.drain(..total).collect());
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffered.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
