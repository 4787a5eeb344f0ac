//! The block producer: seals a block every `block_time` when transactions are
//! waiting, and an empty block every `empty_block_interval` when idle, so that
//! timestamps and `eth_blockNumber` still move.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256};
use cairn_execution::{BlockBuilder, SkippedTx, SystemTx};
use cairn_primitives::{ChainSpec, Deposit, Payout};
use cairn_storage::{BlockWithReceipts, Storage};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::{Pool, Result};

/// Block production settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub block_time: Duration,
    pub empty_block_interval: Duration,
    /// Receives priority fees and base fees.
    pub fee_recipient: Address,
}

/// Seals blocks on top of the storage head.
pub struct Producer {
    storage: Arc<Storage>,
    pool: Arc<Pool>,
    spec: ChainSpec,
    config: ProducerConfig,
    blocks: broadcast::Sender<BlockWithReceipts>,
    system: Mutex<Vec<SystemTx>>,
    /// Bitcoin deposits the peg watcher found confirmed; each is credited once, by the
    /// first block built after it arrives.
    deposits: Mutex<Vec<Deposit>>,
    /// Bitcoin payouts the peg watcher found confirmed; each is recorded once.
    payouts: Mutex<Vec<Payout>>,
    /// Held while a block is built or the chain is rewound.
    building: Mutex<()>,
    stop: AtomicBool,
    /// Seconds added to the wall clock for block timestamps (`evm_increaseTime`, dev only).
    time_offset: AtomicU64,
    /// The next block's timestamp, if one was set (`evm_setNextBlockTimestamp`).
    next_timestamp: Mutex<Option<u64>>,
    /// What `cairn dev`'s controls changed about how blocks are made.
    dev: Mutex<DevKnobs>,
    /// Whether it is this node's turn to seal blocks (a member of a sequencer set that is
    /// not the active one stands by).
    active: AtomicBool,
}

/// How `cairn dev`'s controls change block production (Anvil's and Hardhat's knobs).
#[derive(Debug, Clone, Default)]
struct DevKnobs {
    /// Blocks are sealed only on request (`evm_setAutomine false`).
    manual: bool,
    /// Seal a block every interval, with or without transactions (`evm_setIntervalMining`).
    interval: Option<Duration>,
    /// The next block's base fee (`anvil_setNextBlockBaseFeePerGas`).
    next_base_fee: Option<u64>,
    /// Fees go here instead of the configured recipient (`anvil_setCoinbase`).
    coinbase: Option<Address>,
    /// Blocks' gas limit instead of the chain spec's (`anvil_setBlockGasLimit`).
    gas_limit: Option<u64>,
}

/// What a dev snapshot returns to: the head then, and the clock as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSnapshot {
    /// The head block's number and hash.
    pub number: u64,
    pub hash: B256,
    time_offset: u64,
    next_timestamp: Option<u64>,
}

/// Why a dev snapshot cannot be returned to.
#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    /// A later block credited a deposit or recorded a payout: Bitcoin still has it.
    #[error(
        "cannot revert to block {target}: block {block} {what}, which the Bitcoin devnet still holds"
    )]
    Settled {
        target: u64,
        block: u64,
        what: &'static str,
    },
    /// The snapshot's block is no longer the one at its height.
    #[error("the snapshot's block {0} is no longer in the chain")]
    Gone(u64),
    #[error(transparent)]
    Chain(#[from] crate::SequencerError),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Producer {
    pub fn new(
        storage: Arc<Storage>,
        pool: Arc<Pool>,
        spec: ChainSpec,
        config: ProducerConfig,
    ) -> Self {
        let (blocks, _) = broadcast::channel(1024);
        Self {
            storage,
            pool,
            spec,
            config,
            blocks,
            system: Mutex::new(Vec::new()),
            deposits: Mutex::new(Vec::new()),
            payouts: Mutex::new(Vec::new()),
            building: Mutex::new(()),
            stop: AtomicBool::new(false),
            time_offset: AtomicU64::new(0),
            next_timestamp: Mutex::new(None),
            dev: Mutex::new(DevKnobs::default()),
            active: AtomicBool::new(true),
        }
    }

    /// Seal blocks on schedule (`true`, the default) or stand by: another member of the
    /// sequencer set is the active one.
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
    }

    /// Whether the production loop seals blocks.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Sealed blocks, as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<BlockWithReceipts> {
        self.blocks.subscribe()
    }

    /// A handle to create more block subscriptions from.
    pub fn block_sender(&self) -> broadcast::Sender<BlockWithReceipts> {
        self.blocks.clone()
    }

    /// Move block time `seconds` ahead of the wall clock, on top of earlier moves; returns
    /// the whole offset.
    pub fn increase_time(&self, seconds: u64) -> u64 {
        self.time_offset.fetch_add(seconds, Ordering::SeqCst) + seconds
    }

    /// Give the next block `timestamp`; later blocks continue from it. Refused unless it
    /// is after the head's (Hardhat's rule).
    pub fn set_next_timestamp(&self, timestamp: u64) -> std::result::Result<(), String> {
        let head = self.storage.head().block.header.timestamp;
        if timestamp <= head {
            return Err(format!(
                "Timestamp {timestamp} is lower than or equal to previous block's timestamp {head}"
            ));
        }
        *self.next_timestamp.lock() = Some(timestamp);
        Ok(())
    }

    /// Seal `count` blocks now, empty or not; with `interval`, each `interval` seconds after
    /// the one before. Returns the last block's number.
    pub fn mine(&self, count: u64, interval: Option<u64>) -> Result<u64> {
        let mut last = self.storage.head_number();
        for i in 0..count {
            if let (Some(step), true) = (interval, i > 0) {
                let head = self.storage.head().block.header.timestamp;
                *self.next_timestamp.lock() = Some(head.saturating_add(step));
            }
            if let Some(block) = self.produce(true)? {
                last = block.block.number();
            }
        }
        Ok(last)
    }

    /// Apply `edits` to the state (`anvil_setBalance`...) in a block sealed now, without
    /// mempool transactions, so that `latest` shows them. Blocks from this one on exist only on
    /// this node (no batch can carry an edit). Returns the block's number.
    pub fn edit_state(&self, edits: Vec<SystemTx>) -> Result<u64> {
        self.storage
            .mark_local_from(self.storage.head_number().saturating_add(1))?;
        let _building = self.building.lock();
        let block = self.build(true, false, &edits)?;
        Ok(block.map_or_else(|| self.storage.head_number(), |b| b.block.number()))
    }

    /// Marks the chain from the next block on as this node's alone, as
    /// [`Producer::edit_state`] does, without editing anything (impersonated
    /// transactions, which no follower could check).
    pub fn go_local(&self) -> Result<()> {
        self.storage
            .mark_local_from(self.storage.head_number().saturating_add(1))?;
        Ok(())
    }

    /// Remember the head and the clock to come back to with [`Producer::revert_to`]. Later
    /// blocks are this node's alone: a snapshot's future may be thrown away.
    pub fn snapshot(&self) -> Result<ChainSnapshot> {
        let _building = self.building.lock();
        let head = self.storage.head();
        self.storage
            .mark_local_from(head.block.number().saturating_add(1))?;
        Ok(ChainSnapshot {
            number: head.block.number(),
            hash: head.block.hash,
            time_offset: self.time_offset.load(Ordering::SeqCst),
            next_timestamp: *self.next_timestamp.lock(),
        })
    }

    /// Go back to `snapshot`: later blocks are unwound and their transactions dropped,
    /// with the mempool, and the clock is put back. Refused if a later block credited a
    /// Bitcoin deposit or recorded a payout (Bitcoin cannot be reverted with it).
    pub fn revert_to(&self, snapshot: &ChainSnapshot) -> std::result::Result<(), RevertError> {
        let _building = self.building.lock();
        let at = self
            .storage
            .block_by_number(snapshot.number)
            .map_err(crate::SequencerError::from)?;
        if at.is_none_or(|b| b.block.hash != snapshot.hash) {
            return Err(RevertError::Gone(snapshot.number));
        }
        let head = self.storage.head_number();
        for number in snapshot.number + 1..=head {
            let Some(block) = self
                .storage
                .block_by_number(number)
                .map_err(crate::SequencerError::from)?
            else {
                continue;
            };
            let what = match (
                block.block.deposits.is_empty(),
                block.block.payouts.is_empty(),
            ) {
                (false, _) => "credits a Bitcoin deposit",
                (_, false) => "records a Bitcoin payout",
                _ => continue,
            };
            return Err(RevertError::Settled {
                target: snapshot.number,
                block: number,
                what,
            });
        }
        self.storage
            .unwind_to(snapshot.number)
            .map_err(crate::SequencerError::from)?;
        self.pool.drop_all();
        self.time_offset
            .store(snapshot.time_offset, Ordering::SeqCst);
        *self.next_timestamp.lock() = snapshot.next_timestamp;
        tracing::info!(target: "cairn::sequencer", from = head, to = snapshot.number, "reverted to a snapshot");
        Ok(())
    }

    /// Whether blocks are sealed as transactions arrive (`false`: only on request).
    pub fn automine(&self) -> bool {
        !self.dev.lock().manual
    }

    /// Seal blocks as transactions arrive, or only on request.
    pub fn set_automine(&self, on: bool) {
        self.dev.lock().manual = !on;
    }

    /// Seal a block every `interval` whether or not transactions wait (`None`: back to
    /// sealing when they do).
    pub fn set_interval_mining(&self, interval: Option<Duration>) {
        let mut dev = self.dev.lock();
        dev.interval = interval;
        if interval.is_some() {
            dev.manual = false;
        }
    }

    /// Give the next block this base fee. The chain is local from it on: followers
    /// compute the base fee from the parent block.
    pub fn set_next_base_fee(&self, base_fee: u64) -> Result<()> {
        self.go_local()?;
        self.dev.lock().next_base_fee = Some(base_fee);
        Ok(())
    }

    /// Send fees to `coinbase` from the next block on (batches carry each block's
    /// recipient, so this stays settleable).
    pub fn set_coinbase(&self, coinbase: Address) {
        self.dev.lock().coinbase = Some(coinbase);
    }

    /// Give blocks this gas limit from the next one on (local: the chain spec fixes it).
    pub fn set_block_gas_limit(&self, gas_limit: u64) -> Result<()> {
        self.go_local()?;
        self.dev.lock().gas_limit = Some(gas_limit);
        self.pool.set_block_gas_limit(gas_limit);
        Ok(())
    }

    /// Where block fees go now.
    pub fn coinbase(&self) -> Address {
        self.dev
            .lock()
            .coinbase
            .unwrap_or(self.config.fee_recipient)
    }

    /// The next block's timestamp: a set one, or the wall clock plus the offset.
    fn next_block_time(&self) -> u64 {
        match *self.next_timestamp.lock() {
            Some(set) => set,
            None => unix_now().saturating_add(self.time_offset.load(Ordering::SeqCst)),
        }
    }

    /// A block took the set timestamp: later blocks continue from it.
    fn timestamp_taken(&self) {
        if let Some(set) = self.next_timestamp.lock().take() {
            self.time_offset
                .store(set.saturating_sub(unix_now()), Ordering::SeqCst);
        }
    }

    /// Queue a system transaction for the next block (the peg's deposits).
    pub fn queue_system(&self, tx: SystemTx) {
        self.system.lock().push(tx);
    }

    /// Offer confirmed Bitcoin deposits for crediting. Offering one again, or one already
    /// credited, is harmless: the next block credits each outpoint once.
    pub fn offer_deposits(&self, deposits: impl IntoIterator<Item = Deposit>) {
        self.deposits.lock().extend(deposits);
    }

    /// Offer confirmed Bitcoin payouts for recording (again is harmless, as for deposits).
    pub fn offer_payouts(&self, payouts: impl IntoIterator<Item = Payout>) {
        self.payouts.lock().extend(payouts);
    }

    /// Payouts offered and not already in the chain.
    fn take_payouts(&self) -> Vec<Payout> {
        let offered = std::mem::take(&mut *self.payouts.lock());
        let mut seen = std::collections::HashSet::new();
        offered
            .into_iter()
            .filter(|p| seen.insert(p.txid))
            .filter(|p| matches!(self.storage.payout_location(&p.txid), Ok(None)))
            .collect()
    }

    /// Deposits offered, not yet credited and not already in the chain.
    fn take_deposits(&self) -> Vec<Deposit> {
        let offered = std::mem::take(&mut *self.deposits.lock());
        let mut seen = std::collections::HashSet::new();
        offered
            .into_iter()
            .filter(|d| seen.insert(d.outpoint_key()))
            .filter(|d| matches!(self.storage.deposit_location(&d.txid, d.vout), Ok(None)))
            .collect()
    }

    /// Build and commit one block if there is anything to put in it (or `force`).
    pub fn produce(&self, force: bool) -> Result<Option<BlockWithReceipts>> {
        let _building = self.building.lock();
        self.build(force, true, &[])
    }

    /// [`Producer::produce`] under the building lock: the queued system transactions and
    /// `edits` first, then the peg's, then (with `with_pool`) the mempool's best.
    fn build(
        &self,
        force: bool,
        with_pool: bool,
        edits: &[SystemTx],
    ) -> Result<Option<BlockWithReceipts>> {
        let head = self.storage.head();
        let started = Instant::now();
        let (base_fee, coinbase, gas_limit) = {
            let dev = self.dev.lock();
            let coinbase = dev.coinbase.unwrap_or(self.config.fee_recipient);
            (dev.next_base_fee, coinbase, dev.gas_limit)
        };
        let mut builder = BlockBuilder::new(
            &self.storage,
            &self.spec,
            &head.block,
            self.next_block_time(),
            coinbase,
            self.pool.l1_fee_rate().get().to_sat_per_kwu(),
        );
        if let Some(base_fee) = base_fee {
            builder.set_base_fee(base_fee);
        }
        if let Some(gas_limit) = gas_limit {
            builder.set_gas_limit(gas_limit);
        }
        let mut system: Vec<SystemTx> = std::mem::take(&mut *self.system.lock());
        system.extend_from_slice(edits);
        for tx in &system {
            builder.apply_system(tx);
        }
        let deposits = self.take_deposits();
        for deposit in &deposits {
            builder.apply_deposit(deposit);
        }
        for payout in self.take_payouts() {
            if let Err(reason) = builder.apply_payout(&payout) {
                tracing::error!(target: "cairn::sequencer", txid = %payout.txid, %reason, "cannot record a payout");
            }
        }
        let max_count = (builder.gas_remaining() / 21_000) as usize;
        let candidates = if with_pool {
            self.pool.best(builder.base_fee(), max_count)
        } else {
            Vec::new()
        };
        let mut invalid = Vec::new();
        let mut skipped_sender: Option<Address> = None;
        for tx in candidates {
            if skipped_sender == Some(tx.sender) {
                continue;
            }
            match builder.push(tx.clone()) {
                Ok(()) => {}
                Err(SkippedTx::BlockFull) => {
                    if builder.gas_remaining() < 21_000 {
                        break;
                    }
                    skipped_sender = Some(tx.sender);
                }
                Err(SkippedTx::Invalid(reason)) => {
                    tracing::debug!(target: "cairn::sequencer", hash = %tx.hash, %reason, "dropping invalid transaction");
                    invalid.push(tx.hash);
                    skipped_sender = Some(tx.sender);
                }
            }
        }
        if builder.transaction_count() == 0
            && system.is_empty()
            && deposits.is_empty()
            && builder.payout_count() == 0
            && !force
        {
            drop(builder);
            if !invalid.is_empty() {
                self.pool.on_block(&[], &invalid);
            }
            return Ok(None);
        }
        let built = builder.finish()?;
        self.timestamp_taken();
        self.dev.lock().next_base_fee = None;
        let executed = started.elapsed();
        let included = built.block.transactions.clone();
        let committed = self
            .storage
            .commit(built.block, built.receipts, built.changes)?;
        self.pool.on_block(&included, &invalid);
        let header = &committed.block.header;
        tracing::info!(
            target: "cairn::sequencer",
            number = header.number,
            hash = %committed.block.hash,
            txs = included.len(),
            deposits = deposits.len(),
            payouts = committed.block.payouts.len(),
            gas_used = header.gas_used,
            base_fee = header.base_fee_per_gas.unwrap_or_default(),
            build_ms = executed.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "sealed block"
        );
        let _ = self.blocks.send(committed.clone());
        Ok(Some(committed))
    }

    /// Takes the chain back to block `target` (a Bitcoin reorg removed a deposit a later
    /// block credited): the later blocks are unwound and their transactions go back to the
    /// pool, for the next blocks to include again (those that still apply). How many blocks
    /// were undone.
    pub fn rewind_to(&self, target: u64) -> Result<u64> {
        let _building = self.building.lock();
        self.unwind_requeue(target)
    }

    /// Takes the chain back to block `target` like [`Producer::rewind_to`], then runs
    /// `write` (which commits blocks of its own: derivation's block for overdue forced
    /// transactions) before any other block is sealed; the blocks it committed leave the
    /// pool and are announced like the producer's own.
    /// The outer error is the producer's, the inner one `write`'s.
    pub fn rewrite_from<E>(
        &self,
        target: u64,
        write: impl FnOnce() -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<(), E>> {
        let _building = self.building.lock();
        self.unwind_requeue(target)?;
        let result = write();
        let head = self.storage.head_number();
        for number in target + 1..=head {
            if let Some(block) = self.storage.block_by_number(number)? {
                self.pool.on_block(&block.block.transactions, &[]);
                let _ = self.blocks.send(block);
            }
        }
        Ok(result)
    }

    /// [`Producer::rewind_to`] under the building lock.
    fn unwind_requeue(&self, target: u64) -> Result<u64> {
        let head = self.storage.head_number();
        if target >= head {
            return Ok(0);
        }
        let mut transactions = Vec::new();
        for number in target + 1..=head {
            if let Some(block) = self.storage.block_by_number(number)? {
                transactions.extend(block.block.transactions.iter().cloned());
            }
        }
        self.storage.unwind_to(target)?;
        // Offers made against the old chain are made again against the new one.
        self.deposits.lock().clear();
        self.payouts.lock().clear();
        let mut requeued = 0;
        for tx in transactions {
            if self.pool.add(tx).is_ok() {
                requeued += 1;
            }
        }
        tracing::warn!(target: "cairn::sequencer", target, undone = head - target, requeued, "rewound the chain");
        Ok(head - target)
    }

    /// Ask the production loop to stop after its current block.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Run the production loop on the current thread until [`stop`](Self::stop).
    pub fn run(&self) {
        let mut last_block = Instant::now();
        let mut next_tick = Instant::now() + self.config.block_time;
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next_tick {
                std::thread::sleep(next_tick - now);
            }
            let (manual, interval) = {
                let dev = self.dev.lock();
                (dev.manual, dev.interval)
            };
            let tick = interval.unwrap_or(self.config.block_time);
            next_tick += tick;
            if next_tick < Instant::now() {
                // Building took longer than a block time: don't try to catch up.
                next_tick = Instant::now() + tick;
            }
            if manual || !self.is_active() {
                continue;
            }
            let idle_due =
                interval.is_some() || last_block.elapsed() >= self.config.empty_block_interval;
            if self.pool.is_empty()
                && !idle_due
                && self.system.lock().is_empty()
                && self.deposits.lock().is_empty()
                && self.payouts.lock().is_empty()
            {
                continue;
            }
            match self.produce(idle_due) {
                Ok(Some(_)) => last_block = Instant::now(),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(target: "cairn::sequencer", error = %e, "block production failed; retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }
}
