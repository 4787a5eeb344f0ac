//! Transport behaviour: auth, bitcoind's error replies, retries, timeouts, the network
//! check, cookies.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bitcoin::{Address, Network};
use cairn_l1::{Auth, Client, Error, RetryPolicy, code};
use serde_json::json;
use tokio::net::TcpListener;

use crate::fake::{Call, FakeBitcoind, Reply};
use crate::{config, good_auth, user_pass};

fn regtest_address() -> Address {
    "bcrt1q6q20cxuy6695amfsxmmh6jkxrf4ae8upsj3flg"
        .parse::<Address<_>>()
        .expect("valid address")
        .require_network(Network::Regtest)
        .expect("regtest address")
}

/// Answers every `getblockcount` with 7.
fn block_count(_: &Call) -> Reply {
    Reply::Result(json!(7))
}

/// A regtest client of `url` with `auth` and the fast test retries.
fn client(url: &str, auth: Auth) -> Client {
    Client::new(&config(url, auth), Network::Regtest).expect("client")
}

/// A fake answering with `handler` for the good credentials, and a client of it.
async fn serve(handler: impl Fn(&Call) -> Reply + Send + Sync + 'static) -> (FakeBitcoind, Client) {
    let fake = FakeBitcoind::start(&user_pass(), handler).await;
    let client = client(&fake.url(), good_auth());
    (fake, client)
}

/// `Client::connect` to `fake` for `network`, with the good credentials.
async fn connect(fake: &FakeBitcoind, network: Network) -> cairn_l1::Result<Client> {
    Client::connect(&config(&fake.url(), good_auth()), network).await
}

/// A temp dir and the path of a `.cookie` in it, holding `contents` if given.
fn cookie_file(contents: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cookie = dir.path().join(".cookie");
    if let Some(contents) = contents {
        std::fs::write(&cookie, contents).expect("write cookie");
    }
    (dir, cookie)
}

/// A local address nobody listens on (bound, then freed).
async fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr")
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_without_retries() {
    let fake = FakeBitcoind::start(&user_pass(), block_count).await;
    let auth = Auth::UserPass {
        user: "alice".into(),
        password: "wrong".into(),
    };
    let client = client(&fake.url(), auth);

    let err = client.get_block_count().await.expect_err("401");

    assert!(
        matches!(&err, Error::Auth { url } if *url == format!("{}/", fake.url())),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("--l1-rpc-cookie"), "{text}");
    assert_eq!(fake.unauthorized(), 1);
}

#[tokio::test]
async fn rpc_errors_keep_code_and_message_and_are_not_retried() {
    let (fake, client) = serve(|_| Reply::Error(-5, "Block not found".into())).await;

    let hash = "0000000000000000000000000000000000000000000000000000000000000000"
        .parse()
        .expect("hash");
    let err = client.get_block(&hash).await.expect_err("-5");

    assert!(
        matches!(&err, Error::Rpc { code: -5, message } if message == "Block not found"),
        "{err:?}"
    );
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "bitcoind answered with error -5: Block not found"
    );
    assert_eq!(fake.count("getblock"), 1);
}

#[tokio::test]
async fn unknown_method_is_404_minus_32601() {
    let (fake, client) = serve(|_| Reply::Error(-32601, "Method not found".into())).await;

    let err = client
        .call_raw("nosuchmethod", vec![])
        .await
        .expect_err("404");

    assert!(
        matches!(&err, Error::Rpc { code: code::METHOD_NOT_FOUND, message } if message == "Method not found"),
        "{err:?}"
    );
    assert!(err.is_method_not_found());
    assert_eq!(fake.count("nosuchmethod"), 1);
}

#[tokio::test]
async fn warmup_is_retried_until_bitcoind_is_ready() {
    let seen = AtomicUsize::new(0);
    let (fake, client) = serve(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::Error(-28, "Loading block index…".into())
        } else {
            Reply::Result(json!(7))
        }
    })
    .await;

    assert_eq!(
        client.get_block_count().await.expect("ready after warmup"),
        7
    );
    assert_eq!(fake.count("getblockcount"), 3);
}

#[tokio::test]
async fn endless_warmup_ends_with_the_warmup_error() {
    let (fake, client) = serve(|_| Reply::Error(-28, "Verifying blocks…".into())).await;

    let err = client.get_block_count().await.expect_err("never ready");

    assert!(err.is_warmup(), "{err:?}");
    assert_eq!(fake.count("getblockcount"), 6, "max_attempts");
}

#[tokio::test]
async fn busy_503_is_retried() {
    let seen = AtomicUsize::new(0);
    let (fake, client) = serve(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Raw(503, "Work queue depth exceeded".into())
        } else {
            Reply::Result(json!([
                "3d5527cac0891829f6bf6a5a842d86ea368234c14ef88d2a1f629308cece7bb3"
            ]))
        }
    })
    .await;

    // Not idempotent, but a 503 means bitcoind did not run it.
    let hashes = client
        .generate_to_address(1, &regtest_address())
        .await
        .expect("second attempt");

    assert_eq!(
        hashes[0].to_string(),
        "3d5527cac0891829f6bf6a5a842d86ea368234c14ef88d2a1f629308cece7bb3"
    );
    assert_eq!(fake.count("generatetoaddress"), 2);
}

#[tokio::test]
async fn unexpected_status_is_an_http_error() {
    let (_fake, client) = serve(|_| Reply::Raw(403, "Forbidden".into())).await;

    let err = client.get_block_count().await.expect_err("403");

    assert!(
        matches!(&err, Error::Http { status: 403, body } if body == "Forbidden"),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_server_appears() {
    // Reserve a port, free it, and start the fake on it a little later.
    let addr = free_addr().await;
    let url = format!("http://{addr}");
    let mut config = config(&url, good_auth());
    config.retry.max_attempts = 30;
    let client = Client::new(&config, Network::Regtest).expect("client");
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = TcpListener::bind(addr).await.expect("rebind");
        FakeBitcoind::serve(listener, &user_pass(), |_| {
            Reply::Result(json!([
                "2b0f22d10f663def3d4b3e689124dcc0089e22fb31e50042fca280f94b4619a3"
            ]))
        })
    });

    // Even a non-idempotent call is retried while the connection is refused.
    let started = tokio::time::Instant::now();
    let hashes = client
        .generate_to_address(1, &regtest_address())
        .await
        .expect("served once the fake is up");
    let fake = server.await.expect("server task");

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(hashes.len(), 1);
    assert_eq!(fake.count("generatetoaddress"), 1, "mined exactly once");
}

#[tokio::test]
async fn nobody_listening_ends_unreachable_after_the_retries() {
    let addr = free_addr().await;
    let url = format!("http://{addr}");
    let client = client(&url, good_auth());

    let err = client.get_block_count().await.expect_err("nobody there");

    match &err {
        Error::Unreachable { url: shown, source } => {
            assert_eq!(*shown, format!("{url}/"));
            assert!(source.is_connect(), "{source:?}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(err.to_string().contains("gave up retrying"), "{err}");
}

#[tokio::test]
async fn timeouts_are_retried_for_idempotent_calls() {
    let fake = FakeBitcoind::start(&user_pass(), |_| {
        Reply::Delayed(Duration::from_secs(2), Box::new(Reply::Result(json!(7))))
    })
    .await;
    let mut config = config(&fake.url(), good_auth());
    config.timeout = Duration::from_millis(100);
    config.retry.max_attempts = 3;
    let client = Client::new(&config, Network::Regtest).expect("client");

    let err = client.get_block_count().await.expect_err("too slow");

    assert!(
        matches!(&err, Error::Unreachable { source, .. } if source.is_timeout()),
        "{err:?}"
    );
    assert_eq!(fake.count("getblockcount"), 3);
}

#[tokio::test]
async fn timeouts_are_not_retried_for_generatetoaddress() {
    let fake = FakeBitcoind::start(&user_pass(), |_| {
        Reply::Delayed(Duration::from_secs(2), Box::new(Reply::Result(json!([]))))
    })
    .await;
    let mut config = config(&fake.url(), good_auth());
    config.timeout = Duration::from_millis(100);
    let client = Client::new(&config, Network::Regtest).expect("client");

    let err = client
        .generate_to_address(1, &regtest_address())
        .await
        .expect_err("too slow");

    assert!(
        matches!(&err, Error::Indeterminate { method, source, .. } if method == "generatetoaddress" && source.is_timeout()),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("may or may not have taken effect"),
        "{err}"
    );
    assert_eq!(fake.count("generatetoaddress"), 1, "never sent twice");
}

/// `getblockchaininfo` of a node on `chain`.
fn blockchain_info(chain: &'static str) -> impl Fn(&crate::fake::Call) -> Reply {
    move |_| {
        Reply::Result(json!({
            "chain": chain, "blocks": 0, "headers": 0,
            "bestblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            "bits": "207fffff",
            "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
            "difficulty": 4.656542373906925e-10, "time": 1296688602, "mediantime": 1296688602,
            "verificationprogress": 1, "initialblockdownload": true,
            "chainwork": "0000000000000000000000000000000000000000000000000000000000000002",
            "size_on_disk": 293, "pruned": false, "warnings": []
        }))
    }
}

#[tokio::test]
async fn connect_refuses_a_node_on_another_network() {
    let fake = FakeBitcoind::start(&user_pass(), blockchain_info("main")).await;

    let err = connect(&fake, Network::Regtest)
        .await
        .expect_err("mainnet node with a regtest config");

    assert!(
        matches!(&err, Error::WrongNetwork { expected: Network::Regtest, actual } if actual == "main"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the Bitcoin node is on chain \"main\" but Cairn is configured for \"regtest\": refusing to use it (check --l1-rpc-url)"
    );
}

#[tokio::test]
async fn connect_accepts_the_expected_network() {
    let fake = FakeBitcoind::start(&user_pass(), blockchain_info("testnet4")).await;

    let client = connect(&fake, Network::Testnet4)
        .await
        .expect("testnet4 node for a testnet4 config");

    assert_eq!(client.network(), Network::Testnet4);
    assert_eq!(fake.count("getblockchaininfo"), 1);
}

#[tokio::test]
async fn cookie_is_read_and_read_again_after_bitcoind_restarts() {
    let (_dir, cookie) = cookie_file(Some("__cookie__:aaaa"));
    let fake = FakeBitcoind::start("__cookie__:aaaa", block_count).await;
    let client = client(&fake.url(), Auth::CookieFile(cookie.clone()));
    assert_eq!(client.get_block_count().await.expect("first cookie"), 7);

    // bitcoind restarts: new cookie file, old one refused.
    std::fs::write(&cookie, "__cookie__:bbbb").expect("rewrite cookie");
    fake.set_credentials("__cookie__:bbbb");

    assert_eq!(client.get_block_count().await.expect("second cookie"), 7);
    assert_eq!(
        fake.unauthorized(),
        1,
        "one 401 with the stale cookie, then the new one"
    );
    assert_eq!(fake.count("getblockcount"), 2);
}

#[tokio::test]
async fn a_cookie_that_does_not_match_is_an_auth_error() {
    let (_dir, cookie) = cookie_file(Some("__cookie__:stale"));
    let fake = FakeBitcoind::start("__cookie__:fresh", block_count).await;
    let client = client(&fake.url(), Auth::CookieFile(cookie));

    let err = client.get_block_count().await.expect_err("wrong cookie");

    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert_eq!(fake.unauthorized(), 1);
}

#[tokio::test]
async fn a_missing_cookie_is_waited_for_then_reported() {
    let (dir, cookie) = cookie_file(None);
    let fake = FakeBitcoind::start("__cookie__:late", block_count).await;
    let mut config = config(&fake.url(), Auth::CookieFile(cookie.clone()));
    config.retry.max_attempts = 30;
    let client = Client::new(&config, Network::Regtest).expect("client");

    // bitcoind writes its cookie a moment after we start.
    let writer = {
        let cookie = cookie.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            std::fs::write(&cookie, "__cookie__:late").expect("write cookie");
        })
    };
    assert_eq!(client.get_block_count().await.expect("cookie appeared"), 7);
    writer.await.expect("writer");

    // Without any cookie, the retries end in a Cookie error naming the file.
    let missing = dir.path().join("nowhere").join(".cookie");
    let mut config = crate::config(&fake.url(), Auth::CookieFile(missing.clone()));
    config.retry = RetryPolicy {
        max_attempts: 2,
        ..config.retry
    };
    let client = Client::new(&config, Network::Regtest).expect("client");
    let err = client.get_block_count().await.expect_err("no cookie");
    assert!(
        matches!(&err, Error::Cookie { path, .. } if *path == missing),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("cannot read the bitcoind cookie file"),
        "{err}"
    );
}

#[tokio::test]
async fn wallet_calls_go_to_the_wallet_endpoint() {
    let (fake, client) = serve(|_| Reply::Result(json!(50.0))).await;
    let wallet = client.for_wallet("golden");

    assert_eq!(wallet.url(), format!("{}/wallet/golden", fake.url()));
    assert_eq!(
        wallet.get_balance().await.expect("balance"),
        bitcoin::Amount::from_int_btc(50)
    );
}

#[tokio::test]
async fn requests_are_json_rpc_1_0_with_increasing_ids() {
    let (fake, client) = serve(block_count).await;
    let shared = Arc::new(client);

    shared.get_block_count().await.expect("first");
    shared.get_block_count().await.expect("second");

    let bodies: Vec<serde_json::Value> = fake
        .calls()
        .iter()
        .map(|c| serde_json::from_str(&c.body).expect("JSON body"))
        .collect();
    assert_eq!(
        bodies[0],
        json!({"jsonrpc": "1.0", "id": 1, "method": "getblockcount", "params": []})
    );
    assert_eq!(bodies[1]["id"], 2);
}
