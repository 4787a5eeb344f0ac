//! Forced inclusion in derivation: the transactions forced through Bitcoin that
//! derivation found, what became of each, and the rule that includes those past their
//! deadline in a block every node builds itself (docs/BATCHES.md).

use std::sync::Arc;

use alloy_primitives::{Address, B256, address};
use bitcoin::Txid;
use cairn_da::envelope::scan_forced_transaction;
use cairn_execution::{BlockBuilder, SkippedTx};
use cairn_primitives::{RecoveredTx, decode_raw_transaction};
use cairn_storage::BlockWithReceipts;

use super::{BatchOutcome, DeriveError, Deriver, TARGET};

/// The fee recipient of a block derivation builds itself for forced transactions past
/// their deadline: an address no one holds a key to, so the fees those transactions pay
/// stay out of everyone's reach (they remain in the supply).
pub const FORCED_BLOCK_BENEFICIARY: Address =
    address!("0x00000000000000000000000000000000000f0ced");

/// A block derivation built itself: the forced transactions whose deadline passed without
/// a batch including them, on top of the last derived block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedBlock {
    /// Its number and hash.
    pub number: u64,
    pub hash: B256,
    /// The Bitcoin block whose arrival made it due (the first past the deadline).
    pub l1_height: u32,
    /// The forced transactions it holds, in L1 order.
    pub included: Vec<B256>,
    /// Those it skipped (invalid in its state), and why.
    pub skipped: Vec<(B256, String)>,
}

/// How derivation adds a block to a chain another part of the node also writes: the
/// sequencer's block producer implements it, so the block for overdue forced transactions
/// never races a block being sealed. Followers need none (derivation is their only
/// writer).
pub trait ChainWriter: Send + Sync {
    /// Unwinds the chain to block `keep` (the transactions of the blocks undone go back to
    /// the mempool, as a Bitcoin reorg's rewind does), then runs `write` while no other
    /// block is sealed, and announces the blocks it committed.
    fn rewrite_from(
        &self,
        keep: u64,
        write: &mut dyn FnMut() -> Result<(), DeriveError>,
    ) -> Result<(), DeriveError>;
}

/// A transaction forced through Bitcoin (a `cairn-force` envelope for this chain), in the
/// L1 order derivation found it.
#[derive(Debug, Clone)]
pub struct ForcedSeen {
    /// The Bitcoin block that carries it.
    pub l1_height: u32,
    /// The reveal transaction.
    pub txid: Txid,
    /// The signed L2 transaction, or why the envelope's bytes are not one.
    pub tx: Result<Arc<cairn_primitives::RecoveredTx>, String>,
    /// The last Bitcoin height at which a batch may include it.
    pub deadline: u32,
    /// What became of it.
    pub status: ForcedStatus,
}

/// What became of a forced transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForcedStatus {
    /// Not in the derived chain yet.
    Pending,
    /// In the derived chain, in this L2 block.
    Included(u64),
    /// Never to be included.
    Skipped {
        /// Why.
        reason: String,
        /// The block derivation built at its deadline without it (`None`: the envelope
        /// holds no signed transaction).
        block: Option<u64>,
    },
}

impl ForcedSeen {
    /// Whether it is still pending at Bitcoin height `height`, past its deadline.
    fn overdue(&self, height: u32) -> bool {
        self.status == ForcedStatus::Pending && self.deadline < height
    }
}

impl Deriver {
    /// Records the forced transactions for this chain that `tx` (in the Bitcoin block at
    /// `height`) carries.
    pub(super) fn scan_forced(&mut self, height: u32, tx: &bitcoin::Transaction) {
        let envelopes = scan_forced_transaction(tx);
        if envelopes.is_empty() {
            return;
        }
        let txid = tx.compute_txid();
        for envelope in envelopes {
            if envelope.chain_id != self.spec.chain_id {
                continue;
            }
            let decoded = decode_raw_transaction(&envelope.raw)
                .map(Arc::new)
                .map_err(|e| format!("not a signed transaction: {e}"));
            let status = match &decoded {
                Ok(_) => ForcedStatus::Pending,
                Err(reason) => ForcedStatus::Skipped {
                    reason: reason.clone(),
                    block: None,
                },
            };
            tracing::info!(target: TARGET, l1_height = height, %txid, l2_hash = ?decoded.as_ref().map(|t| t.hash).ok(), "forced transaction found on Bitcoin");
            self.forced.push(ForcedSeen {
                l1_height: height,
                txid,
                tx: decoded,
                deadline: height.saturating_add(self.forced_window),
                status,
            });
        }
    }

    /// Pending forced transactions the derived chain up to block `upto` holds become
    /// included.
    pub(super) fn mark_included(&mut self, upto: u64) -> Result<(), DeriveError> {
        for forced in &mut self.forced {
            let (ForcedStatus::Pending, Ok(tx)) = (&forced.status, &forced.tx) else {
                continue;
            };
            if let Some((number, _)) = self.storage.transaction_location(&tx.hash)?
                && number <= upto
            {
                forced.status = ForcedStatus::Included(number);
            }
        }
        Ok(())
    }

    /// After blocks left the derived chain: forced transactions they included, or that a
    /// dropped forced-transaction block skipped, are pending again.
    pub(super) fn reopen_forced(&mut self) {
        let head = self.derived_head();
        for forced in &mut self.forced {
            let reopen = match &forced.status {
                ForcedStatus::Included(number) => *number > head,
                ForcedStatus::Skipped {
                    block: Some(number),
                    ..
                } => *number > head,
                _ => false,
            };
            if reopen {
                forced.status = ForcedStatus::Pending;
            }
        }
    }

    /// The forced-inclusion rule, applied as Bitcoin block `height` (timestamp `time`)
    /// arrives: every forced transaction whose deadline is below `height` and that no
    /// derived block holds goes, in L1 order, into one block derivation builds on the last
    /// derived block: timestamp `max(parent's, time)`, fees to
    /// [`FORCED_BLOCK_BENEFICIARY`], no L1 data fee (its bytes are on Bitcoin already,
    /// paid by whoever forced it). Those invalid in its state (signature aside: nonce,
    /// funds, fee) are skipped for good; those that do not fit its gas wait for the next
    /// Bitcoin block. Any batch from here on must continue from this block. A node that
    /// has the block already (it restarted) checks it instead of building it.
    pub(super) fn force_overdue(
        &mut self,
        height: u32,
        time: u64,
    ) -> Result<Vec<BatchOutcome>, DeriveError> {
        if self.ignore_forced || !self.forced.iter().any(|f| f.overdue(height)) {
            return Ok(Vec::new());
        }
        let tip = self.derived_head();
        self.mark_included(tip)?;
        let due: Vec<Arc<RecoveredTx>> = self
            .forced
            .iter()
            .filter(|f| f.overdue(height))
            .filter_map(|f| f.tx.as_ref().ok().cloned())
            .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let parent = self.storage.block_by_number(tip)?.ok_or_else(|| {
            DeriveError::ForcedBlock(format!("the last derived block {tip} is missing"))
        })?;
        let timestamp = parent.block.header.timestamp.max(time);
        let known = self
            .storage
            .block_by_number(tip + 1)?
            .and_then(|local| self.known_forced_block(&local, timestamp, &due));
        let block = match known {
            Some(block) => block,
            None => {
                let mut built = None;
                let mut write = || -> Result<(), DeriveError> {
                    built = Some(self.build_forced_block(tip, timestamp, &due)?);
                    Ok(())
                };
                match &self.writer {
                    Some(writer) => writer.rewrite_from(tip, &mut write)?,
                    None => write()?,
                }
                built.ok_or_else(|| DeriveError::ForcedBlock("nothing was built".into()))?
            }
        };
        let block = ForcedBlock {
            l1_height: height,
            ..block
        };
        for forced in &mut self.forced {
            let Ok(tx) = &forced.tx else { continue };
            if block.included.contains(&tx.hash) {
                forced.status = ForcedStatus::Included(block.number);
            } else if let Some((_, reason)) = block.skipped.iter().find(|(h, _)| *h == tx.hash)
                && forced.status == ForcedStatus::Pending
            {
                forced.status = ForcedStatus::Skipped {
                    reason: reason.clone(),
                    block: Some(block.number),
                };
            }
        }
        tracing::warn!(target: TARGET, number = block.number, l1_height = height, included = block.included.len(), skipped = block.skipped.len(), "forced transactions were overdue: derivation built their block, batches continue from it");
        self.forced_blocks.push(block.clone());
        Ok(vec![BatchOutcome::Forced(block)])
    }

    /// Builds and commits the block for the overdue forced transactions `due` on block
    /// `tip` (unwinding anything above it first).
    fn build_forced_block(
        &self,
        tip: u64,
        timestamp: u64,
        due: &[Arc<RecoveredTx>],
    ) -> Result<ForcedBlock, DeriveError> {
        if self.storage.head_number() > tip {
            self.storage
                .unwind_to(tip)
                .map_err(|source| DeriveError::Unwind {
                    target: tip,
                    source,
                })?;
        }
        let parent = self.storage.head().block;
        let mut builder = BlockBuilder::new(
            &self.storage,
            &self.spec,
            &parent,
            timestamp,
            FORCED_BLOCK_BENEFICIARY,
            0,
        );
        let mut included = Vec::new();
        let mut skipped = Vec::new();
        for tx in due {
            match builder.push(tx.clone()) {
                Ok(()) => included.push(tx.hash),
                Err(SkippedTx::Invalid(reason)) => skipped.push((tx.hash, reason)),
                // First in an empty block and still too big: it never fits.
                Err(SkippedTx::BlockFull) if builder.transaction_count() == 0 => skipped.push((
                    tx.hash,
                    format!("gas limit {} is above the block gas limit", tx.gas_limit()),
                )),
                Err(SkippedTx::BlockFull) => {}
            }
        }
        for (hash, reason) in &skipped {
            self.storage.record_forced_skip(hash, reason)?;
        }
        let built = builder
            .finish()
            .map_err(|e| DeriveError::ForcedBlock(e.to_string()))?;
        let committed = self
            .storage
            .commit(built.block, built.receipts, built.changes)?;
        Ok(ForcedBlock {
            number: committed.block.number(),
            hash: committed.block.hash,
            l1_height: 0,
            included,
            skipped,
        })
    }

    /// `local` as the block for the overdue forced transactions `due`, if that is what it
    /// is: their timestamp and fee recipient, no peg records, and only those transactions,
    /// in their order. What it left out was skipped (the reason recorded when it was
    /// built) or did not fit.
    fn known_forced_block(
        &self,
        local: &BlockWithReceipts,
        timestamp: u64,
        due: &[Arc<RecoveredTx>],
    ) -> Option<ForcedBlock> {
        let block = &local.block;
        if block.header.timestamp != timestamp
            || block.header.beneficiary != FORCED_BLOCK_BENEFICIARY
            || !block.deposits.is_empty()
            || !block.payouts.is_empty()
        {
            return None;
        }
        let mut rest = due.iter();
        for tx in &block.transactions {
            rest.find(|d| d.hash == tx.hash)?;
        }
        let included: Vec<B256> = block.transactions.iter().map(|tx| tx.hash).collect();
        let skipped = due
            .iter()
            .filter(|d| !included.contains(&d.hash))
            .filter_map(|d| {
                let reason = self.storage.forced_skip(&d.hash).ok().flatten()?;
                Some((d.hash, reason))
            })
            .collect();
        Some(ForcedBlock {
            number: block.number(),
            hash: block.hash,
            l1_height: 0,
            included,
            skipped,
        })
    }
}
