//! Re-executing a recorded block for tracers: its deposits and payouts, then its
//! transactions one by one on the parent's state, any of them with an inspector watching.
//! What `debug_trace*`, `trace_*` and `ots_*` answer from.

use std::sync::Arc;

use cairn_primitives::{Block, ChainSpec, RecoveredTx};
use cairn_storage::Storage;
use revm::Inspector;

use crate::builder::{BlockBuilder, InspectContext, Inspected, SkippedTx};
use crate::{ExecutionError, Result};

/// A recorded block being re-executed, transaction by transaction.
pub struct Replay<'a> {
    builder: BlockBuilder<'a>,
    transactions: Vec<Arc<RecoveredTx>>,
    next: usize,
}

impl<'a> Replay<'a> {
    /// Re-apply `block`'s deposits and payouts on its parent's state; its transactions
    /// follow with [`Replay::skip_to`] and [`Replay::inspect_next`]. The parent's state
    /// must be in the history window (the storage error names the window otherwise).
    pub fn start(storage: &'a Storage, spec: &ChainSpec, block: &Block) -> Result<Self> {
        let mut builder = BlockBuilder::replay(storage, spec, block)?;
        for deposit in &block.deposits {
            builder.apply_deposit(deposit);
        }
        for payout in &block.payouts {
            builder.apply_payout(payout).map_err(|reason| {
                diverged(block.number(), &format!("payout {}: {reason}", payout.txid))
            })?;
        }
        Ok(Self {
            builder,
            transactions: block.transactions.clone(),
            next: 0,
        })
    }

    /// The block's transactions.
    pub fn transactions(&self) -> &[Arc<RecoveredTx>] {
        &self.transactions
    }

    /// Index of the next transaction to run.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Run the transactions before `index` without watching them.
    pub fn skip_to(&mut self, index: usize) -> Result<()> {
        while self.next < index.min(self.transactions.len()) {
            let tx = self.transactions[self.next].clone();
            self.builder
                .push(tx)
                .map_err(|skipped| self.refused(&skipped))?;
            self.next += 1;
        }
        Ok(())
    }

    /// Run the next transaction with `inspector` watching; `look` sees its outcome before
    /// it is committed. `None` when the block has no more transactions.
    pub fn inspect_next<I, R>(
        &mut self,
        inspector: &mut I,
        look: impl FnOnce(&mut I, Inspected<'_>) -> R,
    ) -> Result<Option<R>>
    where
        I: for<'x> Inspector<InspectContext<'x>>,
    {
        let Some(tx) = self.transactions.get(self.next).cloned() else {
            return Ok(None);
        };
        let seen = self
            .builder
            .push_inspected(tx, inspector, look)
            .map_err(|skipped| self.refused(&skipped))?;
        self.next += 1;
        Ok(Some(seen))
    }

    fn refused(&self, skipped: &SkippedTx) -> ExecutionError {
        let hash = self.transactions[self.next].hash;
        diverged(
            self.builder.number(),
            &format!("transaction {} ({hash}): {skipped}", self.next),
        )
    }
}

/// A recorded block that no longer re-executes: the store is inconsistent.
fn diverged(number: u64, what: &str) -> ExecutionError {
    ExecutionError::Evm(format!(
        "replaying block {number}: {what} no longer applies"
    ))
}
