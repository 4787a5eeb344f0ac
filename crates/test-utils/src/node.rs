//! In-process nodes for tests: dev accounts, a test configuration, and a node kept with
//! its data dir.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use cairn_node::dev::{DevAccount, dev_accounts, dev_spec};
use cairn_node::{LaunchConfig, Node, launch};

use crate::tx::CHAIN_ID;

/// A node with its dev accounts; the data dir lives as long as it.
pub struct TestNode {
    pub node: Node,
    pub accounts: Vec<DevAccount>,
    /// Kept so the data dir lives as long as the node.
    pub _dir: tempfile::TempDir,
}

/// Node logs on the test's output when `RUST_LOG` asks for them (`RUST_LOG=cairn=debug`).
pub fn init_logs() {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A sequencer without L1 (50 ms blocks, no fsync) in `dir` funding `accounts`.
pub fn config(dir: &Path, accounts: &[DevAccount]) -> LaunchConfig {
    init_logs();
    LaunchConfig {
        data_dir: dir.to_path_buf(),
        spec: dev_spec(CHAIN_ID, accounts, 10_000),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        block_time: Duration::from_millis(50),
        empty_block_interval: Duration::from_secs(1),
        fee_recipient: cairn_node::dev::DEV_FEE_RECIPIENT,
        sync_writes: false,
        pool: Default::default(),
        l1: None,
        settlement: None,
        peg: Default::default(),
        dev: Some(cairn_node::DevOptions {
            unlocked: accounts.iter().map(|a| a.signer.clone()).collect(),
        }),
    }
}

impl TestNode {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let accounts = dev_accounts(10).expect("dev accounts");
        let node = launch(config(dir.path(), &accounts))
            .await
            .expect("node starts");
        Self {
            node,
            accounts,
            _dir: dir,
        }
    }

    /// A node launched from `config` (whose data dir is in `dir`).
    pub async fn start_with(
        dir: tempfile::TempDir,
        accounts: Vec<DevAccount>,
        config: LaunchConfig,
    ) -> Self {
        let node = launch(config).await.expect("node starts");
        Self {
            node,
            accounts,
            _dir: dir,
        }
    }

    /// A provider signing with dev account `i`.
    pub fn provider(&self, i: usize) -> DynProvider {
        let wallet = EthereumWallet::from(self.accounts[i].signer.clone());
        ProviderBuilder::new()
            .wallet(wallet)
            .connect_http(self.node.http_url().parse().expect("url"))
            .erased()
    }

    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        self.accounts[i].signer.clone()
    }

    pub fn address(&self, i: usize) -> Address {
        self.accounts[i].address
    }
}

/// A TCP port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl std::ops::Deref for TestNode {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

impl TestNode {
    /// Stops the node (its data dir goes with it).
    pub async fn shutdown(self) {
        self.node.shutdown().await;
    }

    /// Stops the node and keeps its data dir, to start it again.
    pub async fn stop(self) -> Stopped {
        self.node.shutdown().await;
        Stopped {
            accounts: self.accounts,
            dir: self._dir,
        }
    }
}

/// A [`TestNode`] that was stopped: its accounts and data dir.
pub struct Stopped {
    /// Its dev accounts.
    pub accounts: Vec<DevAccount>,
    dir: tempfile::TempDir,
}

impl Stopped {
    /// Launches it again from `config` (whose data dir is the one kept).
    pub async fn start(self, config: LaunchConfig) -> TestNode {
        TestNode::start_with(self.dir, self.accounts, config).await
    }
}

/// Asserts that `who` has sent exactly `expected` transactions on the node behind
/// `provider` (every acknowledged nonce executed once).
pub async fn assert_nonce(provider: &DynProvider, who: Address, expected: usize, what: &str) {
    let n = provider.get_transaction_count(who).await.expect("nonce");
    assert_eq!(
        n, expected as u64,
        "{what}: every acknowledged nonce executed once"
    );
}
