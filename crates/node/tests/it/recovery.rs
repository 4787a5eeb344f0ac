//! Crash safety: kill -9 the real binary in the middle of a load, restart it,
//! and check that every acknowledged transaction is still there.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};

use crate::harness::*;

fn spawn(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args([
            "--http-port",
            &port.to_string(),
            "--block-time",
            "100ms",
            "--l1-rpc-port",
            &free_port().to_string(),
            "--log",
            "warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn starts")
}

async fn connect(port: u16) -> DynProvider {
    let provider = ProviderBuilder::new()
        .connect_http(format!("http://127.0.0.1:{port}").parse().expect("url"))
        .erased();
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.get_block_number().await.is_err() {
        assert!(Instant::now() < deadline, "node did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    provider
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let accounts = cairn_node::dev::dev_accounts(10).expect("accounts");
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let provider = connect(port).await;

    // Four senders submit transfers back to back; record every acknowledged hash.
    let mut acked: HashMap<usize, Vec<B256>> = HashMap::new();
    let started = Instant::now();
    let mut nonce = [0u64; 4];
    let mut killed = false;
    'load: while started.elapsed() < Duration::from_secs(3) {
        for s in 0..4 {
            let raw = transfer(&accounts[s].signer, nonce[s], accounts[9].address, 1);
            match provider.send_raw_transaction(&raw).await {
                Ok(pending) => {
                    acked.entry(s).or_default().push(*pending.tx_hash());
                    nonce[s] += 1;
                }
                Err(_) => break 'load,
            }
        }
        if !killed && started.elapsed() > Duration::from_millis(1500) {
            // SIGKILL: no shutdown hook runs.
            let _ = child.kill();
            killed = true;
        }
    }
    let _ = child.kill();
    child.wait().expect("reaped");
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(total > 20, "enough load before the kill ({total})");

    let mut child = spawn(dir.path(), port);
    let provider = connect(port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (s, hashes) in &acked {
        for hash in hashes {
            loop {
                if provider
                    .get_transaction_receipt(*hash)
                    .await
                    .expect("rpc")
                    .is_some()
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "acknowledged tx {hash} of sender {s} was lost"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let n = provider
            .get_transaction_count(accounts[*s].address)
            .await
            .expect("nonce");
        assert_eq!(
            n,
            hashes.len() as u64,
            "sender {s}: every acknowledged nonce executed once"
        );
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
}
