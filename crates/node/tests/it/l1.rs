//! The node's one path to Bitcoin: the L1 client against the embedded devnet's
//! bitcoind-compatible RPC, the network and credential checks at start-up, the follower
//! reporting reorgs, and `cairn dev` serving the devnet from the real binary.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bitcoin::Network;
use cairn_devnet::{DevnetConfig, DevnetServer};
use cairn_l1::{Auth, Client};
use cairn_node::{L1Config, launch};

use crate::harness::*;

async fn devnet(dir: &std::path::Path) -> DevnetServer {
    DevnetServer::start(DevnetConfig {
        data_dir: dir.join("bitcoin"),
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        rpc_user: Some(("cairn".into(), "s3cret".into())),
        block_time: None,
        initial_blocks: 101,
    })
    .await
    .expect("devnet starts")
}

fn l1_config(devnet: &DevnetServer, auth: Auth, network: Network) -> L1Config {
    L1Config {
        rpc: cairn_l1::Config::new(devnet.rpc_url(), auth),
        network,
        poll_interval: Duration::from_millis(50),
    }
}

async fn wait_for(l1: &cairn_node::L1, height: u32) {
    for _ in 0..200 {
        if l1.status().tip.is_some_and(|t| t.0 == height) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the node never saw L1 height {height}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_follows_the_devnet_tip_and_reports_reorgs() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let accounts = cairn_node::dev::dev_accounts(1).expect("accounts");
    let mut config = config(&dir.path().join("l2"), &accounts);
    config.l1 = Some(l1_config(
        &devnet,
        Auth::CookieFile(devnet.cookie_path().to_owned()),
        Network::Regtest,
    ));
    let node = launch(config).await.expect("node starts");
    let l1 = node.l1.as_ref().expect("l1 configured");
    assert_eq!(l1.status().tip.map(|t| t.0), Some(101));

    let client = l1.client();
    let address = client.get_new_address(None, None).await.expect("address");
    let mined = client.generate_to_address(3, &address).await.expect("mine");
    wait_for(l1, 104).await;
    assert_eq!(l1.status().tip, Some((104, mined[2])));
    assert_eq!(l1.status().reorgs, 0);

    // Invalidate the last two blocks and mine a longer branch: a 2-block reorg.
    client
        .invalidate_block(&mined[1])
        .await
        .expect("invalidate");
    let branch = client
        .generate_to_address(3, &address)
        .await
        .expect("mine branch");
    wait_for(l1, 105).await;
    let status = l1.status();
    assert_eq!(status.tip, Some((105, branch[2])));
    assert_eq!((status.reorgs, status.disconnected), (1, 2));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_network_and_bad_credentials_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let accounts = cairn_node::dev::dev_accounts(1).expect("accounts");

    // A mainnet configuration pointed at a regtest node must not start.
    let make = |name: &str| config(&dir.path().join(name), &accounts);
    let mut config = make("main");
    config.l1 = Some(l1_config(
        &devnet,
        Auth::CookieFile(devnet.cookie_path().to_owned()),
        Network::Bitcoin,
    ));
    let err = format!("{:#}", launch(config).await.err().expect("refused"));
    assert!(
        err.contains("\"regtest\"") && err.contains("\"main\""),
        "{err}"
    );
    assert!(
        !dir.path().join("main").exists(),
        "nothing written before the L1 check"
    );

    let mut config = make("auth");
    let auth = Auth::UserPass {
        user: "cairn".into(),
        password: "wrong".into(),
    };
    config.l1 = Some(l1_config(&devnet, auth, Network::Regtest));
    let err = format!("{:#}", launch(config).await.err().expect("refused"));
    assert!(err.contains("401") || err.contains("credentials"), "{err}");

    // The right user/password works.
    let mut config = make("ok");
    let auth = Auth::UserPass {
        user: "cairn".into(),
        password: "s3cret".into(),
    };
    config.l1 = Some(l1_config(&devnet, auth, Network::Regtest));
    launch(config).await.expect("starts").shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_dev_serves_its_devnet_over_bitcoind_rpc() {
    let dir = tempfile::tempdir().expect("dir");
    let (port, l1_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["dev", "--data-dir"])
        .arg(dir.path())
        .args([
            "--http-port",
            &port.to_string(),
            "--l1-rpc-port",
            &l1_port.to_string(),
            "--l1-block-time",
            "200ms",
            "--log",
            "warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn starts");
    let cookie = dir.path().join("bitcoin").join(".cookie");
    for _ in 0..300 {
        if cookie.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rpc = cairn_l1::Config::new(
        format!("http://127.0.0.1:{l1_port}"),
        Auth::CookieFile(cookie),
    );
    let client = Client::connect(&rpc, Network::Regtest)
        .await
        .expect("devnet answers");
    let first = client.get_block_count().await.expect("height");
    assert!(first >= 101, "{first}");
    assert!(client.get_balance().await.expect("balance").to_btc() >= 50.0);
    // It mines on its interval.
    let mut height = first;
    for _ in 0..100 {
        height = client.get_block_count().await.expect("height");
        if height >= first + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It wrote the network's config beside its data, naming the devnet as L1.
    let rollup_path = dir.path().join("rollup.json");
    for _ in 0..300 {
        if rollup_path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rollup = cairn_node::rollup::load(&rollup_path).expect("rollup.json");
    let _ = child.kill();
    let _ = child.wait();
    assert!(height >= first + 2, "{first} -> {height}");
    assert_eq!(rollup.l1.network, cairn_primitives::L1Network::Regtest);
    assert!(rollup.l1.height >= 101);
    assert_eq!(rollup.chain.chain_id, 31337);
    let key =
        cairn_node::rollup::load_sequencer_key(&dir.path().join("sequencer.key")).expect("key");
    assert_eq!(
        rollup.sequencer_key,
        cairn_node::rollup::public_key_hex(&key)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_a_network_at_the_l1_tip_once() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let args = cairn_node::commands::init::InitArgs {
        l1: cairn_node::commands::L1RpcArgs {
            l1_rpc_url: devnet.rpc_url(),
            l1_rpc_cookie: Some(devnet.cookie_path().to_owned()),
            l1_rpc_user: None,
            l1_rpc_password: None,
            l1_network: Network::Regtest,
        },
        out: dir.path().join("net"),
        chain_id: 4242,
        gas_limit: 30_000_000,
        finality_depth: None,
        standby_sequencers: 1,
        sequencer_timeout: Some(4),
        peg: cairn_node::commands::PegArgs {
            peg_signers: (1..=3u8).map(x_only_hex).collect(),
            peg_threshold: Some(2),
            peg_recovery_keys: (11..=12u8).map(x_only_hex).collect(),
            peg_recovery_threshold: Some(1),
            peg_recovery_delay: 12_960,
            peg_reclaim_delay: 4_320,
            deposit_confirmations: None,
            min_deposit_sat: 10_000,
            min_withdrawal_sat: 10_000,
        },
    };
    // A threshold above the number of signers is refused before anything is written.
    let mut bad = args.clone();
    bad.peg.peg_threshold = Some(4);
    let err = cairn_node::rollup::init(&bad.options().expect("options"))
        .await
        .expect_err("4 of 3");
    assert!(err.to_string().contains("threshold 4"), "{err}");
    assert!(!dir.path().join("net").join("rollup.json").exists());
    let (config_path, key_path) = cairn_node::rollup::init(&args.options().expect("options"))
        .await
        .expect("init");
    let config = cairn_node::rollup::load(&config_path).expect("valid config");
    let tip = {
        let state = devnet.state();
        let s = state.lock();
        (
            s.devnet.chain().height(),
            s.devnet.chain().tip().to_string(),
        )
    };
    assert_eq!((config.l1.height, config.l1.hash.clone()), tip);
    assert_eq!(config.finality_depth, 2);
    let peg = config.peg.as_ref().expect("a peg");
    assert_eq!((peg.threshold, peg.signers.len()), (2, 3));
    assert_eq!(peg.deposit_confirmations, 1, "regtest default");
    assert_eq!(peg.signers[0], x_only_hex(1));
    assert_eq!(
        (config.chain.chain_id, config.chain.block_gas_limit),
        (4242, 30_000_000)
    );
    assert!(
        config.chain.alloc.is_empty(),
        "a real network has no genesis allocation"
    );
    let key = cairn_node::rollup::load_sequencer_key(&key_path).expect("key");
    assert_eq!(
        config.sequencer_key,
        cairn_node::rollup::public_key_hex(&key)
    );
    // A standby sequencer, with its key beside the first's.
    let standby =
        cairn_node::rollup::load_sequencer_key(&dir.path().join("net").join("sequencer-2.key"))
            .expect("standby key");
    assert_eq!(
        config.sequencers,
        vec![
            config.sequencer_key.clone(),
            cairn_node::rollup::public_key_hex(&standby)
        ]
    );
    assert_eq!(config.sequencer_timeout(), 4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A network is created once.
    let err = cairn_node::rollup::init(&args.options().expect("options"))
        .await
        .expect_err("exists");
    assert!(err.to_string().contains("already exists"), "{err}");
    // Against the wrong network it refuses before writing anything.
    let mut mainnet = args.clone();
    mainnet.l1.l1_network = Network::Bitcoin;
    mainnet.out = dir.path().join("main");
    assert!(
        cairn_node::rollup::init(&mainnet.options().expect("options"))
            .await
            .is_err()
    );
    assert!(!dir.path().join("main").exists());
}

/// The x-only public key of the secret key `[seed; 32]`, in hex.
fn x_only_hex(seed: u8) -> String {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    bitcoin::secp256k1::Keypair::from_seckey_slice(&secp, &[seed; 32])
        .expect("key")
        .x_only_public_key()
        .0
        .to_string()
}
