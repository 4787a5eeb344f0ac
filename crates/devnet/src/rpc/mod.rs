//! The bitcoind-compatible JSON-RPC server: HTTP/1.1 POST with Basic auth (cookie or
//! user/password), JSON-RPC 1.0 replies with bitcoind's HTTP statuses (500 for errors, 404
//! for unknown methods, 401 with an empty body for bad credentials), JSON-RPC 2.0 replies
//! (always 200) for requests that ask for 2.0, and batches.
//!
//! Methods run on the blocking pool against the shared devnet state, one at a time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::State;

mod chain;
mod methods;
mod params;
mod wallet;

pub use methods::method_names;

/// bitcoind's limit on a request body (`MAX_SIZE`).
const MAX_BODY: usize = 0x0200_0000;
/// bitcoind pauses this long after a failed login, to slow down password guessing.
const AUTH_FAILURE_DELAY: Duration = Duration::from_millis(250);

/// A JSON-RPC error as bitcoind reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// bitcoind's error code.
    pub code: i32,
    /// bitcoind's message.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `RPC_INVALID_REQUEST` (-32600).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(-32600, message)
    }

    fn to_json(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }

    /// The HTTP status of a JSON-RPC 1.0 error reply.
    fn http_status(&self) -> StatusCode {
        match self.code {
            -32600 => StatusCode::BAD_REQUEST,
            -32601 => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Accepted credentials: `user:password` pairs compared in constant time.
#[derive(Debug, Clone)]
pub struct Credentials {
    accepted: Vec<String>,
}

impl Credentials {
    /// Accepts each `user:password` in `pairs`.
    pub fn new(pairs: Vec<String>) -> Self {
        Self { accepted: pairs }
    }

    fn check(&self, header: Option<&HeaderValue>) -> bool {
        let Some(given) = header
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
        else {
            return false;
        };
        self.accepted.iter().fold(false, |ok, pair| {
            ok | constant_time_eq(pair.as_bytes(), &given)
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the RPC on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<Mutex<State>>,
    credentials: Credentials,
    mut shutdown: watch::Receiver<bool>,
) {
    let credentials = Arc::new(credentials);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(target: "cairn::devnet::rpc", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (state, credentials) = (state.clone(), credentials.clone());
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                handle(req, state.clone(), credentials.clone())
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = conn_shutdown.changed() => conn.as_mut().graceful_shutdown(),
            }
        });
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn json_reply(status: StatusCode, body: &Value) -> HttpResponse {
    let mut text = body.to_string();
    text.push('\n');
    let mut response = reply(status, text);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    credentials: Arc<Credentials>,
) -> Result<HttpResponse, std::convert::Infallible> {
    if req.method() != Method::POST {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "JSONRPC server handles only POST requests",
        ));
    }
    if !credentials.check(req.headers().get(AUTHORIZATION)) {
        tracing::warn!(target: "cairn::devnet::rpc", "incorrect RPC credentials");
        tokio::time::sleep(AUTH_FAILURE_DELAY).await;
        let mut response = reply(StatusCode::UNAUTHORIZED, Bytes::new());
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"jsonrpc\""),
        );
        return Ok(response);
    }
    let wallet_path = req
        .uri()
        .path()
        .strip_prefix("/wallet/")
        .map(percent_decode);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, "request too large")),
    };
    let response = tokio::task::spawn_blocking(move || {
        let request: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                let err = RpcError::new(-32700, "Parse error");
                return json_reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({ "result": null, "error": err.to_json(), "id": null }),
                );
            }
        };
        let ctx = Context {
            state: &state,
            wallet: wallet_path.as_deref(),
        };
        match request {
            Value::Array(batch) => {
                let replies: Vec<Value> = batch
                    .into_iter()
                    .filter_map(|r| ctx.call(r).map(|(_, body)| body))
                    .collect();
                json_reply(StatusCode::OK, &Value::Array(replies))
            }
            single => match ctx.call(single) {
                Some((status, body)) => json_reply(status, &body),
                None => reply(StatusCode::NO_CONTENT, Bytes::new()),
            },
        }
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(target: "cairn::devnet::rpc", error = %e, "RPC handler panicked");
        reply(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    });
    Ok(response)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One HTTP request's view: the state and the `/wallet/<name>` it addressed.
struct Context<'a> {
    state: &'a Mutex<State>,
    wallet: Option<&'a str>,
}

impl Context<'_> {
    /// Runs one JSON-RPC request object; `None` for a JSON-RPC 2.0 notification.
    fn call(&self, request: Value) -> Option<(StatusCode, Value)> {
        let Value::Object(mut request) = request else {
            let err = RpcError::invalid_request("Invalid Request object");
            return Some((err.http_status(), legacy_error(&err, Value::Null)));
        };
        let id = request.remove("id");
        let v2 = match request.get("jsonrpc") {
            None => false,
            Some(Value::String(v)) if v == "2.0" => true,
            Some(Value::String(v)) if v == "1.0" || v == "1.1" => false,
            Some(_) => {
                let err = RpcError::invalid_request("JSON-RPC version not supported");
                return Some((
                    err.http_status(),
                    legacy_error(&err, id.unwrap_or(Value::Null)),
                ));
            }
        };
        let result = self.dispatch(&mut request);
        if v2 {
            let id = id?;
            let body = match result {
                Ok(result) => json!({ "jsonrpc": "2.0", "result": result, "id": id }),
                Err(err) => json!({ "jsonrpc": "2.0", "error": err.to_json(), "id": id }),
            };
            return Some((StatusCode::OK, body));
        }
        let id = id.unwrap_or(Value::Null);
        Some(match result {
            Ok(result) => (
                StatusCode::OK,
                json!({ "result": result, "error": null, "id": id }),
            ),
            Err(err) => (err.http_status(), legacy_error(&err, id)),
        })
    }

    fn dispatch(&self, request: &mut serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let method = match request.remove("method") {
            None => return Err(RpcError::invalid_request("Missing method")),
            Some(Value::String(m)) => m,
            Some(_) => return Err(RpcError::invalid_request("Method must be a string")),
        };
        let params = request.remove("params").unwrap_or(Value::Null);
        if let Some(name) = self.wallet
            && name != crate::wallet::WALLET_NAME
        {
            return Err(RpcError::new(
                -18,
                "Requested wallet does not exist or is not loaded",
            ));
        }
        let mut state = self.state.lock();
        methods::call(&mut state, &method, params)
    }
}

fn legacy_error(err: &RpcError, id: Value) -> Value {
    json!({ "result": null, "error": err.to_json(), "id": id })
}

/// Binds the RPC port (`127.0.0.1:0` picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
