//! Starting test nodes and signing transactions.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TxSignerSync};
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use cairn_node::dev::{DevAccount, dev_accounts, dev_spec};
use cairn_node::{LaunchConfig, Node, launch};
use cairn_primitives::DEFAULT_BASE_FEE_FLOOR;

pub const CHAIN_ID: u64 = 31337;
/// A fee cap well above the floor, so base fee moves never matter in tests.
pub const MAX_FEE: u128 = DEFAULT_BASE_FEE_FLOOR as u128 * 20;
pub const TIP: u128 = 1_000;

pub struct TestNode {
    pub node: Node,
    pub accounts: Vec<DevAccount>,
    /// Kept so the data dir lives as long as the node.
    pub _dir: tempfile::TempDir,
}

/// Node logs on the test's output when `RUST_LOG` asks for them (`RUST_LOG=cairn=debug`).
fn init_logs() {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

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

/// Sign an EIP-1559 transaction.
#[allow(clippy::too_many_arguments)]
pub fn sign_1559(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
    max_fee: u128,
    tip: u128,
) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to,
        value,
        input,
        access_list: Default::default(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// A plain transfer, EIP-1559.
pub fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, value: u64) -> Bytes {
    sign_1559(
        signer,
        nonce,
        TxKind::Call(to),
        U256::from(value),
        Bytes::new(),
        21_000,
        MAX_FEE,
        TIP,
    )
}

/// A legacy EIP-155 transaction with a given chain id.
pub fn sign_legacy(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: u64,
    chain_id: Option<u64>,
    gas_price: u128,
) -> Bytes {
    let mut tx = TxLegacy {
        chain_id,
        nonce,
        gas_price,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::new(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// Wait for a receipt (blocks are 50 ms in tests).
pub async fn receipt(
    provider: &DynProvider,
    hash: alloy::primitives::B256,
) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..200 {
        if let Some(r) = provider.get_transaction_receipt(hash).await.expect("rpc") {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no receipt for {hash} after 5 s");
}

/// The creation bytecode of tests/it/Counter.sol.
pub fn counter_bytecode() -> Bytes {
    let hex = include_str!("Counter.bin").trim();
    hex.parse().expect("Counter.bin is hex")
}

alloy::sol! {
    contract Counter {
        function count() external view returns (uint256);
        function inc(uint256 by) external;
        event Incremented(address indexed by, uint256 newCount);
        error TooBig(uint256 value);
    }
}

/// Deploy Counter from dev account `i`; returns its address.
pub async fn deploy_counter(node: &TestNode, i: usize) -> Address {
    let hash = send_tx(
        node,
        i,
        TxKind::Create,
        counter_bytecode().to_vec(),
        500_000,
    )
    .await;
    let r = receipt(&node.provider(i), hash).await;
    assert!(r.status(), "deployment succeeded");
    r.contract_address.expect("contract address")
}

/// Sign and submit a call from dev account `i` with its next nonce.
pub async fn send_call(
    node: &TestNode,
    i: usize,
    to: Address,
    input: Vec<u8>,
    gas: u64,
) -> alloy::primitives::B256 {
    send_tx(node, i, TxKind::Call(to), input, gas).await
}

/// Sign and submit a transaction from dev account `i` with its next nonce.
pub async fn send_tx(
    node: &TestNode,
    i: usize,
    to: TxKind,
    input: Vec<u8>,
    gas: u64,
) -> alloy::primitives::B256 {
    let provider = node.provider(i);
    let nonce = provider
        .get_transaction_count(node.address(i))
        .await
        .expect("nonce");
    let raw = sign_1559(
        &node.signer(i),
        nonce,
        to,
        U256::ZERO,
        input.into(),
        gas,
        MAX_FEE,
        TIP,
    );
    *provider
        .send_raw_transaction(&raw)
        .await
        .expect("accepted")
        .tx_hash()
}

/// A TCP port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
