//! Hostile clients, from loopback: 10,000 malformed, oversized or deeply nested requests
//! against the Ethereum RPC and 2,000 against the devnet's bitcoind RPC, plus slow
//! connections that never finish their request (slowloris). Every request gets an HTTP
//! answer, well-formed requests keep being answered, memory stays bounded, nothing
//! panics. The limits are in docs/RELIABILITY.md.

use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use tokio::io::AsyncWriteExt as _;

use crate::harness::*;

/// The node process's resident memory, in MiB (the node runs in this process).
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Request `i` of the hostile mix (deterministic: the generator is seeded).
fn hostile_body(i: usize, rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    match i % 12 {
        0 => (0..rng.random_range(1..200))
            .map(|_| rng.random())
            .collect(),
        1 => br#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumb"#.to_vec(),
        2 => {
            let depth = rng.random_range(200..20_000);
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes()
        }
        3 => br#"{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}"#.to_vec(),
        4 => br#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[{"a":1},[],7]}"#
            .to_vec(),
        5 => {
            let junk: Vec<u8> = (0..rng.random_range(1..300))
                .map(|_| rng.random())
                .collect();
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
                hex::encode(junk)
            )
            .into_bytes()
        }
        6 if i % 600 == 6 => {
            let call = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
            format!("[{}]", vec![call; 1_001].join(",")).into_bytes()
        }
        7 => format!(
            r#"{{"jsonrpc":"2.0","id":"{}","method":"eth_chainId","params":[]}}"#,
            "x".repeat(rng.random_range(1_000..200_000))
        )
        .into_bytes(),
        8 if i % 2_000 == 8 => vec![b'['; 6 * 1024 * 1024],
        9 => br#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId","params":[]}"#.to_vec(),
        10 => format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x{}",false]}}"#,
            "f".repeat(rng.random_range(17..100))
        )
        .into_bytes(),
        _ => br#"[]"#.to_vec(),
    }
}

/// Posts `bodies` with `parallel` in flight; how many got an HTTP answer, and the
/// statuses seen.
async fn flood(
    url: &str,
    auth: Option<(&str, &str)>,
    bodies: Vec<Vec<u8>>,
    parallel: usize,
) -> (usize, std::collections::BTreeSet<u16>) {
    use futures::StreamExt as _;
    let client = reqwest::Client::new();
    let answers: Vec<Option<u16>> = futures::stream::iter(bodies)
        .map(|body| {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .timeout(Duration::from_secs(30))
                .body(body);
            if let Some((user, password)) = auth {
                request = request.basic_auth(user, Some(password));
            }
            async move {
                let response = request.send().await.ok()?;
                let status = response.status().as_u16();
                response.bytes().await.ok()?;
                Some(status)
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let statuses = answers.iter().flatten().copied().collect();
    (answers.iter().flatten().count(), statuses)
}

/// Opens `count` connections that send part of a request and then nothing.
async fn slowloris(addr: std::net::SocketAddr, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for i in 0..count {
        let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
            break;
        };
        let partial: &[u8] = if i % 2 == 0 {
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"
        } else {
            // Complete headers, a body that never arrives.
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\""
        };
        let _ = stream.write_all(partial).await;
        held.push(stream);
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ethereum_rpc_survives_hostile_clients() {
    let node = TestNode::start().await;
    let url = node.node.http_url();
    let provider = node.provider(0);
    use alloy::providers::Provider as _;
    let before = provider.get_block_number().await.expect("serving");
    let rss_before = rss_mib();
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let bodies: Vec<Vec<u8>> = (0..10_000).map(|i| hostile_body(i, &mut rng)).collect();
    let started = Instant::now();
    let (answered, statuses) = flood(&url, None, bodies, 32).await;
    let took = started.elapsed();
    assert_eq!(answered, 10_000, "every request got an HTTP answer");
    assert!(
        statuses.iter().all(|s| [200, 400, 413, 415].contains(s)),
        "answers: {statuses:?}"
    );
    assert!(statuses.contains(&413), "the oversized ones: {statuses:?}");

    // Params nested two million deep (4 MiB, under the body limit): refused as invalid
    // params, without recursing into them.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":{}{}}}"#,
        "[".repeat(2_000_000),
        "]".repeat(2_000_000)
    );
    let answer: serde_json::Value = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");

    // Slow connections that never finish do not keep others out.
    let held = slowloris(node.node.rpc_addr, 200).await;
    assert_eq!(held.len(), 200);
    // A new client on a new connection (a pooled one would not show it).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        fresh
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#)
            .send(),
    )
    .await
    .expect("answered while 200 connections hang")
    .expect("http");
    let value: serde_json::Value = answer.json().await.expect("json");
    let now = u64::from_str_radix(
        value["result"]
            .as_str()
            .expect("a block number")
            .trim_start_matches("0x"),
        16,
    )
    .expect("hex");
    assert!(now >= before);
    drop(held);

    let rss_after = rss_mib();
    assert!(
        rss_after < rss_before + 512,
        "memory stays bounded: {rss_before} MiB before, {rss_after} MiB after"
    );
    // And a real transaction still goes through.
    let to = alloy::primitives::Address::repeat_byte(0x77);
    let hash = *provider
        .send_raw_transaction(&transfer(&node.signer(0), 0, to, 5))
        .await
        .expect("accepted")
        .tx_hash();
    assert!(receipt(&provider, hash).await.status());
    println!(
        "hostile RPC: 10,000 requests answered in {took:?} (32 in flight), statuses {statuses:?}, RSS {rss_before} → {rss_after} MiB"
    );
    node.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devnet_rpc_survives_hostile_clients() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let cookie = std::fs::read_to_string(devnet.cookie()).expect("cookie");
    let (user, password) = cookie.trim().split_once(':').expect("user:password");
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut bodies = Vec::new();
    for i in 0..2_000 {
        bodies.push(match i % 6 {
            0 => (0..rng.random_range(1..200))
                .map(|_| rng.random())
                .collect(),
            1 => br#"{"jsonrpc":"1.0","id":1,"method":"getblockcou"#.to_vec(),
            2 => format!(
                r#"{{"jsonrpc":"1.0","id":1,"method":"getblock","params":{}{}}}"#,
                "[".repeat(rng.random_range(200..20_000)),
                "]"
            )
            .into_bytes(),
            3 => br#"{"jsonrpc":"1.0","id":1,"method":"nosuchcall","params":[]}"#.to_vec(),
            4 => br#"{"jsonrpc":"1.0","id":1,"method":"getblockhash","params":["x",{}]}"#.to_vec(),
            _ => format!(
                r#"{{"jsonrpc":"1.0","id":1,"method":"sendrawtransaction","params":["{}"]}}"#,
                hex::encode(
                    (0..rng.random_range(1..300))
                        .map(|_| rng.random::<u8>())
                        .collect::<Vec<_>>()
                )
            )
            .into_bytes(),
        });
    }
    let (answered, statuses) =
        flood(&devnet.server.rpc_url(), Some((user, password)), bodies, 32).await;
    assert_eq!(answered, 2_000, "every request got an HTTP answer");
    assert!(
        statuses.iter().all(|s| [200, 400, 404, 500].contains(s)),
        "bitcoind's statuses only: {statuses:?}"
    );
    let held = slowloris(devnet.server.rpc_addr(), 100).await;
    let count = tokio::time::timeout(Duration::from_secs(5), devnet.client.get_block_count())
        .await
        .expect("answered while 100 connections hang")
        .expect("serving");
    assert_eq!(count, 101);
    drop(held);
    println!("hostile devnet RPC: 2,000 requests answered, statuses {statuses:?}");
}
