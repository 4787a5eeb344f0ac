//! The peg in tests: a sequencer with `cairn dev`'s 3-of-5 federation on a devnet,
//! followers of it, deposits paid from the devnet wallet, withdrawals burned on L2, and
//! the peg's accounting read back.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy_sol_types::SolCall as _;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, Txid};

use cairn_execution::withdraw::{WITHDRAWAL_CONTRACT, withdrawCall};
use cairn_node::settle::SettlementConfig;
use cairn_primitives::RollupConfig;

use crate::{Devnet, TestNode, config, devnet, rollup_for};

/// Wei per satoshi.
pub const SAT: u64 = 10_000_000_000;

/// `who`'s balance on the node at `url`.
pub async fn balance(url: &str, who: Address) -> U256 {
    ProviderBuilder::new()
        .connect_http(url.parse().expect("url"))
        .get_balance(who)
        .await
        .expect("balance")
}

/// A devnet and a sequencer settling on it with `cairn dev`'s 3-of-5 federation.
pub async fn peg_sequencer(dir: &std::path::Path) -> (Devnet, TestNode, RollupConfig) {
    peg_sequencer_with(dir, 0, Vec::new()).await
}

/// [`peg_sequencer`] whose payout coordinator asks the first `local` dev signers in-process
/// and the `cairn signer`s at `urls`.
pub async fn peg_sequencer_with(
    dir: &std::path::Path,
    local: usize,
    urls: Vec<String>,
) -> (Devnet, TestNode, RollupConfig) {
    let (devnet, sequencer, rollup, _) = peg_sequencer_edited(dir, local, urls, |_, _| {}).await;
    (devnet, sequencer, rollup)
}

/// [`peg_sequencer_with`], with `edit` applied to the network and the node's configuration
/// before it starts; also the configuration it started with (to restart it).
pub async fn peg_sequencer_edited(
    dir: &std::path::Path,
    local: usize,
    urls: Vec<String>,
    edit: impl FnOnce(&mut RollupConfig, &mut cairn_node::LaunchConfig),
) -> (Devnet, TestNode, RollupConfig, cairn_node::LaunchConfig) {
    let devnet = devnet(dir).await;
    let key = Keypair::from_seckey_slice(&Secp256k1::new(), &[5; 32]).expect("key");
    let info = devnet.client.get_blockchain_info().await.expect("info");
    let accounts = cairn_node::dev::dev_accounts(2).expect("accounts");
    let sequencer_dir = tempfile::tempdir().expect("dir");
    let mut seq_config = config(sequencer_dir.path(), &accounts);
    seq_config.spec.withdrawals = Some(cairn_primitives::WithdrawalSpec {
        network: cairn_primitives::L1Network::Regtest,
        min_sat: 10_000,
    });
    let mut rollup = rollup_for(
        seq_config.spec.clone(),
        &key,
        (info.blocks, info.best_block_hash),
    );
    rollup.peg = Some(
        cairn_node::rollup::create_dev_federation(&sequencer_dir.path().join("peg-keys"))
            .expect("federation"),
    );
    rollup.validate().expect("a valid network");
    seq_config.l1 = Some(devnet.l1_config());
    let mut signers = cairn_node::rollup::load_dev_signers(sequencer_dir.path()).expect("keys");
    signers.truncate(local);
    seq_config.peg.local_signers = signers;
    seq_config.peg.signer_urls = urls;
    seq_config.settlement = Some(SettlementConfig {
        rollup: rollup.clone(),
        sequencer: Some(key),
        batcher: Default::default(),
        dev_funding: Some(Amount::from_int_btc(5)),
        ignore_forced: false,
    });
    edit(&mut rollup, &mut seq_config);
    rollup.validate().expect("a valid network");
    if let Some(settlement) = &mut seq_config.settlement {
        settlement.rollup = rollup.clone();
    }
    let started = seq_config.clone();
    let sequencer = TestNode::start_with(sequencer_dir, accounts, seq_config).await;
    (devnet, sequencer, rollup, started)
}
/// `recipient`'s deposit address.
pub async fn deposit_address(
    provider: &DynProvider,
    recipient: Address,
) -> bitcoin::Address<bitcoin::address::NetworkUnchecked> {
    let answer: serde_json::Value = provider
        .raw_request("cairn_getDepositAddress".into(), (recipient,))
        .await
        .expect("deposit address");
    answer["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("parses")
}

/// Pays `sat` to `recipient`'s deposit address from the devnet wallet and mines it: the
/// deposit transaction and its block.
pub async fn pay_deposit(
    devnet: &Devnet,
    provider: &DynProvider,
    recipient: Address,
    sat: u64,
) -> (Txid, bitcoin::BlockHash) {
    let address = deposit_address(provider, recipient).await;
    let txid = devnet
        .client
        .send_to_address(&address.assume_checked(), Amount::from_sat(sat))
        .await
        .expect("paid");
    (txid, devnet.mine(1).await[0])
}

/// Waits (up to 10 s) until `who` holds `want` on the node at `url`, then asserts it.
pub async fn wait_balance(url: &str, who: Address, want: U256, what: &str) {
    for _ in 0..400 {
        if balance(url, who).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(balance(url, who).await, want, "{what}");
}

/// The two nodes have the same block `number`.
pub fn assert_same_block(ours: &cairn_node::Node, theirs: &cairn_node::Node, number: u64) {
    let hash = |node: &cairn_node::Node| {
        node.storage
            .block_by_number(number)
            .expect("read")
            .expect("block")
            .block
            .hash
    };
    assert_eq!(hash(theirs), hash(ours), "block {number}");
}

/// Deposits `sat` to a fresh L2 account's address and waits for the credit.
pub async fn deposit(devnet: &Devnet, sequencer: &TestNode, sat: u64) {
    let recipient = Address::from_slice(&rand::random::<[u8; 20]>());
    pay_deposit(devnet, &sequencer.provider(0), recipient, sat).await;
    let credit = U256::from(sat) * U256::from(SAT);
    wait_balance(
        &sequencer.node.http_url(),
        recipient,
        credit,
        "the deposit is credited",
    )
    .await;
}

/// Burns `sat` to `address` from dev account 0; the burning transaction's hash.
pub async fn withdraw(provider: &DynProvider, from: Address, address: &str, sat: u64) -> B256 {
    let tx = alloy::rpc::types::TransactionRequest {
        from: Some(from),
        to: Some(WITHDRAWAL_CONTRACT.into()),
        value: Some(U256::from(sat) * U256::from(SAT)),
        input: alloy::primitives::Bytes::from(
            withdrawCall {
                bitcoinAddress: address.to_owned(),
            }
            .abi_encode(),
        )
        .into(),
        ..Default::default()
    };
    let receipt = crate::send_and_wait(provider, tx).await;
    assert!(receipt.status(), "{address}");
    receipt.transaction_hash
}

pub async fn status(provider: &DynProvider, hash: B256) -> serde_json::Value {
    let list: Vec<serde_json::Value> = provider
        .raw_request("cairn_getWithdrawalStatus".into(), (hash,))
        .await
        .expect("status");
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

pub async fn supply<P: Provider>(provider: &P) -> serde_json::Value {
    provider
        .raw_request("cairn_getSupply".into(), ())
        .await
        .expect("supply")
}

pub fn hex_u64(value: &serde_json::Value) -> u64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a quantity: {value}"));
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex")
}

pub fn hex_u256(value: &serde_json::Value) -> U256 {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not a quantity: {value}"))
}

/// The peg's accounting: the circulating supply is genesis plus the peg's coins (in peg
/// outputs and unswept deposits) minus what is burned and not yet paid; nothing is
/// unbacked or missing.
pub fn assert_invariant(supply: &serde_json::Value, genesis: U256) {
    assert_eq!(supply["unbackedWei"], "0x0", "{supply}");
    assert_eq!(supply["missingWei"], "0x0", "{supply}");
    let coins = hex_u64(&supply["pegOutputsSat"]) + hex_u64(&supply["unsweptDepositsSat"]);
    let circulating = hex_u256(&supply["circulatingWei"]);
    let burned = hex_u256(&supply["withdrawalsBurnedWei"]);
    assert_eq!(
        circulating + burned,
        genesis + U256::from(coins) * U256::from(SAT),
        "supply = genesis + peg coins: {supply}"
    );
}

/// Mines a block at a time until every status is `paid`.
pub async fn mine_until_paid(devnet: &Devnet, provider: &DynProvider, hashes: &[B256]) {
    for _ in 0..40 {
        let mut paid = 0;
        for hash in hashes {
            if status(provider, *hash).await["status"] == "paid" {
                paid += 1;
            }
        }
        if paid == hashes.len() {
            return;
        }
        devnet.mine(1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    panic!("withdrawals never paid");
}

pub fn follower_config(
    dir: &std::path::Path,
    sequencer: &TestNode,
    devnet: &Devnet,
    rollup: &RollupConfig,
) -> cairn_node::LaunchConfig {
    let mut config = config(dir, &sequencer.accounts);
    config.spec = rollup.chain.clone();
    config.l1 = Some(devnet.l1_config());
    config.settlement = Some(SettlementConfig {
        rollup: rollup.clone(),
        sequencer: None,
        batcher: Default::default(),
        dev_funding: None,
        ignore_forced: false,
    });
    config
}

/// A follower of `rollup` deriving from `devnet`, started now.
pub async fn start_follower(
    devnet: &Devnet,
    sequencer: &TestNode,
    rollup: &RollupConfig,
) -> TestNode {
    let dir = tempfile::tempdir().expect("dir");
    let config = follower_config(dir.path(), sequencer, devnet, rollup);
    TestNode::start_with(dir, sequencer.accounts.clone(), config).await
}

/// A whole network in one call (reth's `e2e-test-utils::setup`): a devnet, a sequencer
/// with the 3-of-5 federation whose coordinator asks its first `local_signers` dev signers
/// in-process, and `followers` follower nodes deriving the chain from Bitcoin.
pub struct Network {
    /// The Bitcoin devnet.
    pub devnet: Devnet,
    /// The sequencer.
    pub sequencer: TestNode,
    /// The network's `rollup.json`.
    pub rollup: RollupConfig,
    /// The followers.
    pub followers: Vec<TestNode>,
    /// Kept so the devnet's data dir lives as long as the network.
    pub _dir: tempfile::TempDir,
}

impl Network {
    /// Starts a network with `local_signers` in-process signers and `followers`
    /// followers.
    pub async fn setup(local_signers: usize, followers: usize) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (devnet, sequencer, rollup) =
            peg_sequencer_with(dir.path(), local_signers, Vec::new()).await;
        let mut network = Self {
            devnet,
            sequencer,
            rollup,
            followers: Vec::new(),
            _dir: dir,
        };
        for _ in 0..followers {
            network.add_follower(|_| {}).await;
        }
        network
    }

    /// Starts one more follower, with `edit` applied to its configuration; returns its
    /// index.
    pub async fn add_follower(
        &mut self,
        edit: impl FnOnce(&mut cairn_node::LaunchConfig),
    ) -> usize {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = follower_config(dir.path(), &self.sequencer, &self.devnet, &self.rollup);

        edit(&mut config);
        let accounts = self.sequencer.accounts.clone();
        self.followers
            .push(TestNode::start_with(dir, accounts, config).await);
        self.followers.len() - 1
    }

    /// A provider signing with the sequencer's dev account `i`.
    pub fn provider(&self, i: usize) -> DynProvider {
        self.sequencer.provider(i)
    }

    /// Mines `blocks` Bitcoin blocks.
    pub async fn mine(&self, blocks: u32) {
        self.devnet.mine(blocks).await;
    }

    /// A Bitcoin reorg of `depth` blocks (see [`Devnet::reorg`]).
    pub async fn reorg(&self, depth: u32) {
        self.devnet.reorg(depth).await;
    }

    /// A transfer of `wei` from dev account `from` to `to`, mined on L2: its hash.
    pub async fn transfer(&self, from: usize, to: Address, wei: u64) -> B256 {
        let provider = self.provider(from);
        let tx = alloy::rpc::types::TransactionRequest {
            from: Some(self.sequencer.address(from)),
            to: Some(to.into()),
            value: Some(U256::from(wei)),
            ..Default::default()
        };
        let receipt = crate::send_and_wait(&provider, tx).await;
        assert!(receipt.status(), "the transfer succeeded");
        receipt.transaction_hash
    }

    /// Deposits `sat` to a fresh L2 account and waits for the credit; the account.
    pub async fn deposit(&self, sat: u64) -> Address {
        let recipient = Address::from_slice(&rand::random::<[u8; 20]>());
        pay_deposit(&self.devnet, &self.provider(0), recipient, sat).await;
        let credit = U256::from(sat) * U256::from(SAT);
        wait_balance(
            &self.sequencer.node.http_url(),
            recipient,
            credit,
            "the deposit is credited",
        )
        .await;
        recipient
    }

    /// Burns `sat` from dev account 0 to Bitcoin `address`; the burning transaction.
    pub async fn withdraw(&self, address: &str, sat: u64) -> B256 {
        withdraw(&self.provider(0), self.sequencer.address(0), address, sat).await
    }

    /// Waits until every follower's head reaches `number` and has the sequencer's block
    /// there.
    pub async fn followers_agree_at(&self, number: u64) {
        for follower in &self.followers {
            let mut waited = Duration::ZERO;
            while follower.node.storage.head_number() < number {
                assert!(
                    waited < Duration::from_secs(30),
                    "a follower is stuck at {} below {number}",
                    follower.node.storage.head_number()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
                waited += Duration::from_millis(25);
            }
            assert_same_block(&self.sequencer.node, &follower.node, number);
        }
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        for follower in self.followers {
            follower.node.shutdown().await;
        }
        self.sequencer.node.shutdown().await;
    }
}

/// A fresh address of the devnet wallet, of `kind`.
pub async fn wallet_address(
    devnet: &Devnet,
    kind: cairn_l1::types::AddressType,
) -> bitcoin::Address {
    devnet
        .client
        .get_new_address(None, Some(kind))
        .await
        .expect("address")
}

/// Burns `sat` from the sequencer's dev account 0 to a fresh devnet wallet address of
/// `kind`: the address and the burning transaction.
pub async fn withdraw_to_wallet(
    devnet: &Devnet,
    sequencer: &TestNode,
    kind: cairn_l1::types::AddressType,
    sat: u64,
) -> (bitcoin::Address, B256) {
    let address = wallet_address(devnet, kind).await;
    let hash = withdraw(
        &sequencer.provider(0),
        sequencer.address(0),
        &address.to_string(),
        sat,
    )
    .await;
    (address, hash)
}

/// The Bitcoin transaction that paid a withdrawal (its `cairn_getWithdrawalStatus`).
pub fn paid_by(status: &serde_json::Value) -> Txid {
    status["bitcoinTxid"]
        .as_str()
        .unwrap_or_else(|| panic!("not paid: {status}"))
        .parse()
        .expect("txid")
}

/// Every address type a Bitcoin wallet hands out.
pub const ADDRESS_TYPES: [cairn_l1::types::AddressType; 4] = [
    cairn_l1::types::AddressType::Legacy,
    cairn_l1::types::AddressType::P2shSegwit,
    cairn_l1::types::AddressType::Bech32,
    cairn_l1::types::AddressType::Bech32m,
];

/// Pays `sat` to `recipient`'s deposit address, mines it and waits for the credit: the
/// deposit transaction, its Bitcoin block, and the L2 head once credited.
pub async fn deposit_to(
    devnet: &Devnet,
    sequencer: &TestNode,
    recipient: Address,
    sat: u64,
) -> (Txid, bitcoin::BlockHash, u64) {
    let (txid, block) = pay_deposit(devnet, &sequencer.provider(0), recipient, sat).await;
    let credited = U256::from(sat) * U256::from(SAT);
    wait_balance(&sequencer.node.http_url(), recipient, credited, "credited").await;
    (txid, block, sequencer.node.storage.head_number())
}
