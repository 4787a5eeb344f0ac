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

/// `cairn dev` (the real binary) in a fresh data dir, and a client of it.
struct Dev {
    dir: tempfile::TempDir,
    accounts: Vec<cairn_node::dev::DevAccount>,
    port: u16,
    child: Child,
    provider: DynProvider,
}

impl Dev {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let accounts = cairn_node::dev::dev_accounts(10).expect("accounts");
        let port = free_port();
        let child = spawn(dir.path(), port);
        let provider = connect(port).await;
        Self {
            dir,
            accounts,
            port,
            child,
            provider,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_nothing_acknowledged() {
    let Dev {
        dir,
        accounts,
        port,
        mut child,
        provider,
    } = Dev::start().await;

    // Four senders submit transfers back to back; record every acknowledged hash.
    let mut acked: HashMap<usize, Vec<B256>> = HashMap::new();
    let started = Instant::now();
    let mut nonce = [0u64; 4];
    let mut killed = false;
    'load: while started.elapsed() < Duration::from_secs(3) {
        for s in 0..4 {
            let raw = paid_transfer(&accounts[s].signer, nonce[s], accounts[9].address);
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
        assert_nonce(
            &provider,
            accounts[*s].address,
            hashes.len(),
            &format!("sender {s}"),
        )
        .await;
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
}

/// `cairn node` as the sequencer of the network in `net`, with `failpoint` armed.
fn spawn_sequencer(
    net: &std::path::Path,
    data: &std::path::Path,
    devnet: &Devnet,
    port: u16,
    failpoint: Option<&str>,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .arg("node")
        .arg("--config")
        .arg(net.join("rollup.json"))
        .arg("--sequencer-key")
        .arg(net.join("sequencer.key"))
        .args(["--l1-rpc-url", &devnet.rpc.url, "--l1-network", "regtest"])
        .arg("--l1-rpc-cookie")
        .arg(devnet.cookie())
        .arg("--data-dir")
        .arg(data)
        .args(["--http-port", &port.to_string(), "--log", "warn"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_log(data)).expect("log file"));
    if let Some(point) = failpoint {
        command.env("CAIRN_FAILPOINT", point);
    }
    command.spawn().expect("cairn starts")
}

/// Where the sequencer's stderr goes (overwritten on each start).
fn stderr_log(data: &std::path::Path) -> std::path::PathBuf {
    data.with_extension("stderr")
}

/// The batcher wallet's address, from the start-up banner.
fn batcher_address(child: &mut Child) -> bitcoin::Address {
    use std::io::BufRead as _;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(rest) = line.strip_prefix("Batcher wallet:") {
            let address = rest.split_whitespace().next().expect("address");
            // Keep reading: a closed pipe would make the node's next println! panic.
            std::thread::spawn(move || lines.for_each(drop));
            return address
                .parse::<bitcoin::Address<_>>()
                .expect("address")
                .require_network(bitcoin::Network::Regtest)
                .expect("regtest");
        }
    }
    panic!("no batcher wallet in the banner");
}

/// The outbox's first pending posting, if any: batch hash and commit txid.
fn outbox_commit(data: &std::path::Path) -> Option<(B256, bitcoin::Txid)> {
    let text = std::fs::read_to_string(data.join("batcher").join("outbox.json")).ok()?;
    let outbox: serde_json::Value = serde_json::from_str(&text).expect("json");
    let posting = outbox["pending"].get(0)?;
    let commit: bitcoin::Transaction =
        bitcoin::consensus::encode::deserialize_hex(posting["commit"].as_str().expect("hex"))
            .expect("commit");
    let hash = posting["batch"]["hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("hash");
    Some((hash, commit.compute_txid()))
}

/// A sequencer (the real binary, on a fresh network) aborted at `failpoint` while
/// posting its first batch, then restarted; what Bitcoin and the outbox showed.
struct Crashed {
    /// Batch hash and commit txid in the outbox after the crash, if it had a posting.
    outbox: Option<(B256, bitcoin::Txid)>,
    /// The devnet's mempool after the crash.
    mempool: Vec<bitcoin::Txid>,
    /// Whether any envelope was in that mempool.
    revealed_before_restart: bool,
    /// After the restart: how often each batch was revealed on the best chain.
    posted: std::collections::HashMap<B256, usize>,
    /// After the restart: the commit txid each batch's chunk 0 reveal spends.
    reveal_inputs: std::collections::HashMap<B256, bitcoin::Txid>,
}

impl Crashed {
    /// Batch `hash` was revealed exactly once after the restart, by a reveal spending
    /// `commit` (the one signed before the crash), and no batch was revealed twice.
    fn assert_revealed_once_through(&self, hash: B256, commit: bitcoin::Txid) {
        assert_eq!(
            self.posted.get(&hash),
            Some(&1),
            "batch 0 revealed exactly once"
        );
        assert_eq!(
            self.reveal_inputs.get(&hash),
            Some(&commit),
            "through the commit signed before the crash"
        );
        assert!(self.posted.values().all(|n| *n == 1), "{:?}", self.posted);
    }
}

async fn crash_batcher_at(failpoint: &str) -> Crashed {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let net = dir.path().join("net");
    let status = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("init")
        .arg("--out")
        .arg(&net)
        .args(["--chain-id", "4242", "--l1-rpc-url", &devnet.rpc.url])
        .args(["--l1-network", "regtest", "--l1-rpc-cookie"])
        .arg(devnet.cookie())
        .stdout(Stdio::null())
        .status()
        .expect("init runs");
    assert!(status.success());
    let start = devnet.client.get_block_count().await.expect("count");
    let data = dir.path().join("sequencer");
    let port = free_port();

    let mut child = spawn_sequencer(&net, &data, &devnet, port, Some(failpoint));
    let address = batcher_address(&mut child);
    // One coin only: a commit signed before the crash and never released would leave
    // the batcher unable to pay for anything after the restart.
    devnet
        .client
        .send_to_address(&address, bitcoin::Amount::from_int_btc(1))
        .await
        .expect("fund");
    devnet.mine(1).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the failpoint {failpoint} never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = std::fs::read_to_string(stderr_log(&data)).unwrap_or_default();
    assert!(
        !exit.success() && log.contains(&format!("failpoint {failpoint}: aborting")),
        "aborted at the failpoint ({exit:?}), not for another reason:\n{log}"
    );
    let outbox = outbox_commit(&data);
    let mempool = devnet.client.get_raw_mempool().await.expect("mempool");
    let mut revealed_before_restart = false;
    for txid in &mempool {
        let tx = cairn_test_utils::transaction(&devnet.client, txid).await;
        revealed_before_restart |= !cairn_da::scan_transaction(&tx).is_empty();
    }

    // Restarted without the failpoint, it goes on posting.
    let mut child = spawn_sequencer(&net, &data, &devnet, port, None);
    let provider = connect(port).await;
    let mut derived = false;
    for _ in 0..30 {
        devnet.mine(1).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let safe = provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Safe)
            .await
            .expect("rpc")
            .expect("block");
        if safe.header.number > 0 {
            derived = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(derived, "a batch was derived after the restart");
    let posted = devnet.posted_batches(start).await;
    let mut reveal_inputs = std::collections::HashMap::new();
    let tip = devnet.client.get_block_count().await.expect("count");
    for height in start + 1..=tip {
        let block_hash = devnet.client.get_block_hash(height).await.expect("hash");
        let block = devnet.client.get_block(&block_hash).await.expect("block");
        for tx in &block.txdata {
            for chunk in cairn_da::scan_transaction(tx) {
                if chunk.header.index == 0 {
                    reveal_inputs.insert(chunk.header.batch_hash, tx.input[0].previous_output.txid);
                }
            }
        }
    }
    Crashed {
        outbox,
        mempool,
        revealed_before_restart,
        posted,
        reveal_inputs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batcher_killed_between_commit_and_reveal_posts_its_batch_once() {
    let run = crash_batcher_at("batcher-after-commit").await;
    let (hash, commit) = run.outbox.expect("the outbox holds the batch");
    assert!(run.mempool.contains(&commit), "commit {commit} broadcast");
    assert!(!run.revealed_before_restart, "no reveal yet");
    run.assert_revealed_once_through(hash, commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batcher_killed_before_broadcasting_sends_the_outbox_after_restart() {
    let run = crash_batcher_at("batcher-after-outbox").await;
    let (hash, commit) = run.outbox.expect("the outbox holds the batch");
    assert!(
        !run.mempool.contains(&commit),
        "nothing broadcast before the crash"
    );
    run.assert_revealed_once_through(hash, commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batcher_killed_before_its_outbox_write_releases_the_coins_and_posts_once() {
    let run = crash_batcher_at("batcher-before-outbox").await;
    assert_eq!(run.outbox, None, "nothing reached the outbox");
    assert!(
        run.mempool.is_empty(),
        "nothing broadcast: {:?}",
        run.mempool
    );
    // The commit signed before the crash held the wallet's only coin: posting again
    // proves it was released.
    assert!(!run.posted.is_empty());
    assert!(run.posted.values().all(|n| *n == 1), "{:?}", run.posted);
}

/// `cairn dev` mining only on demand, with `failpoint` armed; stderr in `<dir>.stderr`.
fn spawn_dev(dir: &std::path::Path, port: u16, l1_port: u16, failpoint: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args(["--http-port", &port.to_string()])
        .args(["--l1-rpc-port", &l1_port.to_string()])
        .args([
            "--l1-block-time",
            "off",
            "--block-time",
            "100ms",
            "--log",
            "warn",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_log(dir)).expect("log file"));
    if let Some(point) = failpoint {
        command.env("CAIRN_FAILPOINT", point);
    }
    command.spawn().expect("cairn starts")
}

async fn dev_l1(dir: &std::path::Path, l1_port: u16) -> cairn_l1::Client {
    let config = cairn_l1::Config::new(
        format!("http://127.0.0.1:{l1_port}"),
        cairn_l1::Auth::CookieFile(dir.join("bitcoin").join(".cookie")),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(client) = cairn_l1::Client::connect(&config, bitcoin::Network::Regtest).await {
            return client;
        }
        assert!(Instant::now() < deadline, "the devnet did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mine(client: &cairn_l1::Client) {
    let to = client.get_new_address(None, None).await.expect("address");
    client.generate_to_address(1, &to).await.expect("mine");
}

/// Kills `cairn dev` (abort, as kill -9) at `failpoint` in the middle of a payout, restarts
/// it and checks that the withdrawal is paid exactly once.
async fn crash_coordinator_at(failpoint: &str) {
    use alloy::network::EthereumWallet;
    use alloy_sol_types::SolCall as _;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("dev");
    let (port, l1_port) = (free_port(), free_port());
    let mut child = spawn_dev(&data, port, l1_port, Some(failpoint));
    connect(port).await;
    let l1 = dev_l1(&data, l1_port).await;
    let account = cairn_node::dev::dev_accounts(1)
        .expect("accounts")
        .remove(0);
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(account.signer.clone()))
        .connect_http(format!("http://127.0.0.1:{port}").parse().expect("url"))
        .erased();

    // A deposit backs the peg, then a withdrawal of part of it.
    let recipient = alloy::primitives::Address::repeat_byte(0x31);
    let answer: serde_json::Value = provider
        .raw_request("cairn_getDepositAddress".into(), (recipient,))
        .await
        .expect("deposit address");
    let address: bitcoin::Address<bitcoin::address::NetworkUnchecked> = answer["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("address");
    l1.send_to_address(
        &address.assume_checked(),
        bitcoin::Amount::from_sat(1_000_000),
    )
    .await
    .expect("deposit");
    mine(&l1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider
        .get_balance(recipient)
        .await
        .expect("balance")
        .is_zero()
    {
        assert!(Instant::now() < deadline, "the deposit was never credited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let payee = l1
        .get_new_address(None, Some(cairn_l1::types::AddressType::Bech32))
        .await
        .expect("address");
    let request = alloy::rpc::types::TransactionRequest {
        from: Some(account.address),
        to: Some(cairn_execution::withdraw::WITHDRAWAL_CONTRACT.into()),
        value: Some(alloy::primitives::U256::from(100_000u64 * 10_000_000_000)),
        input: alloy::primitives::Bytes::from(
            cairn_execution::withdraw::withdrawCall {
                bitcoinAddress: payee.to_string(),
            }
            .abi_encode(),
        )
        .into(),
        ..Default::default()
    };
    let receipt = send_and_wait(&provider, request).await;
    let hash = receipt.transaction_hash;

    // Blocks until the coordinator reaches the failpoint and the process dies there.
    let mut died = false;
    for _ in 0..30 {
        mine(&l1).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        if child.try_wait().expect("wait").is_some() {
            died = true;
            break;
        }
    }
    let log = std::fs::read_to_string(stderr_log(&data)).unwrap_or_default();
    assert!(
        died && log.contains(&format!("failpoint {failpoint}: aborting")),
        "died at the failpoint:\n{log}"
    );

    // Restarted, it finishes the payout it had: paid once.
    let mut child = spawn_dev(&data, port, l1_port, None);
    let provider = connect(port).await;
    let l1 = dev_l1(&data, l1_port).await;
    let mut paid = serde_json::Value::Null;
    for _ in 0..30 {
        let status: Vec<serde_json::Value> = provider
            .raw_request("cairn_getWithdrawalStatus".into(), (hash,))
            .await
            .expect("status");
        if status[0]["status"] == "paid" {
            paid = status[0].clone();
            break;
        }
        mine(&l1).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(paid["status"], "paid", "never paid after the restart");
    let txid = paid_by(&paid);
    let tx = l1
        .get_raw_transaction(&txid)
        .await
        .expect("rpc")
        .expect("payout");
    mine(&l1).await;
    mine(&l1).await;
    assert_eq!(
        l1.get_received_by_address(&payee, 1)
            .await
            .expect("received"),
        tx.output[0].value,
        "exactly one payout reached the address"
    );
    let supply = cairn_test_utils::supply(&provider).await;
    assert_eq!(supply["withdrawalsPaidSat"], "0x186a0", "{supply}");
    assert_eq!(supply["unbackedWei"], "0x0", "{supply}");
    assert_eq!(supply["missingWei"], "0x0", "{supply}");
    child.kill().expect("kill");
    child.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_after_signing_broadcasts_the_payout_once_after_restart() {
    crash_coordinator_at("payout-signed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_after_broadcasting_pays_once_after_restart() {
    crash_coordinator_at("payout-broadcast").await;
}

/// `cairn dev` with `failpoint` armed and its stderr in `log`.
fn spawn_with(dir: &std::path::Path, port: u16, failpoint: &str, log: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args([
            "--http-port",
            &port.to_string(),
            "--l1-rpc-port",
            &free_port().to_string(),
            "--log",
            "warn",
        ])
        .env("CAIRN_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("cairn starts")
}

/// Waits up to `limit` for `child` to exit on its own.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_settlement_task_stops_the_node_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr");
    let mut child = spawn_with(
        &dir.path().join("data"),
        free_port(),
        "panic:settlement-poll",
        &log,
    );
    let status = wait_exit(&mut child, Duration::from_secs(60));
    if status.is_none() {
        let _ = child.kill();
    }
    let text = std::fs::read_to_string(&log).expect("log");
    let status = status.unwrap_or_else(|| panic!("the node kept running:\n{text}"));
    assert!(!status.success(), "exits non-zero ({status:?}):\n{text}");
    assert!(
        text.contains("the settlement task panicked: failpoint settlement-poll: panicking"),
        "says which task stopped and why:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_shuts_down_cleanly_and_loses_nothing_acknowledged() {
    let Dev {
        dir,
        accounts,
        port,
        mut child,
        provider,
    } = Dev::start().await;

    let cookie = dir.path().join("bitcoin").join(".cookie");
    assert!(cookie.exists(), "the devnet's cookie {}", cookie.display());
    let mut acked: Vec<B256> = Vec::new();
    let started = Instant::now();
    let mut terminated = None;
    let mut nonce = 0u64;
    while started.elapsed() < Duration::from_secs(10) {
        let raw = paid_transfer(&accounts[0].signer, nonce, accounts[9].address);
        match provider.send_raw_transaction(&raw).await {
            Ok(pending) => {
                acked.push(*pending.tx_hash());
                nonce += 1;
            }
            Err(_) => break,
        }
        if terminated.is_none() && started.elapsed() > Duration::from_millis(1500) {
            // SIGTERM, as systemd, docker and Kubernetes stop a service.
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(sent.success());
            terminated = Some(Instant::now());
        }
    }
    let status = wait_exit(&mut child, Duration::from_secs(30)).expect("exits after SIGTERM");
    assert!(status.success(), "a clean shutdown ({status:?})");
    // As bitcoind does, the devnet takes its cookie with it: a client that starts it again
    // never reads a stale secret.
    assert!(!cookie.exists(), "{} left behind", cookie.display());
    assert!(
        acked.len() > 10,
        "enough load before SIGTERM ({})",
        acked.len()
    );

    let mut child = spawn(dir.path(), port);
    let provider = connect(port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for hash in &acked {
        while provider
            .get_transaction_receipt(*hash)
            .await
            .expect("rpc")
            .is_none()
        {
            assert!(Instant::now() < deadline, "acknowledged tx {hash} was lost");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_nonce(&provider, accounts[0].address, acked.len(), "sender 0").await;
    child.kill().expect("kill");
    child.wait().expect("reaped");
}
