//! The block producer: seals a block every `block_time` when transactions are
//! waiting, and an empty block every `empty_block_interval` when idle, so that
//! timestamps and `eth_blockNumber` still move.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::Address;
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
        }
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
        let head = self.storage.head();
        let started = Instant::now();
        let mut builder = BlockBuilder::new(
            &self.storage,
            &self.spec,
            &head.block,
            self.next_block_time(),
            self.config.fee_recipient,
            self.pool.l1_fee_rate().get().to_sat_per_kwu(),
        );
        let system: Vec<SystemTx> = std::mem::take(&mut *self.system.lock());
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
        let max_count = (self.spec.block_gas_limit / 21_000) as usize;
        let candidates = self.pool.best(builder.base_fee(), max_count);
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
            next_tick += self.config.block_time;
            if next_tick < Instant::now() {
                // Building took longer than a block time: don't try to catch up.
                next_tick = Instant::now() + self.config.block_time;
            }
            let idle_due = last_block.elapsed() >= self.config.empty_block_interval;
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
