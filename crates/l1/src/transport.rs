//! JSON-RPC 1.0 over HTTP/1.1 in bitcoind's dialect, with timeouts and retries.
//!
//! The HTTP client is reqwest (plain HTTP/1.1, no TLS, no proxy) rather than hyper-util's
//! legacy client, which reqwest wraps: it is already built in this workspace, and it adds
//! exactly what would otherwise be written by hand here: a keep-alive connection pool, a
//! total per-request deadline, Basic auth marked as a sensitive header, and
//! [`reqwest::Error::is_connect`], which tells "never reached bitcoind" (always safe to
//! retry) from "the request may have been sent" (safe to retry only for idempotent methods).
//!
//! bitcoind answers a JSON-RPC 1.0 request with HTTP 200 and `{"result", "error": null, "id"}`
//! on success, HTTP 500 (404 for -32601) and `{"result": null, "error": {code, message}, "id"}`
//! on an RPC error, HTTP 401 with an empty body on bad credentials, HTTP 503 when its work
//! queue is full, and error -28 while it is starting.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{Auth, Backoff, Config, RetryPolicy};
use crate::error::{Error, Result, code};

const TARGET: &str = "cairn::l1::rpc";

/// bitcoind closes a connection after `-rpcservertimeout` (30 s) of silence; idle
/// connections are dropped a little earlier so a request never races that close.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of an unexpected HTTP body goes into [`Error::Http`].
const BODY_EXCERPT: usize = 512;

/// One positional JSON-RPC parameter, already serialized.
pub(crate) type Param = Box<RawValue>;

/// A `serde_json::Value` as a [`Param`].
pub(crate) fn param(value: Value) -> Param {
    serde_json::value::to_raw_value(&value).expect("a serde_json::Value always serializes")
}

/// The methods whose repetition is harmless, so that a request that may have reached
/// bitcoind can be sent again after a timeout or a dropped connection. Everything else
/// (`generatetoaddress`, `generateblock`, `sendtoaddress`, `getnewaddress`, unknown
/// methods) is sent again only when it certainly did not run.
pub fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "getblockchaininfo"
            | "getnetworkinfo"
            | "getblockcount"
            | "getbestblockhash"
            | "getblockhash"
            | "getblockheader"
            | "getblock"
            | "getchaintips"
            | "getrawtransaction"
            | "gettxout"
            | "getrawmempool"
            | "getmempoolentry"
            | "getmempoolinfo"
            | "estimatesmartfee"
            | "testmempoolaccept"
            // The same transaction twice is accepted once; the second answer is -27 or
            // its txid again.
            | "sendrawtransaction"
            | "submitblock"
            | "invalidateblock"
            | "reconsiderblock"
            | "getbalance"
            | "listunspent"
            | "getreceivedbyaddress"
            | "getwalletinfo"
            | "gettransaction"
            | "createrawtransaction"
            | "decoderawtransaction"
            | "signrawtransactionwithwallet"
    )
}

/// The HTTP side of a [`crate::Client`]: one URL, shared credentials and connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    url: Url,
    /// `url` without any user info, for messages.
    shown_url: String,
    credentials: Arc<Credentials>,
    timeout: Duration,
    retry: RetryPolicy,
    next_id: Arc<AtomicU64>,
}

/// Why an attempt is worth repeating.
enum Failure {
    /// The call certainly did not run.
    NotRun(NotRun),
    /// The request may have reached bitcoind (a timeout, a connection lost mid-way).
    MaybeRun(reqwest::Error),
}

/// The ways a call can fail without running.
enum NotRun {
    /// No connection could be made.
    Connect(reqwest::Error),
    /// HTTP 503: bitcoind's work queue is full.
    Busy { status: u16, body: String },
    /// Error -28: bitcoind is starting.
    Warmup(String),
    /// The cookie file is missing, as while bitcoind restarts.
    CookieMissing(Error),
    /// 401, and the cookie file has changed since the request was made.
    CookieChanged,
}

/// The end of one attempt.
enum Outcome {
    /// bitcoind's final word: a result or an RPC error (or a fatal local error).
    Answer(Result<Value>),
    /// Worth another attempt, if the policy allows.
    Retry(Failure),
}

impl Transport {
    /// Checks the URL and builds the connection pool; does not connect.
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let url = parse_url(&config.url)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(config.timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| Error::InvalidUrl {
                url: config.url.clone(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            shown_url: shown(&url),
            url,
            credentials: Arc::new(Credentials::new(config.auth.clone())),
            timeout: config.timeout,
            retry: config.retry,
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The same node's endpoint for the wallet `name` (`<url>/wallet/<name>`).
    pub(crate) fn for_wallet(&self, name: &str) -> Self {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().push("wallet").push(name);
        }
        Self {
            shown_url: shown(&url),
            url,
            ..self.clone()
        }
    }

    /// The URL, without credentials.
    pub(crate) fn url(&self) -> &str {
        &self.shown_url
    }

    /// Calls `method`, retrying as the policy and the method's idempotency allow.
    pub(crate) async fn call(&self, method: &str, params: &[Param]) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = encode_request(id, method, params);
        let mut backoff = Backoff::start(self.retry);
        loop {
            let failure = match self.attempt(method, &body).await {
                Outcome::Answer(answer) => return answer,
                Outcome::Retry(failure) => failure,
            };
            let failure = match (failure, is_idempotent(method)) {
                (Failure::MaybeRun(source), false) => {
                    return Err(Error::Indeterminate {
                        method: method.to_owned(),
                        url: self.shown_url.clone(),
                        source,
                    });
                }
                (failure, _) => failure,
            };
            let Some(pause) = backoff.next_pause() else {
                tracing::warn!(target: TARGET, method, attempts = backoff.attempts(), url = %self.shown_url, "giving up on bitcoind");
                return Err(self.give_up(failure));
            };
            self.log_retry(method, &failure, backoff.attempts(), pause);
            if matches!(failure, Failure::NotRun(NotRun::Connect(_))) {
                // A node that went away may come back with a new cookie.
                self.credentials.forget();
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// One HTTP exchange.
    async fn attempt(&self, method: &str, body: &str) -> Outcome {
        let (user, password) = match self.credentials.current() {
            Ok(pair) => pair,
            Err(e) => return cookie_failure(e),
        };
        let sent = self
            .http
            .post(self.url.clone())
            .basic_auth(&user, Some(&password))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .timeout(self.timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Outcome::Retry(Failure::NotRun(NotRun::Connect(e))),
            Err(e) => return Outcome::Retry(Failure::MaybeRun(e)),
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return self.unauthorized(&user, &password);
        }
        let bytes = response.bytes().await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Refused before running, whether or not the body arrives.
            let body = bytes.map(|b| excerpt(&b)).unwrap_or_default();
            return Outcome::Retry(Failure::NotRun(NotRun::Busy {
                status: status.as_u16(),
                body,
            }));
        }
        match bytes {
            Ok(bytes) => decode_reply(method, status, &bytes),
            Err(e) => Outcome::Retry(Failure::MaybeRun(e)),
        }
    }

    /// HTTP 401: wrong credentials, unless bitcoind restarted with a new cookie.
    fn unauthorized(&self, user: &str, password: &str) -> Outcome {
        match self.credentials.reload() {
            Ok(Some((new_user, new_password))) if new_user != user || new_password != password => {
                Outcome::Retry(Failure::NotRun(NotRun::CookieChanged))
            }
            Ok(_) => Outcome::Answer(Err(Error::Auth {
                url: self.shown_url.clone(),
            })),
            Err(e) => cookie_failure(e),
        }
    }

    /// The error to report once retrying is over.
    fn give_up(&self, failure: Failure) -> Error {
        let url = self.shown_url.clone();
        match failure {
            Failure::MaybeRun(source) | Failure::NotRun(NotRun::Connect(source)) => {
                Error::Unreachable { url, source }
            }
            Failure::NotRun(NotRun::Busy { status, body }) => Error::Http { status, body },
            Failure::NotRun(NotRun::Warmup(message)) => Error::Rpc {
                code: code::IN_WARMUP,
                message,
            },
            Failure::NotRun(NotRun::CookieMissing(error)) => error,
            Failure::NotRun(NotRun::CookieChanged) => Error::Auth { url },
        }
    }

    fn log_retry(&self, method: &str, failure: &Failure, attempt: u32, pause: Duration) {
        let reason = match failure {
            Failure::MaybeRun(e) | Failure::NotRun(NotRun::Connect(e)) => crate::error::chain(e),
            Failure::NotRun(NotRun::Busy { status, .. }) => {
                format!("HTTP {status} (work queue full)")
            }
            Failure::NotRun(NotRun::Warmup(message)) => format!("warming up: {message}"),
            Failure::NotRun(NotRun::CookieMissing(e)) => e.to_string(),
            Failure::NotRun(NotRun::CookieChanged) => "cookie changed".to_owned(),
        };
        tracing::warn!(
            target: TARGET,
            method,
            url = %self.shown_url,
            attempt,
            pause_ms = pause.as_millis() as u64,
            %reason,
            "bitcoind call failed; retrying"
        );
    }
}

/// A cookie file that is missing is retried (bitcoind deletes it on shutdown and writes
/// a new one at startup); any other cookie problem is final.
fn cookie_failure(error: Error) -> Outcome {
    match &error {
        Error::Cookie { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            Outcome::Retry(Failure::NotRun(NotRun::CookieMissing(error)))
        }
        _ => Outcome::Answer(Err(error)),
    }
}

/// `{"jsonrpc":"1.0","id":N,"method":..,"params":[..]}`.
fn encode_request(id: u64, method: &str, params: &[Param]) -> String {
    #[derive(Serialize)]
    struct Request<'a> {
        jsonrpc: &'static str,
        id: u64,
        method: &'a str,
        params: &'a [Param],
    }
    serde_json::to_string(&Request {
        jsonrpc: "1.0",
        id,
        method,
        params,
    })
    .expect("strings, integers and raw JSON always serialize")
}

/// The JSON-RPC envelope of an answer.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Option<ReplyError>,
}

#[derive(Deserialize)]
struct ReplyError {
    code: i32,
    message: String,
}

/// Reads bitcoind's answer: a result, an RPC error (retried if it is -28), or an HTTP
/// status that is not part of the dialect.
fn decode_reply(method: &str, status: StatusCode, bytes: &[u8]) -> Outcome {
    let reply = serde_json::from_slice::<Reply>(bytes);
    match reply {
        Ok(Reply {
            error: Some(error), ..
        }) if error.code == code::IN_WARMUP => {
            Outcome::Retry(Failure::NotRun(NotRun::Warmup(error.message)))
        }
        Ok(Reply {
            error: Some(error), ..
        }) => Outcome::Answer(Err(Error::Rpc {
            code: error.code,
            message: error.message,
        })),
        Ok(Reply {
            result,
            error: None,
        }) if status.is_success() => Outcome::Answer(Ok(result)),
        Err(e) if status.is_success() => Outcome::Answer(Err(Error::decode(method, e))),
        _ => Outcome::Answer(Err(Error::Http {
            status: status.as_u16(),
            body: excerpt(bytes),
        })),
    }
}

/// The start of a body, as text.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(BODY_EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim().to_owned()
}

/// An `http://host:port[/path]` URL.
fn parse_url(text: &str) -> Result<Url> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(invalid("bitcoind serves plain http:// only"));
    }
    if url.host_str().is_none() {
        return Err(invalid("no host"));
    }
    Ok(url)
}

/// `url` with any user info removed.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    // Both only fail for URLs that cannot have user info, which then have none to hide.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// The credentials in use, re-read from the cookie file when they may have changed.
#[derive(Debug)]
struct Credentials {
    auth: Auth,
    /// The cookie's `(user, password)` as last read.
    cached: Mutex<Option<(String, String)>>,
}

impl Credentials {
    fn new(auth: Auth) -> Self {
        Self {
            auth,
            cached: Mutex::new(None),
        }
    }

    /// The `(user, password)` to send.
    fn current(&self) -> Result<(String, String)> {
        match &self.auth {
            Auth::UserPass { user, password } => Ok((user.clone(), password.clone())),
            Auth::CookieFile(_) => {
                if let Some(pair) = self.cached.lock().clone() {
                    return Ok(pair);
                }
                Ok(self.reload()?.unwrap_or_default())
            }
        }
    }

    /// Reads the cookie file again; `None` for user/password credentials.
    fn reload(&self) -> Result<Option<(String, String)>> {
        let Auth::CookieFile(path) = &self.auth else {
            return Ok(None);
        };
        let cookie_error = |source| Error::Cookie {
            path: path.clone(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(cookie_error)?;
        let pair = parse_cookie(&text).ok_or_else(|| {
            cookie_error(io::Error::new(
                io::ErrorKind::InvalidData,
                "expected user:password",
            ))
        })?;
        *self.cached.lock() = Some(pair.clone());
        Ok(Some(pair))
    }

    /// Makes the next call read the cookie file again.
    fn forget(&self) {
        *self.cached.lock() = None;
    }
}

/// `user:password` (bitcoind writes `__cookie__:<64 hex>`, without a newline).
fn parse_cookie(text: &str) -> Option<(String, String)> {
    let (user, password) = text.trim_end_matches(['\r', '\n']).split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(outcome: Outcome) -> Result<Value> {
        match outcome {
            Outcome::Answer(answer) => answer,
            Outcome::Retry(_) => panic!("expected a final answer"),
        }
    }

    #[test]
    fn request_is_json_rpc_1_0_with_raw_params() {
        let params = [param(Value::from("00ff")), param(Value::from(false))];
        let body = encode_request(7, "getblock", &params);
        assert_eq!(
            body,
            r#"{"jsonrpc":"1.0","id":7,"method":"getblock","params":["00ff",false]}"#
        );
    }

    #[test]
    fn reply_with_error_is_an_rpc_error_whatever_the_status() {
        let body = br#"{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}"#;
        let err = answer(decode_reply(
            "getblock",
            StatusCode::INTERNAL_SERVER_ERROR,
            body,
        ))
        .expect_err("an error reply");
        assert!(
            matches!(&err, Error::Rpc { code: -5, message } if message == "Block not found"),
            "{err:?}"
        );
        assert!(err.is_not_found());
    }

    #[test]
    fn warmup_is_retried() {
        let body =
            br#"{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1}"#;
        let outcome = decode_reply("getblockcount", StatusCode::INTERNAL_SERVER_ERROR, body);
        assert!(matches!(
            outcome,
            Outcome::Retry(Failure::NotRun(NotRun::Warmup(ref m))) if m == "Loading block index..."
        ));
    }

    #[test]
    fn non_json_error_page_is_an_http_error() {
        let err = answer(decode_reply(
            "getblockcount",
            StatusCode::FORBIDDEN,
            b"Forbidden\n",
        ))
        .expect_err("an HTTP error");
        assert!(
            matches!(&err, Error::Http { status: 403, body } if body == "Forbidden"),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_with_200_is_a_decode_error() {
        let err = answer(decode_reply("getblockcount", StatusCode::OK, b"<html>"))
            .expect_err("a decode error");
        assert!(
            matches!(&err, Error::Decode { method, .. } if method == "getblockcount"),
            "{err:?}"
        );
    }

    #[test]
    fn cookie_is_split_at_the_first_colon() {
        assert_eq!(
            parse_cookie("__cookie__:ab:cd\n"),
            Some(("__cookie__".to_owned(), "ab:cd".to_owned()))
        );
        assert_eq!(parse_cookie("no-colon"), None);
    }

    #[test]
    fn urls_are_checked_and_shown_without_credentials() {
        assert!(matches!(
            parse_url("https://127.0.0.1:8332"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("127.0.0.1:8332"),
            Err(Error::InvalidUrl { .. })
        ));
        let url = parse_url("http://alice:secret@127.0.0.1:8332/").expect("valid URL");
        assert_eq!(shown(&url), "http://127.0.0.1:8332/");
    }

    #[test]
    fn wallet_endpoint_is_percent_encoded() {
        let transport = Transport::new(&Config::new(
            "http://127.0.0.1:18443",
            Auth::UserPass {
                user: "u".into(),
                password: "p".into(),
            },
        ))
        .expect("valid config");
        assert_eq!(
            transport.for_wallet("my wallet").url(),
            "http://127.0.0.1:18443/wallet/my%20wallet"
        );
    }

    #[test]
    fn wallet_changing_methods_are_not_idempotent() {
        for method in [
            "generatetoaddress",
            "generateblock",
            "sendtoaddress",
            "getnewaddress",
            "unknown",
        ] {
            assert!(!is_idempotent(method), "{method}");
        }
        for method in ["getblock", "sendrawtransaction", "getbestblockhash"] {
            assert!(is_idempotent(method), "{method}");
        }
    }
}
