//! The batcher wallet against a real regtest chain: the embedded devnet behind its
//! bitcoind RPC, followed through cairn-l1's `Client` and `BlockSource` exactly as the
//! node follows L1, so every `ChainUpdate` the wallet sees is a real one.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use bitcoin::{
    Address, Amount, BlockHash, FeeRate, Network, OutPoint, ScriptBuf, Transaction, Txid,
};
use cairn_devnet::DevnetServer;
use cairn_l1::{BlockSource, BlockSourceConfig, ChainUpdate, Client};
use cairn_settlement::wallet::{BatcherWallet, Error, FILE_NAME, TxStatus};

const SEED: [u8; 32] = [0x42; 32];

/// A devnet whose own wallet holds the 101 initial coinbases, and a client to it.
struct Harness {
    dir: tempfile::TempDir,
    _devnet: DevnetServer,
    client: Client,
    /// The devnet wallet's address: blocks mined "by someone else" pay it.
    miner: Address,
}

impl Harness {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (devnet, client) = crate::devnet::start(dir.path(), 101).await;
        let miner = client.get_new_address(None, None).await.expect("address");
        Self {
            dir,
            _devnet: devnet,
            client,
            miner,
        }
    }

    /// A harness, a new batcher wallet in it and a block source for that wallet.
    async fn start_with_wallet() -> (Self, BatcherWallet, BlockSource) {
        let harness = Self::start().await;
        let wallet = harness.open();
        let source = harness.source(&wallet);
        (harness, wallet, source)
    }

    fn wallet_dir(&self) -> PathBuf {
        self.dir.path().join("batcher")
    }

    fn open(&self) -> BatcherWallet {
        BatcherWallet::open(&self.wallet_dir(), &SEED, Network::Regtest).expect("wallet opens")
    }

    /// A block source resuming from the wallet's blocks, or from height 1 for a new wallet.
    fn source(&self, wallet: &BatcherWallet) -> BlockSource {
        let config = BlockSourceConfig {
            poll_interval: Duration::from_millis(10),
            ..BlockSourceConfig::default()
        };
        match wallet.tip() {
            Some(_) => {
                BlockSource::after_blocks(self.client.clone(), wallet.recent_blocks(100), config)
            }
            None => BlockSource::from_height(self.client.clone(), 1, config),
        }
    }

    async fn mine(&self, count: u32) -> Vec<BlockHash> {
        self.client
            .generate_to_address(count, &self.miner)
            .await
            .expect("mine")
    }

    /// Pays `sats` to `address` from the devnet's wallet; the payment's txid.
    async fn send(&self, address: &Address, sats: u64) -> Txid {
        self.client
            .send_to_address(address, Amount::from_sat(sats))
            .await
            .expect("send")
    }

    /// Hands `tx` to the devnet, which must accept it (`why` says what it accepts).
    async fn broadcast(&self, tx: &Transaction, why: &str) -> Txid {
        self.client
            .send_raw_transaction(tx)
            .await
            .unwrap_or_else(|err| panic!("{why}: {err}"))
    }

    /// Invalidates `block` and mines `empty` empty blocks on what is left.
    async fn reorg(&self, block: &BlockHash, empty: usize) {
        self.client
            .invalidate_block(block)
            .await
            .expect("invalidate");
        for _ in 0..empty {
            self.client
                .generate_block(&self.miner, &[])
                .await
                .expect("empty block");
        }
    }

    async fn tip(&self) -> (u32, BlockHash) {
        let hash = self.client.get_best_block_hash().await.expect("best");
        let height = self.client.get_block_count().await.expect("count");
        (height, hash)
    }

    async fn mempool(&self) -> HashSet<Txid> {
        let txids = self.client.get_raw_mempool().await.expect("mempool");
        txids.into_iter().collect()
    }
}

/// Applies updates until the source has caught up with the devnet; returns them.
async fn sync(
    harness: &Harness,
    source: &mut BlockSource,
    wallet: &mut BatcherWallet,
) -> Vec<ChainUpdate> {
    let mut updates = Vec::new();
    while let Some(update) = source.poll().await.expect("poll") {
        wallet.apply_update(&update).expect("apply update");
        updates.push(update);
    }
    assert_eq!(wallet.tip(), Some(harness.tip().await), "wallet caught up");
    updates
}

/// Mines `count` blocks and syncs the wallet to them; their hashes.
async fn mine_and_sync(
    harness: &Harness,
    source: &mut BlockSource,
    wallet: &mut BatcherWallet,
    count: u32,
) -> Vec<BlockHash> {
    let mined = harness.mine(count).await;
    sync(harness, source, wallet).await;
    mined
}

/// Two P2TR outputs that are not the wallet's, as batch envelope commits are.
async fn commit_outputs(harness: &Harness) -> Vec<(ScriptBuf, Amount)> {
    let mut outputs = Vec::new();
    for sats in [10_000, 25_000] {
        let address = harness
            .client
            .get_new_address(None, None)
            .await
            .expect("address");
        outputs.push((address.script_pubkey(), Amount::from_sat(sats)));
    }
    outputs
}

fn sat_per_vb(rate: u64) -> FeeRate {
    FeeRate::from_sat_per_vb(rate).expect("fee rate")
}

/// The fee pays at least `rate` on the transaction's actual weight, and overshoots by
/// less than one vbyte per input (BDK budgets a signature with a sighash byte; key-path
/// signatures with the default sighash have none) plus one for rounding.
fn assert_fee_rate(wallet: &BatcherWallet, tx: &Transaction, rate: FeeRate) -> Amount {
    let fee = wallet.fee(tx).expect("fee");
    let floor = rate.fee_wu(tx.weight()).expect("fee");
    let slack = rate.fee_vb(tx.input.len() as u64 + 1).expect("slack");
    assert!(
        fee >= floor && fee <= floor + slack,
        "fee {fee} for weight {} at {rate}: expected {floor} to {}",
        tx.weight(),
        floor + slack
    );
    fee
}

fn spent(tx: &Transaction) -> HashSet<OutPoint> {
    tx.input.iter().map(|input| input.previous_output).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funds_commits_and_bumps_against_the_devnet() {
    let (harness, mut wallet, mut source) = Harness::start_with_wallet().await;
    sync(&harness, &mut source, &mut wallet).await;
    assert_eq!(wallet.balance().total(), Amount::ZERO);

    // Two payments from the devnet's wallet, confirmed in one block.
    let first = wallet.next_address().expect("address");
    let second = wallet.next_address().expect("address");
    assert_ne!(first, second);
    assert!(wallet.is_mine(&first.script_pubkey()));
    for (address, btc) in [(&first, 100_000_000), (&second, 50_000_000)] {
        harness.send(address, btc).await;
    }
    sync(&harness, &mut source, &mut wallet).await;
    assert_eq!(
        wallet.balance().untrusted_pending,
        Amount::ZERO,
        "not seen yet"
    );
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    let balance = wallet.balance();
    assert_eq!(balance.confirmed, Amount::from_sat(150_000_000));
    assert_eq!(
        (
            balance.immature,
            balance.trusted_pending,
            balance.untrusted_pending
        ),
        (Amount::ZERO, Amount::ZERO, Amount::ZERO)
    );

    // A commit paying two outputs at 2 sat/vB, accepted by the devnet.
    let outputs = commit_outputs(&harness).await;
    let rate = sat_per_vb(2);
    let commit = wallet.build_commit(&outputs, rate).expect("commit");
    let txid = commit.compute_txid();
    for (vout, (script, amount)) in outputs.iter().enumerate() {
        assert_eq!(&commit.output[vout].script_pubkey, script);
        assert_eq!(commit.output[vout].value, *amount);
    }
    assert!(commit.is_explicitly_rbf(), "signals BIP125");
    assert_eq!(commit.output.len(), 3, "the two commits and change");
    assert!(
        wallet.is_mine(&commit.output[2].script_pubkey),
        "change is ours"
    );
    let fee = assert_fee_rate(&wallet, &commit, rate);
    assert_eq!(
        harness
            .broadcast(&commit, "devnet accepts the commit")
            .await,
        txid
    );
    assert_eq!(wallet.tx_status(txid), Some(TxStatus::Unconfirmed));
    let committed = Amount::from_sat(35_000);
    let balance = wallet.balance();
    assert_eq!(
        balance.total(),
        Amount::from_sat(150_000_000) - committed - fee
    );
    assert_eq!(balance.trusted_pending, commit.output[2].value);

    // Bumped to 10 sat/vB: same commit outputs, the devnet replaces the original.
    let rate = sat_per_vb(10);
    let bumped = wallet.bump_fee(txid, rate).expect("bump");
    let bumped_txid = bumped.compute_txid();
    assert_ne!(bumped_txid, txid);
    assert_eq!(
        bumped.output[..2],
        commit.output[..2],
        "same commit outputs"
    );
    assert!(bumped.is_explicitly_rbf());
    assert!(
        !spent(&bumped).is_disjoint(&spent(&commit)),
        "a replacement"
    );
    let bumped_fee = assert_fee_rate(&wallet, &bumped, rate);
    assert!(bumped_fee > fee);
    harness
        .broadcast(&bumped, "devnet accepts the replacement")
        .await;
    let mempool = harness.mempool().await;
    assert!(mempool.contains(&bumped_txid) && !mempool.contains(&txid));
    assert_eq!(wallet.tx_status(txid), None, "replaced");
    assert_eq!(wallet.tx_status(bumped_txid), Some(TxStatus::Unconfirmed));

    // A second commit before the first confirms spends other coins (or the pending
    // change), never the bumped commit's inputs.
    let next = wallet
        .build_commit(&commit_outputs(&harness).await, sat_per_vb(3))
        .expect("second commit");
    assert!(spent(&next).is_disjoint(&spent(&bumped)));
    harness
        .broadcast(&next, "devnet accepts the second commit")
        .await;

    // Both confirm; the balance is what was funded minus commits and fees, to the satoshi.
    let block = mine_and_sync(&harness, &mut source, &mut wallet, 1).await[0];
    let height = harness.tip().await.0;
    assert_eq!(
        wallet.tx_status(bumped_txid),
        Some(TxStatus::Confirmed {
            height,
            hash: block
        })
    );
    let next_fee = wallet.fee(&next).expect("fee");
    let balance = wallet.balance();
    assert_eq!(
        balance.confirmed,
        Amount::from_sat(150_000_000) - committed - bumped_fee - committed - next_fee
    );
    assert_eq!(balance.total(), balance.confirmed);
    assert!(wallet.unconfirmed_transactions().is_empty());

    // Confirmed transactions cannot be bumped.
    let err = wallet
        .bump_fee(bumped_txid, sat_per_vb(20))
        .expect_err("confirmed");
    assert!(matches!(err, Error::FeeBump { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coinbases_mature_after_100_blocks_like_the_devnet_says() {
    let (harness, mut wallet, mut source) = Harness::start_with_wallet().await;
    let address = wallet.next_address().expect("address");
    harness
        .client
        .generate_to_address(1, &address)
        .await
        .expect("mine to the wallet");
    sync(&harness, &mut source, &mut wallet).await;
    let subsidy = Amount::from_sat(50 * 100_000_000);
    assert_eq!(wallet.balance().immature, subsidy);
    assert_eq!(wallet.balance().confirmed, Amount::ZERO);

    // Not spendable until the coinbase is 100 blocks deep as of the next block.
    mine_and_sync(&harness, &mut source, &mut wallet, 98).await;
    assert_eq!(wallet.balance().immature, subsidy);
    let outputs = commit_outputs(&harness).await;
    let err = wallet
        .build_commit(&outputs, sat_per_vb(1))
        .expect_err("immature");
    assert!(matches!(err, Error::InsufficientFunds { .. }), "{err}");

    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    assert_eq!(wallet.balance().confirmed, subsidy);
    assert_eq!(wallet.balance().immature, Amount::ZERO);
    let commit = wallet
        .build_commit(&outputs, sat_per_vb(1))
        .expect("commit");
    harness
        .broadcast(&commit, "the devnet agrees the coinbase is mature")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorgs_return_transactions_to_pending() {
    let (harness, mut wallet, mut source) = Harness::start_with_wallet().await;
    let address = wallet.next_address().expect("address");
    let funding = harness.send(&address, 100_000_000).await;
    let funded_in = mine_and_sync(&harness, &mut source, &mut wallet, 1).await[0];
    assert_eq!(wallet.balance().confirmed, Amount::from_sat(100_000_000));
    assert!(matches!(
        wallet.tx_status(funding),
        Some(TxStatus::Confirmed { hash, .. }) if hash == funded_in
    ));

    // The block confirming the payment is replaced by two empty blocks: the payment is
    // pending again (the devnet put it back in its mempool), not lost.
    harness.reorg(&funded_in, 2).await;
    let updates = sync(&harness, &mut source, &mut wallet).await;
    let funded_height = harness.tip().await.0 - 1;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].disconnected, vec![(funded_height, funded_in)]);
    assert_eq!(updates[0].connected.len(), 2);
    assert_eq!(wallet.tx_status(funding), Some(TxStatus::Unconfirmed));
    let balance = wallet.balance();
    assert_eq!(balance.confirmed, Amount::ZERO);
    assert_eq!(balance.untrusted_pending, Amount::from_sat(100_000_000));
    assert!(harness.mempool().await.contains(&funding));

    // It confirms again in the next block.
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    assert_eq!(wallet.balance().confirmed, Amount::from_sat(100_000_000));

    // The same for the batcher's own commit: confirmed, reorganised out, pending again
    // with its change, its input still counted as spent.
    let commit = wallet
        .build_commit(&commit_outputs(&harness).await, sat_per_vb(2))
        .expect("commit");
    let txid = commit.compute_txid();
    harness.broadcast(&commit, "accepted").await;
    let committed_in = mine_and_sync(&harness, &mut source, &mut wallet, 1).await[0];
    let fee = wallet.fee(&commit).expect("fee");
    let after = Amount::from_sat(100_000_000 - 35_000) - fee;
    assert_eq!(wallet.balance().confirmed, after);
    harness.reorg(&committed_in, 2).await;
    sync(&harness, &mut source, &mut wallet).await;
    assert_eq!(wallet.tx_status(txid), Some(TxStatus::Unconfirmed));
    let balance = wallet.balance();
    assert_eq!(
        balance.confirmed,
        Amount::ZERO,
        "the only coin is spent by the commit"
    );
    assert_eq!(balance.trusted_pending, after);
    assert_eq!(wallet.unconfirmed_transactions(), vec![commit.clone()]);
    assert!(harness.mempool().await.contains(&txid));

    // The chain only shrinks (a block invalidated, nothing mined): the wallet rewinds.
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    let (height, top) = harness.tip().await;
    assert!(
        matches!(wallet.tx_status(txid), Some(TxStatus::Confirmed { hash, .. }) if hash == top)
    );
    harness.reorg(&top, 0).await;
    let updates = sync(&harness, &mut source, &mut wallet).await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].disconnected, vec![(height, top)]);
    assert!(updates[0].connected.is_empty());
    assert_eq!(wallet.tip().map(|t| t.0), Some(height - 1));
    assert_eq!(wallet.tx_status(txid), Some(TxStatus::Unconfirmed));
    assert_eq!(wallet.balance().trusted_pending, after);

    // ... and the rewind survives a restart.
    drop(wallet);
    let mut wallet = harness.open();
    assert_eq!(wallet.tip().map(|t| t.0), Some(height - 1));
    assert_eq!(wallet.tx_status(txid), Some(TxStatus::Unconfirmed));
    let mut source = harness.source(&wallet);
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    assert_eq!(wallet.balance().confirmed, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_tip_balance_addresses_and_pending_commits() {
    let (harness, mut wallet, mut source) = Harness::start_with_wallet().await;
    let funding_address = wallet.unused_address().expect("address");
    assert_eq!(
        wallet.unused_address().expect("address"),
        funding_address,
        "the same until used"
    );
    harness.send(&funding_address, 20_000_000).await;
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    let revealed: Vec<Address> = (0..3)
        .map(|_| wallet.next_address().expect("address"))
        .collect();
    let commit = wallet
        .build_commit(&commit_outputs(&harness).await, sat_per_vb(2))
        .expect("commit");
    harness.broadcast(&commit, "accepted").await;
    let (tip, balance) = (wallet.tip(), wallet.balance());
    assert!(wallet.path().ends_with(FILE_NAME));
    drop(wallet);

    let mut wallet = harness.open();
    assert_eq!(wallet.tip(), tip);
    assert_eq!(wallet.balance(), balance);
    assert_eq!(wallet.unconfirmed_transactions(), vec![commit.clone()]);
    assert_ne!(
        wallet.unused_address().expect("address"),
        funding_address,
        "the funding address was used"
    );
    let fresh = wallet.next_address().expect("address");
    assert!(
        !revealed.contains(&fresh),
        "revealed addresses are not handed out again"
    );
    for address in &revealed {
        assert!(wallet.is_mine(&address.script_pubkey()));
    }

    // Resuming the block source from the wallet's blocks picks up where it stopped.
    let mut source = harness.source(&wallet);
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    assert!(matches!(
        wallet.tx_status(commit.compute_txid()),
        Some(TxStatus::Confirmed { .. })
    ));
    drop(wallet);

    // Another seed or network does not open this wallet; a damaged file is an error.
    let dir = harness.wallet_dir();
    let err = BatcherWallet::open(&dir, &[7; 32], Network::Regtest).expect_err("other seed");
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    assert!(
        !err.to_string().contains("tpub"),
        "no keys in errors: {err}"
    );
    let err = BatcherWallet::open(&dir, &SEED, Network::Testnet).expect_err("other network");
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    std::fs::write(dir.join(FILE_NAME), b"{\"version\":1,\"changeset\":").expect("damage");
    let err = BatcherWallet::open(&dir, &SEED, Network::Regtest).expect_err("corrupt");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_errors_are_clear_and_change_nothing() {
    let (harness, mut wallet, mut source) = Harness::start_with_wallet().await;
    let address = wallet.next_address().expect("address");
    harness.send(&address, 100_000).await;
    mine_and_sync(&harness, &mut source, &mut wallet, 1).await;
    let balance = wallet.balance();
    let script = harness.miner.script_pubkey();

    let err = wallet
        .build_commit(
            &[(script.clone(), Amount::from_sat(1_000_000))],
            sat_per_vb(1),
        )
        .expect_err("too much");
    let Error::InsufficientFunds { needed, available } = err else {
        panic!("{err}");
    };
    assert_eq!(available, Amount::from_sat(100_000));
    assert!(needed > Amount::from_sat(1_000_000));
    let text = Error::InsufficientFunds { needed, available }.to_string();
    assert!(
        text.contains(&available.to_string()) && text.contains(&needed.to_string()),
        "{text}"
    );

    let err = wallet
        .build_commit(&[(script.clone(), Amount::from_sat(10))], sat_per_vb(1))
        .expect_err("dust");
    assert!(matches!(err, Error::Build(_)), "{err}");
    let err = wallet.build_commit(&[], sat_per_vb(1)).expect_err("empty");
    assert!(matches!(err, Error::Build(_)), "{err}");
    assert_eq!(wallet.balance(), balance);
    assert!(wallet.unconfirmed_transactions().is_empty());

    let unknown = Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros());
    let err = wallet
        .bump_fee(unknown, sat_per_vb(5))
        .expect_err("unknown");
    assert!(
        matches!(err, Error::UnknownTransaction(t) if t == unknown),
        "{err}"
    );

    // The only coin is in use by a commit: the next commit spends its pending change.
    let outputs = [(script.clone(), Amount::from_sat(40_000))];
    let commit = wallet
        .build_commit(&outputs, sat_per_vb(2))
        .expect("commit");
    let child = wallet.build_commit(&outputs, sat_per_vb(2)).expect("child");
    assert_eq!(
        spent(&child),
        HashSet::from([OutPoint::new(commit.compute_txid(), 1)])
    );
    let err = wallet
        .build_commit(&outputs, sat_per_vb(2))
        .expect_err("nothing left");
    assert!(matches!(err, Error::InsufficientFunds { .. }), "{err}");
    let err = wallet
        .bump_fee(commit.compute_txid(), sat_per_vb(2))
        .expect_err("not above the original's rate");
    assert!(matches!(err, Error::FeeBump { .. }), "{err}");

    // Commits that are never broadcast are abandoned (the child goes with its parent):
    // the coin is spendable again.
    wallet.abandon(commit.compute_txid()).expect("abandon");
    assert_eq!(wallet.tx_status(commit.compute_txid()), None);
    assert_eq!(wallet.tx_status(child.compute_txid()), None);
    assert_eq!(wallet.balance(), balance);
    let err = wallet.abandon(commit.compute_txid()).expect_err("gone");
    assert!(matches!(err, Error::UnknownTransaction(_)), "{err}");
    let again = wallet
        .build_commit(&outputs, sat_per_vb(2))
        .expect("commit");
    assert_eq!(spent(&again), spent(&commit));
    harness.broadcast(&again, "accepted").await;
}
