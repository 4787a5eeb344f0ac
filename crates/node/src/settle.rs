//! Settlement on Bitcoin, as one task per node. Every L1 update from the network's start
//! height goes to a [`Deriver`]: a follower derives (executes) the chain from it; the
//! sequencer verifies its own posted batches, which moves `safe`/`finalized`. On the
//! sequencer the same updates keep the batcher's wallet in sync, and once the task has
//! caught up with the L1 tip the [`Batcher`] steps: re-broadcasts, bumps, posts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bitcoin::secp256k1::Keypair;
use bitcoin::{Amount, BlockHash};
use cairn_execution::L1FeeRate;
use cairn_l1::{BlockSource, BlockSourceConfig, Client};
use cairn_primitives::RollupConfig;
use cairn_rpc::{ActiveSequencer, BatchInfo, ForcedInfo, SettlementInfo, SettlementSource};
use cairn_sequencer::Producer;
use cairn_settlement::batcher::{BatchRef, Batcher, BatcherConfig, L1View};
use cairn_settlement::derive::{
    AppliedBatch, BatchOutcome, ChainWriter, DeriveError, Deriver, ForcedSeen, ForcedStatus, Role,
};
use cairn_storage::{BlockWithReceipts, Storage};

use cairn_bridge::{Coordinator, Peg, PegChecker, Ready};
use parking_lot::RwLock;
use tokio::sync::broadcast;

const TARGET: &str = "cairn::settle";

/// A node's part in its network's settlement.
#[derive(Debug, Clone)]
pub struct SettlementConfig {
    /// The network (`rollup.json`).
    pub rollup: RollupConfig,
    /// The sequencer's key: with it the node produces blocks and posts batches; without
    /// it, it follows (derives the chain from Bitcoin, read-only).
    pub sequencer: Option<Keypair>,
    /// How the batcher posts and pays.
    pub batcher: BatcherConfig,
    /// `cairn dev`: fund the batcher wallet with this much from the L1 node's own wallet
    /// (and mine a block) when its balance is below half of it.
    pub dev_funding: Option<Amount>,
    /// Test hook: a sequencer that ignores transactions forced through Bitcoin (never
    /// takes them into its mempool nor builds the block their deadline demands), to show
    /// that followers include them themselves and refuse its later batches.
    pub ignore_forced: bool,
}

impl SettlementConfig {
    /// Whether this node only follows.
    pub fn is_follower(&self) -> bool {
        self.sequencer.is_none()
    }
}

/// A batch signed by this node's batcher and not yet final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBatch {
    /// The batch.
    pub batch: BatchRef,
    /// Its commit transaction.
    pub commit: bitcoin::Txid,
    /// Its reveals, by chunk.
    pub reveals: Vec<bitcoin::Txid>,
    /// The fee rate the reveals pay.
    pub fee_rate: bitcoin::FeeRate,
}

/// What the settlement task knows, for the RPC and for tests.
#[derive(Debug, Clone, Default)]
pub struct SettlementStatus {
    /// Whether this node posts batches (the sequencer) or follows.
    pub sequencer: bool,
    /// The network's L1 start height.
    pub l1_start: u32,
    /// The L1 tip the task has seen.
    pub l1_tip: Option<(u32, BlockHash)>,
    /// The last L1 height derivation processed.
    pub l1_derived: Option<u32>,
    /// Whether derivation has caught up with the L1 tip.
    pub caught_up: bool,
    /// Batches derived from Bitcoin, in order.
    pub applied: Vec<AppliedBatch>,
    /// Batches the batcher signed and Bitcoin has not made final (sequencer only).
    pub pending: Vec<PendingBatch>,
    /// The last batch the batcher signed (sequencer only).
    pub last_signed: Option<BatchRef>,
    /// The batcher wallet's funding address and balance (sequencer only).
    pub batcher_address: Option<String>,
    /// Confirmed plus pending balance of the batcher wallet.
    pub batcher_balance: Option<Amount>,
    /// Confirmations that make a batch final.
    pub finality_depth: u32,
    /// Transactions forced through Bitcoin, in L1 order.
    pub forced: Vec<ForcedSeen>,
    /// The sequencer set's keys, in takeover order.
    pub sequencers: Vec<String>,
    /// Bitcoin blocks of silence after which the next in the set may post.
    pub sequencer_timeout: u32,
    /// The member whose batches count at the next Bitcoin block.
    pub turn: usize,
    /// The member that posted the last derived batch, and that batch's Bitcoin height.
    pub last_post: (usize, u32),
    /// This node's index in the set (a node with a sequencer key).
    pub own: Option<usize>,
    /// Whether this node is the active sequencer now (seals blocks, posts batches).
    pub active: bool,
}

/// The shared, live status.
pub type SharedStatus = Arc<RwLock<SettlementStatus>>;

/// Checks that the L1 node is on the network's chain: the start block must be the one
/// `rollup.json` names.
pub async fn check_start(client: &Client, rollup: &RollupConfig) -> anyhow::Result<()> {
    let hash = client
        .get_block_hash(rollup.l1.height)
        .await
        .with_context(|| {
            format!(
                "the Bitcoin node has no block at the network's start height {}",
                rollup.l1.height
            )
        })?;
    anyhow::ensure!(
        hash.to_string() == rollup.l1.hash,
        "the Bitcoin node's block {} is {hash}, but this network starts at {}: wrong Bitcoin chain",
        rollup.l1.height,
        rollup.l1.hash
    );
    Ok(())
}

/// What the settlement task shares with the rest of the node.
pub struct Links {
    /// Where derived blocks are announced (RPC subscriptions).
    pub blocks: broadcast::Sender<BlockWithReceipts>,
    /// The L1 data fee rate the sequencer charges (set from the batcher's rate).
    pub l1_fee_rate: L1FeeRate,
    /// The peg, on networks with one.
    pub peg: Option<PegLink>,
    /// The sequencer's mempool, which takes the transactions forced through Bitcoin.
    pub pool: Option<Arc<cairn_sequencer::Pool>>,
    /// The sequencer's block producer, through which derivation seals the block for
    /// overdue forced transactions.
    pub producer: Option<Arc<Producer>>,
    /// Where the active member of the sequencer set is published for this node's
    /// signers (set once derivation has caught up).
    pub active_sequencer: cairn_bridge::ActiveSequencer,
}

/// The sequencer's producer as derivation's [`ChainWriter`]: the block for overdue forced
/// transactions is sealed between two of the producer's.
struct ProducerWriter(Arc<Producer>);

impl ChainWriter for ProducerWriter {
    fn rewrite_from(
        &self,
        keep: u64,
        write: &mut dyn FnMut() -> Result<(), DeriveError>,
    ) -> Result<(), DeriveError> {
        self.0
            .rewrite_from(keep, write)
            .map_err(|e| DeriveError::ForcedBlock(e.to_string()))?
    }
}

/// Opens the batcher (sequencer only) and returns the task to run. It runs until aborted, or ends
/// with the error that stopped derivation (the node must not serve a chain it can no
/// longer follow: run it as a critical task).
pub async fn spawn(
    client: Client,
    storage: Arc<Storage>,
    config: SettlementConfig,
    data_dir: PathBuf,
    poll_interval: Duration,
    links: Links,
) -> anyhow::Result<(
    impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    SharedStatus,
)> {
    let Links {
        blocks,
        l1_fee_rate,
        peg,
        pool,
        producer,
        active_sequencer,
    } = links;
    let rollup = &config.rollup;
    let role = if config.is_follower() {
        Role::Follower
    } else {
        Role::Sequencer
    };
    let mut deriver = Deriver::new(storage.clone(), rollup, role)?;
    let own = match &config.sequencer {
        Some(key) => {
            let xonly = key.x_only_public_key().0;
            let index = deriver
                .sequencers()
                .iter()
                .position(|k| *k == xonly)
                .with_context(|| {
                    format!("the sequencer key {xonly} is not in the network's sequencer set (rollup.json sequencerKey/sequencers)")
                })?;
            deriver = deriver.with_own_key(index);
            Some(index)
        }
        None => None,
    };
    // A member of a set of several waits for derivation to say whose turn it is; a lone
    // sequencer is always the active one.
    let set_size = deriver.sequencers().len();
    let active = own.is_some() && set_size == 1;
    if let (Some(producer), true) = (&producer, own.is_some() && !active) {
        producer.set_active(false);
    }
    if let Some(link) = &peg {
        deriver = deriver.with_peg_verifier(Arc::new(PegChecker::new(link.peg.clone())));
    }
    let producer = producer.filter(|_| !config.is_follower());
    if let Some(producer) = &producer {
        deriver = deriver.with_chain_writer(Arc::new(ProducerWriter(producer.clone())));
    }
    if config.ignore_forced {
        deriver = deriver.ignoring_forced();
    }
    let network = crate::rollup::bitcoin_network(rollup.l1.network);
    let mut batcher = match config.sequencer {
        Some(key) => {
            let dir = data_dir.join("batcher");
            let batcher = Batcher::open(
                &dir,
                client.clone(),
                storage.clone(),
                rollup.chain.chain_id,
                network,
                key,
                config.batcher.clone(),
            )
            .with_context(|| format!("cannot open the batcher in {}", dir.display()))?;
            Some(batcher)
        }
        None => None,
    };
    let status = Arc::new(RwLock::new(SettlementStatus {
        sequencer: batcher.is_some(),
        l1_start: rollup.l1.height,
        finality_depth: rollup.finality_depth,
        sequencers: rollup.sequencer_set(),
        sequencer_timeout: rollup.sequencer_timeout(),
        own,
        active,
        ..SettlementStatus::default()
    }));
    if let Some(batcher) = &mut batcher {
        let address = batcher.funding_address()?;
        let balance = batcher.balance().total();
        tracing::info!(target: TARGET, %address, %balance, "batcher wallet: send bitcoin to this address to pay for batches");
        if let Some(amount) = config.dev_funding
            && balance < amount / 2
            && let Err(e) = fund_from_l1_wallet(&client, &address, amount).await
        {
            tracing::warn!(target: TARGET, error = format!("{e:#}"), %address, "could not fund the batcher wallet: send it bitcoin yourself");
        }
        let mut s = status.write();
        s.batcher_address = Some(address.to_string());
        s.batcher_balance = Some(balance);
    }
    let source = BlockSource::from_height(
        client.clone(),
        rollup.l1.height + 1,
        BlockSourceConfig {
            poll_interval,
            ..BlockSourceConfig::default()
        },
    );
    let task = Task {
        client,
        source,
        deriver: Some(deriver),
        batcher,
        storage,
        blocks,
        status: status.clone(),
        finality_depth: rollup.finality_depth,
        poll_interval,
        l1_fee_rate,
        priced_tip: None,
        coordinated_tip: None,
        peg,
        pool: pool.filter(|_| !config.is_follower() && !config.ignore_forced),
        forced_offered: std::collections::HashMap::new(),
        producer,
        own,
        active,
        turn_known: active,
        active_sequencer,
    };
    Ok((task.run(), status))
}

/// `cairn dev`: pays the batcher from the devnet's wallet and mines the payment.
async fn fund_from_l1_wallet(
    client: &Client,
    address: &bitcoin::Address,
    amount: Amount,
) -> anyhow::Result<()> {
    let txid = client
        .send_to_address(address, amount)
        .await
        .context("cannot fund the batcher wallet from the devnet wallet")?;
    let miner = client.get_new_address(None, None).await?;
    client.generate_to_address(1, &miner).await?;
    tracing::info!(target: TARGET, %txid, %amount, "funded the batcher wallet from the devnet wallet");
    Ok(())
}

struct Task {
    /// The Bitcoin node (blocks derivation waits for are fetched here, asynchronously).
    client: Client,
    source: BlockSource,
    /// Always `Some` but while derivation runs on a blocking thread.
    deriver: Option<Deriver>,
    batcher: Option<Batcher>,
    storage: Arc<Storage>,
    blocks: broadcast::Sender<BlockWithReceipts>,
    status: SharedStatus,
    finality_depth: u32,
    poll_interval: Duration,
    /// The L1 data fee rate charged to L2 transactions (sequencer: the batcher's rate).
    l1_fee_rate: L1FeeRate,
    /// The L1 tip at which that rate was last read.
    priced_tip: Option<bitcoin::BlockHash>,
    /// The L1 tip the payout coordinator last stepped at.
    coordinated_tip: Option<bitcoin::BlockHash>,
    /// The peg, on networks with one.
    peg: Option<PegLink>,
    /// The sequencer's mempool (forced transactions go there).
    pool: Option<Arc<cairn_sequencer::Pool>>,
    /// What the mempool last said to each forced transaction offered.
    forced_offered: std::collections::HashMap<alloy_primitives::B256, Result<(), String>>,
    /// The block producer (a node with a sequencer key).
    producer: Option<Arc<Producer>>,
    /// This node's index in the sequencer set.
    own: Option<usize>,
    /// Whether this node is the active sequencer: it seals blocks, posts batches and
    /// coordinates payouts only then.
    active: bool,
    /// Whether `active` has been decided (a member of a set of several decides once
    /// derivation has caught up).
    turn_known: bool,
    /// The active member, for this node's signers.
    active_sequencer: cairn_bridge::ActiveSequencer,
}

/// What settlement needs of the peg: the watcher, and on the sequencer the producer that
/// credits confirmed deposits.
#[derive(Clone)]
pub struct PegLink {
    /// The peg's watcher and addresses.
    pub peg: Arc<Peg>,
    /// The block producer (sequencer only).
    pub producer: Option<Arc<Producer>>,
    /// The payout coordinator (a sequencer that reaches its signers).
    pub coordinator: Option<Arc<Coordinator>>,
}

impl PegLink {
    fn offer(&self, ready: Ready) {
        if let Some(producer) = &self.producer {
            if !ready.deposits.is_empty() {
                producer.offer_deposits(ready.deposits);
            }
            if !ready.payouts.is_empty() {
                producer.offer_payouts(ready.payouts);
            }
        }
    }
}

impl Task {
    async fn run(mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut derived_blocks = 0u64;
        loop {
            cairn_settlement::failpoint("settlement-poll");
            let caught_up = loop {
                let update = match self.source.poll().await {
                    Ok(Some(update)) => update,
                    Ok(None) => break true,
                    Err(e) => {
                        tracing::warn!(target: TARGET, error = %e, "reading Bitcoin failed; retrying");
                        break false;
                    }
                };
                let ready = self.peg.as_ref().map(|link| link.peg.on_update(&update));
                if let Some(batcher) = &mut self.batcher
                    && let Err(e) = batcher.apply_update(&update)
                {
                    tracing::error!(target: TARGET, error = %e, "the batcher wallet could not apply an L1 update");
                }
                if let (Some(link), Some(ready)) = (self.peg.clone(), ready) {
                    // After the wallet saw the reorg: undone batches release what it lost.
                    if let Some(from) = ready.undo_from {
                        self.undo_blocks_from(from, &link).await;
                    }
                    link.offer(ready);
                }
                let before = self.storage.head_number();
                let mut outcomes = self.derive(move |deriver| deriver.apply(&update)).await?;
                self.offer_forced();
                outcomes.extend(self.fetch_wanted().await?);
                self.after_outcomes(&outcomes).await;
                derived_blocks += self.announce_from(before);
                let Some(deriver) = &self.deriver else {
                    anyhow::bail!("derivation state lost");
                };
                let rejected = outcomes
                    .iter()
                    .filter(|o| matches!(o, BatchOutcome::Rejected { .. }))
                    .count();
                if !outcomes.is_empty() {
                    let rate = derived_blocks as f64 / started.elapsed().as_secs_f64().max(0.001);
                    tracing::info!(
                        target: TARGET,
                        l1_height = deriver.l1_height(),
                        l1_tip = self.source.tip().map(|(h, _)| h),
                        l2_head = self.storage.head_number(),
                        batches = deriver.applied().len(),
                        rejected,
                        blocks_per_s = format!("{rate:.1}"),
                        "derived from Bitcoin"
                    );
                }
                self.publish(false);
            };
            if caught_up && let Some(link) = &self.peg {
                // Deposits offered to a block that failed to build are offered again.
                link.offer(link.peg.ready());
            }
            if caught_up {
                self.take_turn().await;
            }
            if caught_up
                && self.active
                && let (Some(batcher), Some(tip), Some(deriver)) =
                    (&mut self.batcher, self.source.tip(), &self.deriver)
            {
                if self.priced_tip != Some(tip.1) {
                    let rate = batcher.fee_rate().await;
                    if rate != self.l1_fee_rate.get() {
                        tracing::info!(target: TARGET, sat_per_kwu = rate.to_sat_per_kwu(), "L1 data fee rate");
                    }
                    self.l1_fee_rate.set(rate);
                    self.priced_tip = Some(tip.1);
                }
                let view = L1View {
                    tip,
                    applied: deriver.applied(),
                    derived_head: deriver.derived_head(),
                    finality_depth: self.finality_depth,
                };
                if let Err(e) = batcher.step(&view).await {
                    tracing::warn!(target: TARGET, error = %e, "batcher step failed; retrying");
                }
                if let Some(coordinator) = self.peg.as_ref().and_then(|l| l.coordinator.clone())
                    && self.coordinated_tip != Some(tip.1)
                {
                    coordinator.tick(tip.0, self.l1_fee_rate.get()).await;
                    self.coordinated_tip = Some(tip.1);
                }
            }
            // A batch still waiting for an older Bitcoin block: ask for it again.
            let before = self.storage.head_number();
            if !self.fetch_wanted().await?.is_empty() {
                derived_blocks += self.announce_from(before);
            }
            self.publish(caught_up);
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// The sequencer takes every transaction forced through Bitcoin into its mempool as
    /// soon as derivation finds it, and offers it again with every Bitcoin block until one
    /// of its blocks includes it (one refused for its fee or nonce may become valid later).
    /// Refusals are logged once per reason.
    fn offer_forced(&mut self) {
        let (Some(pool), Some(deriver), true) = (&self.pool, &self.deriver, self.active) else {
            return;
        };
        for forced in deriver.forced() {
            let (Ok(tx), ForcedStatus::Pending) = (&forced.tx, &forced.status) else {
                continue;
            };
            if !matches!(self.storage.transaction_location(&tx.hash), Ok(None))
                || pool.get(&tx.hash).is_some()
            {
                continue;
            }
            let outcome = pool.add(tx.clone()).map(|_| ()).map_err(|e| e.to_string());
            if self.forced_offered.get(&tx.hash) == Some(&outcome) {
                continue;
            }
            match &outcome {
                Ok(()) => {
                    tracing::info!(target: TARGET, l2_hash = %tx.hash, l1_height = forced.l1_height, "forced transaction taken into the mempool")
                }
                Err(error) => {
                    tracing::warn!(target: TARGET, l2_hash = %tx.hash, %error, deadline = forced.deadline, "the mempool refused a forced transaction; offering it again at the next step")
                }
            }
            self.forced_offered.insert(tx.hash, outcome);
        }
    }

    /// A member of the sequencer set follows the rule: when the next Bitcoin block's
    /// batches count only from this node it becomes the active sequencer (taking over
    /// from the last batch on Bitcoin: whatever it had beyond the derived chain from an
    /// earlier turn is dropped); when they count from another member it stands by,
    /// dropping the blocks it sealed and never got onto Bitcoin (their transactions go
    /// back to its mempool) and what its batcher had signed for them.
    async fn take_turn(&mut self) {
        let (Some(own), Some(deriver), Some((tip, _)), Some(producer)) = (
            self.own,
            &self.deriver,
            self.source.tip(),
            self.producer.clone(),
        ) else {
            return;
        };
        let turn = deriver.sequencer_at(tip + 1);
        let active = turn == own;
        if active == self.active && self.turn_known {
            return;
        }
        self.turn_known = true;
        let head = deriver.derived_head();
        let keep_own_blocks = active && deriver.is_last_poster();
        if active {
            tracing::warn!(target: TARGET, index = own, l1_tip = tip, from_block = head + 1, "this node's turn: it is the active sequencer");
        } else {
            producer.set_active(false);
            tracing::warn!(target: TARGET, index = own, active = turn, l1_tip = tip, back_to_block = head, "another sequencer's turn: this node stands by");
        }
        if !keep_own_blocks {
            if let Err(e) = producer.rewind_to(head) {
                tracing::error!(target: TARGET, error = %e, "cannot drop the blocks Bitcoin never settled");
                return;
            }
            if let Some(batcher) = &mut self.batcher
                && let Err(e) = batcher.forget_from(head + 1).await
            {
                tracing::error!(target: TARGET, error = %e, "the batcher could not forget the dropped blocks");
            }
        }
        producer.set_active(active);
        self.active = active;
    }

    /// What the sequencer's batcher learns from derivation. Blocks built for overdue
    /// forced transactions: it forgets what it signed from there on (every node refuses
    /// it) and continues after them. One of its own batches refused (mined where the rule
    /// did not count it, e.g. moved before its turn by a Bitcoin reorg): it forgets it
    /// and posts those blocks again.
    async fn after_outcomes(&mut self, outcomes: &[BatchOutcome]) {
        let Some(batcher) = &mut self.batcher else {
            return;
        };
        for outcome in outcomes {
            let from = match outcome {
                BatchOutcome::Forced(block) => block.number,
                BatchOutcome::Rejected { hash, .. } => {
                    match batcher.pending().iter().find(|p| p.batch.hash == *hash) {
                        Some(posting) => posting.batch.first_block,
                        None => continue,
                    }
                }
                BatchOutcome::Applied(_) => continue,
            };
            if let Err(e) = batcher.forget_from(from).await {
                tracing::error!(target: TARGET, error = %e, from, "the batcher could not forget what derivation refused");
            }
        }
    }

    /// Announces the blocks derivation added after `before` (followers; the sequencer's
    /// producer announces its own); returns how many.
    fn announce_from(&self, before: u64) -> u64 {
        if self.active {
            return 0;
        }
        let head = self.storage.head_number();
        for number in before.saturating_add(1)..=head {
            if let Ok(Some(block)) = self.storage.block_by_number(number) {
                let _ = self.blocks.send(block);
            }
        }
        head.saturating_sub(before)
    }

    /// A Bitcoin reorg removed a deposit L2 block `from` credited: the sequencer takes its
    /// chain back to before it (the later transactions return to the pool) and forgets the
    /// batches of the undone blocks. Followers need nothing: they follow the new batches.
    async fn undo_blocks_from(&mut self, from: u64, link: &PegLink) {
        let Some(producer) = &link.producer else {
            return;
        };
        match producer.rewind_to(from.saturating_sub(1)) {
            Ok(undone) => {
                tracing::warn!(target: TARGET, from, undone, "undid the L2 blocks from a credit whose deposit Bitcoin no longer has");
                if let Some(deriver) = &mut self.deriver {
                    deriver.forget_from(from);
                }
                if let Some(batcher) = &mut self.batcher
                    && let Err(e) = batcher.forget_from(from).await
                {
                    tracing::error!(target: TARGET, error = %e, "the batcher could not forget the undone blocks");
                }
            }
            Err(e) => {
                tracing::error!(target: TARGET, error = %e, from, "cannot undo the credit of a deposit Bitcoin no longer has");
            }
        }
    }

    /// Runs a derivation step off the async workers (a follower re-executes blocks); an
    /// error means derivation cannot go on.
    async fn derive(
        &mut self,
        step: impl FnOnce(&mut Deriver) -> Result<Vec<BatchOutcome>, DeriveError> + Send + 'static,
    ) -> anyhow::Result<Vec<BatchOutcome>> {
        let mut deriver = self.deriver.take().context("derivation state lost")?;
        let (deriver, result) = tokio::task::spawn_blocking(move || {
            let result = step(&mut deriver);
            (deriver, result)
        })
        .await
        .context("the derivation thread failed")?;
        self.deriver = Some(deriver);
        result.context("derivation stopped: this node cannot follow Bitcoin any further")
    }

    /// Fetches the Bitcoin blocks the next batch's peg records name (older than the
    /// blocks derivation keeps) and resumes it. A Bitcoin node that does not answer now is
    /// asked again at the next poll; derivation itself never waits on it.
    async fn fetch_wanted(&mut self) -> anyhow::Result<Vec<BatchOutcome>> {
        let wanted = self
            .deriver
            .as_ref()
            .map(Deriver::wanted_blocks)
            .unwrap_or_default();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        for hash in wanted {
            match cairn_settlement::l1blocks::fetch_block(&self.client, &hash).await {
                Ok(block) => {
                    if let Some(deriver) = &mut self.deriver {
                        deriver.provide_block(hash, block.as_ref().map(|(h, b)| (*h, b)));
                    }
                }
                Err(e) => {
                    tracing::warn!(target: TARGET, %hash, error = %e, "cannot fetch a Bitcoin block a batch names; asking again");
                    return Ok(Vec::new());
                }
            }
        }
        self.derive(Deriver::resume).await
    }

    fn publish(&self, caught_up: bool) {
        let mut s = self.status.write();
        s.l1_tip = self.source.tip();
        s.caught_up = caught_up;
        s.active = self.active;
        if let Some(deriver) = &self.deriver {
            s.l1_derived = deriver.l1_height();
            s.last_post = deriver.last_post();
            s.turn = deriver.sequencer_at(s.l1_tip.map_or(0, |(h, _)| h) + 1);
            if caught_up {
                *self.active_sequencer.write() = deriver.sequencers().get(s.turn).copied();
            }
            let applied = deriver.applied();
            if s.applied.len() != applied.len() || s.applied.last() != applied.last() {
                s.applied = applied.to_vec();
            }
            // Few, and their statuses change in place.
            s.forced = deriver.forced().to_vec();
        }
        if let Some(batcher) = &self.batcher {
            s.pending = batcher
                .pending()
                .iter()
                .map(|p| PendingBatch {
                    batch: p.batch,
                    commit: p.commit_txid(),
                    reveals: p.reveal_txids(),
                    fee_rate: p.fee_rate,
                })
                .collect();
            s.last_signed = batcher.last_batch();
            let balance = batcher.balance();
            s.batcher_balance = Some(balance.total());
        }
    }
}

/// The RPC's view of [`SettlementStatus`].
pub struct RpcSource(pub SharedStatus);

impl RpcSource {
    fn signed(&self, s: &SettlementStatus, pick: impl Fn(&BatchRef) -> bool) -> Option<BatchInfo> {
        s.pending
            .iter()
            .find(|p| pick(&p.batch))
            .map(|p| BatchInfo {
                number: p.batch.number,
                hash: p.batch.hash,
                first_block: p.batch.first_block,
                last_block: p.batch.last_block,
                l1_height: None,
                reveal_txids: p.reveals.iter().map(ToString::to_string).collect(),
                commit_txid: Some(p.commit.to_string()),
            })
    }
}

fn derived_info(s: &SettlementStatus, b: &AppliedBatch) -> BatchInfo {
    let commit = s
        .pending
        .iter()
        .find(|p| p.batch.number == b.number && p.batch.hash == b.hash)
        .map(|p| p.commit.to_string());
    BatchInfo {
        number: b.number,
        hash: b.hash,
        first_block: b.first_block,
        last_block: b.last_block,
        l1_height: Some(b.l1_height),
        reveal_txids: b.txids.iter().map(ToString::to_string).collect(),
        commit_txid: commit,
    }
}

impl SettlementSource for RpcSource {
    fn forced(&self, from: u32) -> Vec<ForcedInfo> {
        let s = self.0.read();
        s.forced
            .iter()
            .filter(|f| f.l1_height >= from)
            .map(|f| ForcedInfo {
                l1_height: f.l1_height,
                txid: f.txid.to_string(),
                l2_hash: f.tx.as_ref().map(|tx| tx.hash).ok(),
                deadline: f.deadline,
                skipped: match &f.status {
                    ForcedStatus::Skipped { reason, .. } => Some(reason.clone()),
                    _ => None,
                },
            })
            .collect()
    }

    fn info(&self) -> SettlementInfo {
        let s = self.0.read();
        SettlementInfo {
            role: match (s.own, s.active) {
                (Some(_), true) => "sequencer",
                (Some(_), false) => "standby",
                (None, _) => "follower",
            },
            active_sequencer: ActiveSequencer {
                index: s.turn,
                key: s.sequencers.get(s.turn).cloned().unwrap_or_default(),
                last_batch_l1_height: (s.last_post.0 == s.turn).then_some(s.last_post.1),
                set_size: s.sequencers.len(),
                timeout: s.sequencer_timeout,
            },
            l1_start: s.l1_start,
            l1_tip: s.l1_tip.map(|(h, hash)| (h, hash.to_string())),
            l1_derived: s.l1_derived,
            caught_up: s.caught_up,
            finality_depth: s.finality_depth,
            derived: s.applied.len() as u64,
            last_signed: s.last_signed.map(|b| b.number),
            pending: s.pending.len() as u64,
            batcher: s
                .batcher_address
                .clone()
                .zip(s.batcher_balance.map(Amount::to_sat)),
        }
    }

    fn batch(&self, number: u64) -> Option<BatchInfo> {
        let s = self.0.read();
        // Derived batches are numbered from 0 without gaps.
        match usize::try_from(number).ok().and_then(|i| s.applied.get(i)) {
            Some(b) if b.number == number => Some(derived_info(&s, b)),
            _ => self.signed(&s, |b| b.number == number),
        }
    }

    fn batch_of_block(&self, block: u64) -> Option<BatchInfo> {
        let s = self.0.read();
        let index = s.applied.partition_point(|b| b.last_block < block);
        match s.applied.get(index) {
            Some(b) if b.first_block <= block => Some(derived_info(&s, b)),
            _ => self.signed(&s, |b| b.first_block <= block && block <= b.last_block),
        }
    }
}
