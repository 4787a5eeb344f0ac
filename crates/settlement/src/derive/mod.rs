//! Derivation: the L2 chain rebuilt from Bitcoin alone. L1 blocks come in as
//! [`ChainUpdate`]s (from the L1 client's block source); every transaction is scanned for
//! batch envelopes, chunks are assembled into batches signed by a member of the sequencer
//! set, and each batch is checked against the chain so far (its number, its link to the
//! previous batch, its first block; its signer must be the member whose turn it is at its
//! Bitcoin height, [`Deriver::sequencer_at`]), decompressed, and re-executed block by
//! block. The batch is accepted
//! only if the state root after its last block equals the one its header commits to;
//! otherwise everything it applied is unwound and it is rejected, loudly.
//!
//! A node that already has the blocks (the sequencer itself, or a follower that restarted)
//! verifies instead of executing: the local block at the batch's end must carry the
//! committed state root. A Bitcoin reorg that drops batches unwinds a follower's chain to
//! the end of the last surviving batch, and moves `safe`/`finalized` back on every node.
//!
//! Transactions forced through Bitcoin are collected as they are found, and the block
//! that includes those past their deadline is built here too ([`forced`]).

use std::sync::Arc;

use alloy_primitives::B256;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Block, BlockHash, Txid};
use cairn_da::{
    AssembledBatch, Assembler, AssemblerConfig, BatchHeader, decode_batch_body, scan_transaction,
};
use cairn_execution::{BlockInput, execute_input};
use cairn_l1::ChainUpdate;
use cairn_primitives::{ChainSpec, Deposit, Payout, RollupConfig, decode_raw_transaction};
use cairn_storage::{Finality, Storage};

use crate::l1blocks::L1Blocks;

pub mod forced;

pub use forced::{ChainWriter, FORCED_BLOCK_BENEFICIARY, ForcedBlock, ForcedSeen, ForcedStatus};

const TARGET: &str = "cairn::derive";

/// Largest decompressed body a batch may have.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

/// Most batches kept while they wait for an earlier one (batches are independent
/// transactions, so a block may carry batch n+1 before batch n).
pub const MAX_WAITING_BATCHES: usize = 64;

/// Whether derived blocks are executed or only verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The sequencer: its blocks are canonical until Bitcoin says otherwise; derivation
    /// only verifies its posted batches and tracks finality. A reorg never unwinds it
    /// (the batcher reposts).
    Sequencer,
    /// A follower: executes every batch, and unwinds what a reorg drops.
    Follower,
}

/// A batch derivation accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedBatch {
    /// Its number.
    pub number: u64,
    /// Its header hash.
    pub hash: B256,
    /// Its L2 block range.
    pub first_block: u64,
    /// Inclusive.
    pub last_block: u64,
    /// The L1 height at which its last chunk appeared.
    pub l1_height: u32,
    /// The reveal transactions carrying it, by chunk index.
    pub txids: Vec<Txid>,
    /// Which member of the sequencer set signed it (its index).
    pub signer: usize,
}

/// What happened to one assembled batch (or, for [`BatchOutcome::Forced`], to the chain
/// at a deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Forced transactions were overdue: derivation added this block, and batches must
    /// continue from it.
    Forced(ForcedBlock),
    /// Accepted: its blocks are part of the chain.
    Applied(AppliedBatch),
    /// Refused: nothing of it was kept.
    Rejected {
        /// The batch number it claimed.
        number: u64,
        /// Its header hash.
        hash: B256,
        /// Why.
        reason: String,
    },
}

/// Failures that stop derivation (as opposed to a bad batch, which is only rejected).
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] cairn_storage::StorageError),
    /// A key of the rollup config's sequencer set is not a valid x-only key.
    #[error("rollup config: a sequencer key is not a valid x-only public key: {0}")]
    SequencerKey(String),
    /// Building the block for overdue forced transactions failed.
    #[error("cannot build the block for overdue forced transactions: {0}")]
    ForcedBlock(String),
    /// A reorg is deeper than the state history this node keeps.
    #[error("cannot unwind to block {target}: {source}")]
    Unwind {
        /// The block to return to.
        target: u64,
        /// Why not.
        source: cairn_storage::StorageError,
    },
}

/// Why a batch's peg record does not hold (or cannot be checked yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PegRecordError {
    /// The record names a Bitcoin block this node does not hold yet: derivation waits
    /// until the settlement task has fetched it.
    #[error("Bitcoin block {0} is not among the blocks this node holds yet")]
    Missing(BlockHash),
    /// The named block is not on the best chain (and the transaction is not in one
    /// that is).
    #[error("Bitcoin block {0} is unknown or not on the best chain")]
    NotBest(BlockHash),
    /// The named block comes after the batch.
    #[error("Bitcoin block {hash} (height {height}) comes after the batch (height {batch})")]
    AfterBatch {
        /// The block.
        hash: BlockHash,
        /// Its height.
        height: u32,
        /// The batch's L1 height.
        batch: u32,
    },
    /// The named block does not hold the transaction.
    #[error("Bitcoin block {0} does not hold the transaction")]
    NotInBlock(BlockHash),
    /// The deposit's output index is out of range.
    #[error("the transaction has no such output")]
    NoSuchOutput,
    /// The output pays another amount.
    #[error("the output pays {pays} sat, not {recorded}")]
    WrongAmount {
        /// What it pays.
        pays: u64,
        /// What the record says.
        recorded: u64,
    },
    /// The deposit is below the network's minimum.
    #[error("{amount} sat is below the minimum deposit {min}")]
    BelowMinimum {
        /// The deposit.
        amount: u64,
        /// The minimum.
        min: u64,
    },
    /// The output pays another script than the recipient's deposit address.
    #[error("the output does not pay the recipient's deposit address")]
    NotTheDepositAddress,
    /// The record names a signer set or reclaim key the network cannot have.
    #[error("the record's deposit address cannot be derived: {0}")]
    Underivable(String),
    /// The payout record's inputs differ from the transaction's.
    #[error("the record's inputs are not the transaction's")]
    InputsDiffer,
    /// A payout input spends through another script than a signer set's leaf.
    #[error("an input does not spend through the federation's leaf")]
    NotThroughLeaf,
    /// The payout does not commit to the record's withdrawals.
    #[error("the transaction does not commit to the record's withdrawals")]
    NoCommitment,
    /// The payout's change differs from the record's.
    #[error("the record's change is not the transaction's")]
    ChangeDiffers,
}

/// Why a batch is not applied now.
enum Refusal {
    /// It is invalid: rejected.
    Reject(String),
    /// Its peg records name these Bitcoin blocks, not here yet: it waits.
    Wait(Vec<BlockHash>),
}

/// Checks a batch's peg records against the Bitcoin blocks derivation has seen. A
/// deposit: the output exists in a best-chain block at or below the L1 height the batch
/// was found at, and pays exactly the deposit's amount to the deposit address of its
/// recipient. A payout: the transaction is in such a block, the federation signed it, and
/// it spends, pays and returns change as the record says. Implementations are pure: they
/// read `l1` only, and answer [`PegRecordError::Missing`] for a block it lacks.
pub trait PegVerifier: Send + Sync {
    /// Why `deposit` is not a real deposit visible at `l1_height`, if it is not.
    fn verify_deposit(
        &self,
        deposit: &Deposit,
        l1_height: u32,
        l1: &L1Blocks,
    ) -> Result<(), PegRecordError>;
    /// Why `payout` is not the federation's payout visible at `l1_height`, if it is not.
    fn verify_payout(
        &self,
        payout: &Payout,
        l1_height: u32,
        l1: &L1Blocks,
    ) -> Result<(), PegRecordError>;
}

/// The derivation state machine. Feed it every [`ChainUpdate`] from the network's L1
/// start height on, in order.
pub struct Deriver {
    storage: Arc<Storage>,
    spec: ChainSpec,
    role: Role,
    finality_depth: u32,
    assembler: Assembler,
    applied: Vec<AppliedBatch>,
    /// Complete batches ahead of the next expected number, by number (first seen wins).
    waiting: std::collections::BTreeMap<u64, AssembledBatch>,
    l1_height: Option<u32>,
    /// Checks deposits; a network without a peg has none, and a batch crediting one is
    /// rejected.
    deposits: Option<Arc<dyn PegVerifier>>,
    /// The recent Bitcoin blocks, and older ones fetched for peg records.
    l1: L1Blocks,
    /// The next batch, held back until the Bitcoin blocks its peg records name are here
    /// (with the L1 height it became applicable at).
    deferred: Option<(u32, AssembledBatch)>,
    /// The blocks it waits for.
    wanted: std::collections::BTreeSet<BlockHash>,
    /// Forced transactions for this chain found on Bitcoin, in L1 order.
    forced: Vec<ForcedSeen>,
    /// Bitcoin blocks within which each must be included.
    forced_window: u32,
    /// The blocks derivation built for overdue forced transactions, in order.
    forced_blocks: Vec<ForcedBlock>,
    /// Writes those blocks on a sequencer (see [`ChainWriter`]).
    writer: Option<Arc<dyn ChainWriter>>,
    /// Test hook: never build those blocks (a sequencer that ignores forced
    /// transactions).
    ignore_forced: bool,
    /// The sequencer set, in takeover order.
    sequencers: Vec<XOnlyPublicKey>,
    /// Bitcoin blocks of silence after which the next in the set may post.
    sequencer_timeout: u32,
    /// The network's L1 start height (the set's first member is active from there).
    l1_start: u32,
    /// This node's index in the sequencer set (a node holding one of its keys).
    own: Option<usize>,
}

impl Deriver {
    /// A deriver for the network `rollup` over `storage`.
    pub fn new(
        storage: Arc<Storage>,
        rollup: &RollupConfig,
        role: Role,
    ) -> Result<Self, DeriveError> {
        let sequencers = rollup
            .sequencer_set()
            .iter()
            .map(|key| key.parse::<XOnlyPublicKey>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeriveError::SequencerKey(e.to_string()))?;
        let mut config = AssemblerConfig::for_set(rollup.chain.chain_id, sequencers.clone());
        // Keep completed batches' chunks at least as long as a reorg may matter.
        config.reorg_window = config.reorg_window.max(rollup.finality_depth * 2);
        let deriver = Self {
            storage,
            spec: rollup.chain.clone(),
            role,
            finality_depth: rollup.finality_depth,
            assembler: Assembler::new(config),
            applied: Vec::new(),
            waiting: std::collections::BTreeMap::new(),
            l1_height: None,
            deposits: None,
            l1: L1Blocks::default(),
            deferred: None,
            wanted: std::collections::BTreeSet::new(),
            forced: Vec::new(),
            forced_window: rollup.forced_inclusion_window(),
            forced_blocks: Vec::new(),
            writer: None,
            ignore_forced: false,
            sequencers,
            sequencer_timeout: rollup.sequencer_timeout(),
            l1_start: rollup.l1.height,
            own: (role == Role::Sequencer).then_some(0),
        };
        deriver.publish_finality();
        Ok(deriver)
    }

    /// Check deposits with `verifier` (networks with a peg).
    pub fn with_peg_verifier(mut self, verifier: Arc<dyn PegVerifier>) -> Self {
        self.deposits = Some(verifier);
        self
    }

    /// Seal the blocks for overdue forced transactions through `writer` (a sequencer,
    /// whose producer also writes the chain).
    pub fn with_chain_writer(mut self, writer: Arc<dyn ChainWriter>) -> Self {
        self.writer = Some(writer);
        self
    }

    /// Test hook: a sequencer that ignores forced transactions never builds the block
    /// their deadline demands (followers do, and refuse its later batches).
    pub fn ignoring_forced(mut self) -> Self {
        self.ignore_forced = true;
        self
    }

    /// The blocks derivation built for overdue forced transactions, in order.
    pub fn forced_blocks(&self) -> &[ForcedBlock] {
        &self.forced_blocks
    }

    /// The last L2 block derivation has settled: the end of the last batch, or the last
    /// block it built for forced transactions if that is later.
    pub fn derived_head(&self) -> u64 {
        let batch = self.applied.last().map_or(0, |b| b.last_block);
        let forced = self.forced_blocks.last().map_or(0, |b| b.number);
        batch.max(forced)
    }

    /// This node holds key `index` of the sequencer set (a [`Role::Sequencer`] is the
    /// set's first member unless told otherwise). Its own batches are verified against
    /// the blocks it sealed; the others' are executed, like a follower's.
    pub fn with_own_key(mut self, index: usize) -> Self {
        self.own = Some(index);
        self
    }

    /// Whether this node is the sequencer that posted last (whose chain a reorg does not
    /// unwind: its batcher posts again).
    pub fn is_last_poster(&self) -> bool {
        self.own == Some(self.last_post().0)
    }

    /// The sequencer set's keys, in takeover order.
    pub fn sequencers(&self) -> &[XOnlyPublicKey] {
        &self.sequencers
    }

    /// The active sequencer's index in the set and the Bitcoin height it last posted at:
    /// the signer of the last derived batch and its height, or the set's first member
    /// from the network's start.
    pub fn last_post(&self) -> (usize, u32) {
        self.applied
            .last()
            .map_or((0, self.l1_start), |b| (b.signer, b.l1_height))
    }

    /// The member of the set whose batches count at Bitcoin height `height`: the one that
    /// posted last, until it has been silent for `sequencerTimeout` blocks; then the next
    /// in order, and after each further timeout the one after (wrapping around), until one
    /// of them posts and so becomes the active one.
    pub fn sequencer_at(&self, height: u32) -> usize {
        let (active, since) = self.last_post();
        let silent = height.saturating_sub(since);
        if silent <= self.sequencer_timeout {
            return active;
        }
        let turns = ((silent - 1) / self.sequencer_timeout) as usize;
        (active + turns) % self.sequencers.len().max(1)
    }

    /// Batches accepted so far, in order.
    pub fn applied(&self) -> &[AppliedBatch] {
        &self.applied
    }

    /// The forced transactions found so far, in L1 order.
    pub fn forced(&self) -> &[ForcedSeen] {
        &self.forced
    }

    /// The height of the last L1 block processed.
    pub fn l1_height(&self) -> Option<u32> {
        self.l1_height
    }

    /// Applies one L1 update: undo what disconnected blocks carried, then scan the
    /// connected ones in order.
    pub fn apply(&mut self, update: &ChainUpdate) -> Result<Vec<BatchOutcome>, DeriveError> {
        self.l1.apply(update);
        if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() {
            let keep = lowest.saturating_sub(1);
            self.rewind(keep)?;
            self.l1_height = Some(keep);
        }
        let mut outcomes = Vec::new();
        for (height, block) in &update.connected {
            outcomes.extend(self.scan_block(*height, block)?);
            self.l1_height = Some(*height);
        }
        self.publish_finality();
        Ok(outcomes)
    }

    /// The Bitcoin blocks the next batch waits for (its peg records name them and they
    /// are older than the blocks kept): fetch each and hand it in with
    /// [`Deriver::provide_block`], then call [`Deriver::resume`].
    pub fn wanted_blocks(&self) -> Vec<BlockHash> {
        self.wanted.iter().copied().collect()
    }

    /// A block [`Deriver::wanted_blocks`] named: `Some((height, block))` if it is on the
    /// Bitcoin node's best chain, `None` if the node does not have it there.
    pub fn provide_block(&mut self, hash: BlockHash, block: Option<(u32, &Block)>) {
        self.l1.provide(hash, block);
        self.wanted.remove(&hash);
    }

    /// Applies the held-back batch once every block it waits for is here (and whatever
    /// was waiting for it).
    pub fn resume(&mut self) -> Result<Vec<BatchOutcome>, DeriveError> {
        if !self.wanted.is_empty() {
            return Ok(Vec::new());
        }
        let Some((height, batch)) = self.deferred.take() else {
            return Ok(Vec::new());
        };
        let outcomes = self.offer(height, batch)?;
        self.publish_finality();
        Ok(outcomes)
    }

    /// Forgets the applied batches covering L2 block `from` or later (the sequencer undid
    /// those blocks): the next batch must continue from the last one kept.
    pub fn forget_from(&mut self, from: u64) {
        let before = self.applied.len() + self.forced_blocks.len();
        self.applied.retain(|b| b.last_block < from);
        self.forced_blocks.retain(|b| b.number < from);
        self.reopen_forced();
        if self.applied.len() + self.forced_blocks.len() < before {
            tracing::warn!(target: TARGET, from, dropped = before - self.applied.len() - self.forced_blocks.len(), "forgot batches of undone L2 blocks");
            self.publish_finality();
        }
    }

    /// Forgets everything found above L1 height `keep`.
    fn rewind(&mut self, keep: u32) -> Result<(), DeriveError> {
        self.forced.retain(|f| f.l1_height <= keep);
        let undone = self.assembler.rewind_to(keep);
        self.waiting.retain(|_, batch| batch.l1_height() <= keep);
        if self.deferred.as_ref().is_some_and(|(h, _)| *h > keep) {
            self.deferred = None;
            self.wanted.clear();
        }
        let before = self.applied.len() + self.forced_blocks.len();
        let was_last_poster = self.is_last_poster();
        let tip = self.l1_height.unwrap_or(0);
        while let Some(dropped) = self.forced_blocks.pop_if(|b| b.l1_height > keep) {
            tracing::warn!(target: TARGET, number = dropped.number, l1_height = dropped.l1_height, "a Bitcoin reorg dropped the deadline that made a forced-transaction block");
        }
        while let Some(dropped) = self.applied.pop_if(|b| b.l1_height > keep) {
            if tip + 1 >= dropped.l1_height + self.finality_depth {
                tracing::error!(
                    target: TARGET,
                    number = dropped.number,
                    l1_height = dropped.l1_height,
                    finality_depth = self.finality_depth,
                    "a Bitcoin reorg deeper than the finality depth dropped a FINALIZED batch: its blocks are no longer final"
                );
            }
        }
        self.reopen_forced();
        let after = self.applied.len() + self.forced_blocks.len();
        if after < before {
            let target = self.derived_head();
            tracing::warn!(target: TARGET, dropped = before - after, l1_height = keep, back_to_block = target, "a Bitcoin reorg dropped derived batches or blocks");
            if !was_last_poster && self.storage.head_number() > target {
                self.storage
                    .unwind_to(target)
                    .map_err(|source| DeriveError::Unwind { target, source })?;
            }
        }
        tracing::debug!(target: TARGET, undone = undone.len(), keep, "rewound the assembler");
        Ok(())
    }

    fn scan_block(&mut self, height: u32, block: &Block) -> Result<Vec<BatchOutcome>, DeriveError> {
        let mut outcomes = Vec::new();
        // Deadlines first: a batch in this block comes too late for a forced transaction
        // whose window ended at the block before.
        if self.deferred.is_none() {
            outcomes.extend(self.force_overdue(height, u64::from(block.header.time))?);
        }
        for tx in &block.txdata {
            self.scan_forced(height, tx);
            let chunks = scan_transaction(tx);
            if chunks.is_empty() {
                continue;
            }
            let txid = tx.compute_txid();
            for chunk in chunks {
                match self.assembler.push(height, txid, chunk) {
                    Ok(Some(batch)) => outcomes.extend(self.offer(height, batch)?),
                    Ok(None) => {}
                    Err(reason) => {
                        tracing::debug!(target: TARGET, %txid, %reason, "envelope chunk ignored")
                    }
                }
            }
        }
        Ok(outcomes)
    }

    /// Takes a complete batch found at L1 height `height`: applies it if it is the next
    /// one (and then whatever was waiting for it), keeps it if it is ahead of the chain,
    /// rejects it otherwise.
    fn offer(
        &mut self,
        height: u32,
        batch: AssembledBatch,
    ) -> Result<Vec<BatchOutcome>, DeriveError> {
        let number = batch.header.header.number;
        let next = self.applied.last().map_or(0, |last| last.number + 1);
        if let Some((_, deferred)) = &self.deferred {
            // The next batch waits for Bitcoin blocks: later ones wait behind it, a
            // repost of it takes its place.
            if deferred.header.header.number == number {
                self.deferred = Some((height, batch));
            } else if number > next && self.waiting.len() < MAX_WAITING_BATCHES {
                self.waiting.entry(number).or_insert(batch);
            }
            return Ok(Vec::new());
        }
        if number > next
            && self.waiting.len() < MAX_WAITING_BATCHES
            && !self.waiting.contains_key(&number)
        {
            tracing::debug!(target: TARGET, number, next, "batch ahead of the chain: waiting for the ones before it");
            self.waiting.insert(number, batch);
            return Ok(Vec::new());
        }
        let mut outcomes = Vec::new();
        let mut batch = batch;
        loop {
            match self.apply_batch(&batch, height)? {
                Some(outcome) => outcomes.push(outcome),
                None => {
                    self.deferred = Some((height, batch));
                    break;
                }
            }
            let Some(next) = self.applied.last().map(|last| last.number + 1) else {
                break;
            };
            let Some(waiting) = self.waiting.remove(&next) else {
                break;
            };
            batch = waiting;
        }
        Ok(outcomes)
    }

    /// Checks a complete batch against the chain and applies or verifies it; `height` is
    /// the L1 height at which it became applicable.
    fn apply_batch(
        &mut self,
        batch: &AssembledBatch,
        height: u32,
    ) -> Result<Option<BatchOutcome>, DeriveError> {
        let header = batch.header.header;
        let hash = batch.header.hash();
        let reject = |reason: String| {
            tracing::error!(target: TARGET, number = header.number, %hash, %reason, "batch rejected");
            BatchOutcome::Rejected {
                number: header.number,
                hash,
                reason,
            }
        };
        let (next_number, prev_hash) = match self.applied.last() {
            Some(last) => (last.number + 1, last.hash),
            None => (0, B256::ZERO),
        };
        let next_block = self.derived_head() + 1;
        if header.number != next_number
            || header.prev_hash != prev_hash
            || header.first_block != next_block
        {
            return Ok(Some(reject(format!(
                "does not continue the chain: batch {} (prev {}, blocks {}..={}) after batch {} (blocks up to {})",
                header.number,
                header.prev_hash,
                header.first_block,
                header.last_block,
                next_number as i128 - 1,
                next_block - 1
            ))));
        }
        let found_at = height.max(batch.l1_height());
        let allowed = self.sequencer_at(found_at);
        if batch.signer != allowed {
            self.assembler.forget(&hash);
            return Ok(Some(reject(format!(
                "signed by sequencer {} of the set, but sequencer {allowed} is the one whose batches count at Bitcoin height {found_at}",
                batch.signer
            ))));
        }
        // This node's own batches are checked against the blocks it sealed; anyone else's
        // win over blocks this node has beyond the derived chain (which Bitcoin never
        // settled: blocks it sealed as a sequencer and never posted).
        let own = self.own == Some(batch.signer);
        let outcome = if header.last_block <= self.storage.head_number() {
            match self.verify_known(&header)? {
                Err(reason) if !own => {
                    tracing::warn!(target: TARGET, number = header.number, %reason, "this node's blocks are not the batch's: Bitcoin wins, replacing them");
                    self.unwind(header.first_block - 1)?;
                    self.execute(&header, &batch.body, found_at)?
                }
                verdict => verdict.map_err(Refusal::Reject),
            }
        } else if own && self.role == Role::Sequencer {
            Err(Refusal::Reject(format!(
                "covers blocks up to {} but this sequencer's head is {}",
                header.last_block,
                self.storage.head_number()
            )))
        } else {
            self.execute(&header, &batch.body, height.max(batch.l1_height()))?
        };
        match outcome {
            Ok(()) => {
                let applied = AppliedBatch {
                    number: header.number,
                    hash,
                    first_block: header.first_block,
                    last_block: header.last_block,
                    l1_height: height.max(batch.l1_height()),
                    txids: batch.positions.iter().map(|p| p.txid).collect(),
                    signer: batch.signer,
                };
                tracing::info!(target: TARGET, number = applied.number, blocks = ?(applied.first_block..=applied.last_block), l1_height = applied.l1_height, "batch derived");
                self.applied.push(applied.clone());
                self.mark_included(applied.last_block)?;
                Ok(Some(BatchOutcome::Applied(applied)))
            }
            Err(Refusal::Reject(reason)) => Ok(Some(reject(reason))),
            Err(Refusal::Wait(blocks)) => {
                tracing::info!(target: TARGET, number = header.number, blocks = ?blocks, "batch waits for older Bitcoin blocks its peg records name");
                self.wanted.extend(blocks);
                Ok(None)
            }
        }
    }

    /// Blocks this node already has: the committed root must be the local one.
    fn verify_known(&self, header: &BatchHeader) -> Result<Result<(), String>, DeriveError> {
        let Some(local) = self.storage.block_by_number(header.last_block)? else {
            return Ok(Err(format!("local block {} is missing", header.last_block)));
        };
        let root = local.block.header.state_root;
        if root != header.post_state_root {
            return Ok(Err(format!(
                "state root mismatch at block {}: batch says {}, this node has {root}",
                header.last_block, header.post_state_root
            )));
        }
        Ok(Ok(()))
    }

    /// Executes a batch's blocks on the head; on any failure unwinds them again. Blocks
    /// of the batch this node already has (it stopped in the middle of the batch) are
    /// compared input for input instead of executed again.
    fn execute(
        &self,
        header: &BatchHeader,
        body: &[u8],
        l1_height: u32,
    ) -> Result<Result<(), Refusal>, DeriveError> {
        let blocks = match decode_batch_body(header, body, MAX_DECOMPRESSED) {
            Ok(blocks) => blocks,
            Err(e) => return Ok(Err(Refusal::Reject(format!("undecodable body: {e}")))),
        };
        if let Err(refusal) = self.verify_deposits(&blocks, l1_height) {
            return Ok(Err(refusal));
        }
        let mut start = self.storage.head_number();
        let mut have = start.saturating_sub(header.first_block - 1) as usize;
        if let Err(reason) =
            self.check_known_prefix(header.first_block, &blocks[..have.min(blocks.len())])
        {
            tracing::warn!(target: TARGET, number = header.number, %reason, "this node's blocks after the derived chain are not the batch's: Bitcoin wins, replacing them");
            start = header.first_block - 1;
            self.unwind(start)?;
            have = 0;
        }
        let result = self.execute_blocks(&blocks[have.min(blocks.len())..]);
        let result = result.and_then(|()| {
            let root = self.storage.head().block.header.state_root;
            if root == header.post_state_root {
                Ok(())
            } else {
                Err(format!(
                    "state root mismatch after block {}: batch says {}, re-execution gives {root}",
                    header.last_block, header.post_state_root
                ))
            }
        });
        if result.is_err() && self.storage.head_number() > start {
            self.unwind(start)?;
        }
        Ok(result.map_err(Refusal::Reject))
    }

    /// Unwinds the chain to block `target` if it is above.
    fn unwind(&self, target: u64) -> Result<(), DeriveError> {
        if self.storage.head_number() > target {
            self.storage
                .unwind_to(target)
                .map_err(|source| DeriveError::Unwind { target, source })?;
        }
        Ok(())
    }

    /// Local blocks from `first` on must have exactly the batch's inputs.
    fn check_known_prefix(
        &self,
        first: u64,
        blocks: &[cairn_da::BatchBlock],
    ) -> Result<(), String> {
        for (offset, expected) in blocks.iter().enumerate() {
            let number = first + offset as u64;
            let local = self
                .storage
                .block_by_number(number)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("local block {number} is missing"))?;
            let same = local.block.header.timestamp == expected.timestamp
                && local.block.header.beneficiary == expected.beneficiary
                && local.block.deposits == expected.deposits
                && local.block.payouts == expected.payouts
                && local.block.transactions.len() == expected.transactions.len()
                && local
                    .block
                    .transactions
                    .iter()
                    .zip(&expected.transactions)
                    .all(|(tx, raw)| tx.encoded == *raw);
            if !same {
                return Err(format!("local block {number} differs from the batch's"));
            }
        }
        Ok(())
    }

    /// Every deposit the batch credits and payout it records must be on Bitcoin by
    /// `l1_height`; records naming blocks this node does not hold yet make it wait.
    fn verify_deposits(
        &self,
        blocks: &[cairn_da::BatchBlock],
        l1_height: u32,
    ) -> Result<(), Refusal> {
        let mut missing = Vec::new();
        let mut check = |result: Result<(), PegRecordError>, what: &dyn Fn() -> String| match result
        {
            Ok(()) => Ok(()),
            Err(PegRecordError::Missing(hash)) => {
                missing.push(hash);
                Ok(())
            }
            Err(e) => Err(Refusal::Reject(format!("{}: {e}", what()))),
        };
        for deposit in blocks.iter().flat_map(|b| &b.deposits) {
            let Some(verifier) = &self.deposits else {
                return Err(Refusal::Reject(
                    "credits a deposit but this network has no peg".into(),
                ));
            };
            check(
                verifier.verify_deposit(deposit, l1_height, &self.l1),
                &|| {
                    format!(
                        "deposit {}:{} to {}",
                        Txid::from_byte_array(deposit.txid.0),
                        deposit.vout,
                        deposit.recipient
                    )
                },
            )?;
        }
        for payout in blocks.iter().flat_map(|b| &b.payouts) {
            let Some(verifier) = &self.deposits else {
                return Err(Refusal::Reject(
                    "records a payout but this network has no peg".into(),
                ));
            };
            check(verifier.verify_payout(payout, l1_height, &self.l1), &|| {
                format!("payout {}", Txid::from_byte_array(payout.txid.0))
            })?;
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Wait(missing))
        }
    }

    fn execute_blocks(&self, blocks: &[cairn_da::BatchBlock]) -> Result<(), String> {
        // Sender recovery (an ECDSA public-key recovery per transaction) is most of the
        // work and needs no state: all of the batch's, in parallel, before executing.
        use rayon::prelude::*;
        let decoded: Vec<Vec<Arc<cairn_primitives::RecoveredTx>>> = blocks
            .par_iter()
            .map(|block| {
                block
                    .transactions
                    .par_iter()
                    .enumerate()
                    .map(|(i, raw)| {
                        decode_raw_transaction(raw)
                            .map(Arc::new)
                            .map_err(|e| format!("transaction {i} does not decode: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        for (block, transactions) in blocks.iter().zip(decoded) {
            let input = BlockInput {
                timestamp: block.timestamp,
                beneficiary: block.beneficiary,
                l1_fee_rate: block.l1_fee_rate,
                system: Vec::new(),
                deposits: block.deposits.clone(),
                payouts: block.payouts.clone(),
                transactions,
            };
            let parent = self.storage.head().block;
            let built = execute_input(&self.storage, &self.spec, &parent, &input)
                .map_err(|e| e.to_string())?;
            self.storage
                .commit(built.block, built.receipts, built.changes)
                .map_err(|e| format!("commit failed: {e}"))?;
        }
        Ok(())
    }

    /// `safe`: the end of the last derived batch; `finalized`: the end of the last one
    /// buried `finality_depth` deep.
    fn publish_finality(&self) {
        let tip = self.l1_height.unwrap_or(0);
        let safe = self.derived_head();
        let deep = |l1_height: u32| tip + 1 >= l1_height + self.finality_depth;
        let batch = self
            .applied
            .iter()
            .rev()
            .find(|b| deep(b.l1_height))
            .map_or(0, |b| b.last_block);
        let forced = self
            .forced_blocks
            .iter()
            .rev()
            .find(|b| deep(b.l1_height))
            .map_or(0, |b| b.number);
        let finalized = batch.max(forced);
        self.storage.set_finality(Finality { safe, finalized });
    }
}
