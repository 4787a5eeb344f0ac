//! A devnet served over HTTP in a temp dir, and a raw JSON-RPC poster for tests that need
//! HTTP statuses and bodies exactly as sent.

use std::net::SocketAddr;

use base64::Engine as _;
use cairn_devnet::{DevnetConfig, DevnetServer};
use serde_json::{Value, json};

/// A running devnet with its cookie credentials.
pub struct RpcNode {
    pub server: DevnetServer,
    pub url: String,
    /// `__cookie__:<hex>` as read from the cookie file.
    pub auth: String,
    pub dir: tempfile::TempDir,
}

impl RpcNode {
    /// Starts a devnet in a new temp dir, mining `initial_blocks` to its wallet.
    pub async fn start(initial_blocks: u32) -> Self {
        let dir = tempfile::tempdir().expect("test setup");
        Self::start_in(dir, initial_blocks).await
    }

    /// Starts a devnet in `dir`.
    pub async fn start_in(dir: tempfile::TempDir, initial_blocks: u32) -> Self {
        Self::start_with(dir, initial_blocks, None).await
    }

    /// Starts a devnet in `dir` that also mines every `block_time`.
    pub async fn start_with(
        dir: tempfile::TempDir,
        initial_blocks: u32,
        block_time: Option<std::time::Duration>,
    ) -> Self {
        let server = DevnetServer::start(DevnetConfig {
            data_dir: dir.path().join("bitcoin"),
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rpc_user: Some(("alice".into(), "secret".into())),
            block_time,
            initial_blocks,
        })
        .await
        .expect("test setup");
        let auth = std::fs::read_to_string(server.cookie_path()).expect("test setup");
        Self {
            url: server.rpc_url(),
            server,
            auth,
            dir,
        }
    }

    /// Stops the server and starts it again on the same data dir.
    pub async fn restart(self) -> Self {
        let Self { server, dir, .. } = self;
        server.stop().await;
        Self::start_in(dir, 0).await
    }

    /// Calls `method`, which must succeed; its result.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .await
            .unwrap_or_else(|(code, message)| panic!("{method}: error {code}: {message}"))
    }

    /// Calls `method`; `Err((code, message))` for an RPC error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, (i64, String)> {
        let (_, body) = post_raw(
            &self.url,
            &self.auth,
            &json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params}),
        )
        .await;
        let body: Value = serde_json::from_slice(&body).expect("test setup");
        if body["error"].is_null() {
            Ok(body["result"].clone())
        } else {
            Err((
                body["error"]["code"].as_i64().expect("test setup"),
                body["error"]["message"]
                    .as_str()
                    .expect("test setup")
                    .to_owned(),
            ))
        }
    }
}

/// POSTs `body` with Basic auth `userpass`; returns the status and raw body.
pub async fn post_raw(url: &str, userpass: &str, body: &Value) -> (u16, Vec<u8>) {
    post_bytes(url, userpass, body.to_string().into_bytes()).await
}

/// POSTs raw bytes.
pub async fn post_bytes(url: &str, userpass: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let auth = base64::engine::general_purpose::STANDARD.encode(userpass);
    let response = reqwest::Client::new()
        .post(url)
        .header("Authorization", format!("Basic {auth}"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("test setup");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("test setup").to_vec())
}
