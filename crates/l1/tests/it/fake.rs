//! A fake bitcoind: HTTP/1.1 with Basic auth and bitcoind's JSON-RPC 1.0 replies, whose
//! answers a test scripts with a closure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request the fake received with valid credentials.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
    /// The raw request body, to check how numbers were written.
    pub body: String,
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// HTTP 200 with `result`.
    Result(Value),
    /// bitcoind's error reply: HTTP 404 for -32601, 500 otherwise.
    Error(i32, String),
    /// Any status and body.
    Raw(u16, String),
    /// Waits, then answers.
    Delayed(Duration, Box<Reply>),
}

type Handler = dyn Fn(&Call) -> Reply + Send + Sync;

struct Shared {
    /// The accepted `user:password`.
    credentials: Mutex<String>,
    handler: Box<Handler>,
    calls: Mutex<Vec<Call>>,
    unauthorized: AtomicUsize,
}

/// A running fake; stops when dropped.
pub struct FakeBitcoind {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeBitcoind {
    /// Serves on a fresh port, accepting `credentials` (`user:password`).
    pub async fn start(
        credentials: &str,
        handler: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, credentials, handler)
    }

    /// Serves on `listener`.
    pub fn serve(
        listener: TcpListener,
        credentials: &str,
        handler: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            credentials: Mutex::new(credentials.to_owned()),
            handler: Box::new(handler),
            calls: Mutex::new(Vec::new()),
            unauthorized: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The authenticated calls so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().clone()
    }

    /// How many authenticated calls of `method` arrived.
    pub fn count(&self, method: &str) -> usize {
        self.shared
            .calls
            .lock()
            .iter()
            .filter(|c| c.method == method)
            .count()
    }

    /// Requests refused with 401.
    pub fn unauthorized(&self) -> usize {
        self.shared.unauthorized.load(Ordering::SeqCst)
    }

    /// Accepts other credentials from now on (bitcoind restarted with a new cookie).
    pub fn set_credentials(&self, credentials: &str) {
        *self.shared.credentials.lock() = credentials.to_owned();
    }
}

impl Drop for FakeBitcoind {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|given| given == shared.credentials.lock().as_bytes());
    if !authorized {
        shared.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Ok(response(401, String::new()));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let call = Call {
        method: request["method"].as_str().unwrap_or_default().to_owned(),
        params: request["params"].as_array().cloned().unwrap_or_default(),
        body,
    };
    shared.calls.lock().push(call.clone());
    let mut reply = (shared.handler)(&call);
    while let Reply::Delayed(pause, next) = reply {
        tokio::time::sleep(pause).await;
        reply = *next;
    }
    let id = request["id"].clone();
    Ok(match reply {
        Reply::Result(result) => response(
            200,
            json!({ "result": result, "error": null, "id": id }).to_string(),
        ),
        Reply::Error(code, message) => {
            let status = if code == -32601 { 404 } else { 500 };
            let error = json!({ "code": code, "message": message });
            response(
                status,
                json!({ "result": null, "error": error, "id": id }).to_string(),
            )
        }
        Reply::Raw(status, body) => response(status, body),
        Reply::Delayed(..) => unreachable!("delays were waited out above"),
    })
}

fn response(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
    response
}
