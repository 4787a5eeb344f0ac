//! The batcher: the sequencer's sealed L2 blocks posted to Bitcoin as signed batches.
//!
//! Each step (driven by the node's settlement task after every L1 update, and about once
//! a second in between) does three things:
//!
//! 1. **Prune**: postings whose batch derivation has seen buried `finality_depth` deep
//!    leave the outbox.
//! 2. **Maintain** (once per new L1 tip): every posting not yet derived is broadcast again
//!    (the same transactions, so a batch is never posted twice); reveals that Bitcoin
//!    Core's package limits refused earlier go out once their commit confirmed. A commit
//!    whose inputs are gone (a reorg confirmed a conflicting spend) is abandoned and the
//!    same envelopes are committed again with other coins. Reveals still unconfirmed
//!    `bump_after_blocks` after signing are signed again at a higher fee (BIP125), which
//!    also pulls their commit in by CPFP: the commit budgets each reveal
//!    `bump_headroom` × its first fee so that there is room to bump.
//! 3. **Post**: when the L1 tip moved since the last batch (at least one batch per L1
//!    block), or when the L2 data waiting reaches `size_threshold`, the next batch is
//!    built, its commit and reveals signed, the lot written to the outbox, and only then
//!    broadcast.
//!
//! Fee rates come from `estimatesmartfee` (a fallback when bitcoind has no estimate),
//! never below the minimum relay fee and never above `max_fee_rate`.

pub mod outbox;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use alloy_primitives::B256;
use bitcoin::hashes::{Hash as _, HashEngine as _, sha256};
use bitcoin::secp256k1::Keypair;
use bitcoin::{Address, Amount, BlockHash, FeeRate, Network, OutPoint, ScriptBuf, Transaction};
use cairn_da::{
    DEFAULT_MAX_REVEAL_WEIGHT, build_reveal, commit_output, envelope_leaves, max_chunk_payload,
    reveal_weight,
};
use cairn_l1::{ChainUpdate, Client, code};
use cairn_storage::Storage;

use crate::batch::{BatchError, BatchPosition, build_batch};
use crate::derive::AppliedBatch;
use crate::wallet::{self, BatcherWallet, TxStatus};

pub use outbox::{BatchRef, OUTBOX_FILE, Outbox, OutboxError, Posting, Reveal};

const TARGET: &str = "cairn::batcher";

/// Bitcoin Core's minimum relay fee rate (1 sat/vB).
const MIN_RELAY_FEE: FeeRate = FeeRate::from_sat_per_kwu(250);
/// The least a replacement must add per vbyte (Core's incremental relay fee).
const INCREMENTAL_FEE: FeeRate = FeeRate::from_sat_per_kwu(250);

/// How the batcher posts and pays.
#[derive(Debug, Clone)]
pub struct BatcherConfig {
    /// Never pay more than this, whatever the estimate says.
    pub max_fee_rate: FeeRate,
    /// The rate used while bitcoind has no estimate (a fresh regtest or signet).
    pub fallback_fee_rate: FeeRate,
    /// `estimatesmartfee`'s confirmation target, in blocks.
    pub conf_target: u16,
    /// Post without waiting for the next L1 block once this many bytes of L2 blocks
    /// (raw transactions, before compression) wait.
    pub size_threshold: usize,
    /// Largest batch, in raw bytes of its blocks (at least one block per batch).
    pub max_batch_bytes: usize,
    /// Most batches signed and not yet derived from Bitcoin.
    pub max_in_flight: usize,
    /// Unconfirmed reveals are signed again at a higher fee after this many L1 blocks.
    pub bump_after_blocks: u32,
    /// Each commit output holds this many times the reveal's first fee (capped by
    /// `max_fee_rate`), so that the reveal can be bumped; the rest returns to the wallet.
    pub bump_headroom: u64,
    /// Largest reveal weight (standard transactions: 400,000 WU).
    pub max_reveal_weight: u64,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_fee_rate: FeeRate::from_sat_per_vb_u32(100),
            fallback_fee_rate: FeeRate::from_sat_per_vb_u32(2),
            conf_target: 2,
            size_threshold: 300_000,
            max_batch_bytes: 2_000_000,
            max_in_flight: 8,
            bump_after_blocks: 2,
            bump_headroom: 3,
            max_reveal_weight: DEFAULT_MAX_REVEAL_WEIGHT,
        }
    }
}

/// Why a batcher step failed. Every one leaves the outbox consistent: the step can be
/// retried.
#[derive(Debug, thiserror::Error)]
pub enum BatcherError {
    /// The wallet failed (insufficient funds among others).
    #[error(transparent)]
    Wallet(#[from] wallet::Error),
    /// The outbox could not be written.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The batch could not be built.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The envelopes could not be built.
    #[error(transparent)]
    Envelope(#[from] cairn_da::Error),
    /// Bitcoin could not be reached.
    #[error(transparent)]
    L1(#[from] cairn_l1::Error),
    /// The L2 database failed.
    #[error(transparent)]
    Storage(#[from] cairn_storage::StorageError),
}

/// What the batcher knows of Bitcoin and of derivation at a step.
#[derive(Debug, Clone, Copy)]
pub struct L1View<'a> {
    /// The L1 tip.
    pub tip: (u32, BlockHash),
    /// The batches derived from Bitcoin so far, in order.
    pub applied: &'a [AppliedBatch],
    /// The last block derivation settled: the end of the last batch, or a later block it
    /// built itself for overdue forced transactions (which no batch carries).
    pub derived_head: u64,
    /// Confirmations that make a batch final.
    pub finality_depth: u32,
}

impl L1View<'_> {
    fn applied(&self, batch: &BatchRef) -> Option<&AppliedBatch> {
        self.applied
            .iter()
            .rev()
            .find(|b| b.number == batch.number && b.hash == batch.hash)
    }

    fn is_final(&self, batch: &BatchRef) -> bool {
        self.applied(batch)
            .is_some_and(|b| self.tip.0 + 1 >= b.l1_height + self.finality_depth)
    }
}

/// What broadcasting a posting's transactions achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broadcast {
    /// Everything is in the mempool or in a block.
    Complete,
    /// Some transactions must wait (package limits, a missing parent) or were refused
    /// for a reason that may pass.
    Waiting,
    /// The commit can never be valid: its inputs are spent elsewhere.
    CommitDead,
}

/// The batcher. See the module documentation.
pub struct Batcher {
    client: Client,
    storage: Arc<Storage>,
    chain_id: u64,
    sequencer: Keypair,
    wallet: BatcherWallet,
    outbox: Outbox,
    config: BatcherConfig,
    /// Raw sizes of the blocks after the last batch, counted so far.
    backlog: BTreeMap<u64, usize>,
    /// The L1 tip height when the last batch was signed.
    last_post_tip: Option<u32>,
    /// The L1 tip height of the last maintenance.
    maintained_tip: Option<u32>,
    /// Whether the wallet's leftovers of a crash have been cleaned up.
    recovered: bool,
    /// The L1 height of the last "fund me" warning.
    warned_funds_at: Option<u32>,
}

impl Batcher {
    /// Opens the batcher's wallet and outbox in `dir`. The wallet's keys derive from the
    /// sequencer key, so the sequencer key file is the only secret to back up.
    pub fn open(
        dir: &Path,
        client: Client,
        storage: Arc<Storage>,
        chain_id: u64,
        network: Network,
        sequencer: Keypair,
        config: BatcherConfig,
    ) -> Result<Self, BatcherError> {
        let wallet = BatcherWallet::open(dir, &wallet_seed(&sequencer), network)?;
        let outbox = Outbox::open(dir)?;
        tracing::info!(
            target: TARGET,
            last_batch = ?outbox.last().map(|b| b.number),
            pending = outbox.pending().len(),
            "batcher outbox opened"
        );
        Ok(Self {
            client,
            storage,
            chain_id,
            sequencer,
            wallet,
            outbox,
            config,
            backlog: BTreeMap::new(),
            last_post_tip: None,
            maintained_tip: None,
            recovered: false,
            warned_funds_at: None,
        })
    }

    /// The address to fund the batcher at (the same one until it receives something).
    pub fn funding_address(&mut self) -> Result<Address, BatcherError> {
        Ok(self.wallet.unused_address()?)
    }

    /// The wallet's balance.
    pub fn balance(&self) -> wallet::Balance {
        self.wallet.balance()
    }

    /// Postings not yet final.
    pub fn pending(&self) -> &[Posting] {
        self.outbox.pending()
    }

    /// The last batch signed.
    pub fn last_batch(&self) -> Option<BatchRef> {
        self.outbox.last()
    }

    /// Feeds the wallet one L1 update (replays of blocks it has are skipped).
    pub fn apply_update(&mut self, update: &ChainUpdate) -> Result<(), BatcherError> {
        Ok(self.wallet.sync(update)?)
    }

    /// One step: prune, maintain (once per L1 tip), post. Call it only once the L1
    /// updates up to `view.tip` have been given to [`Batcher::apply_update`] and to
    /// derivation.
    pub async fn step(&mut self, view: &L1View<'_>) -> Result<(), BatcherError> {
        if !self.recovered {
            self.recover().await?;
            self.recovered = true;
        }
        let removed = self.outbox.retain(|p| !view.is_final(&p.batch))?;
        if removed > 0 {
            tracing::debug!(target: TARGET, removed, "final batches left the outbox");
        }
        if self.maintained_tip != Some(view.tip.0) {
            self.maintain(view).await?;
            self.maintained_tip = Some(view.tip.0);
        }
        match self.post(view).await {
            Err(BatcherError::Wallet(wallet::Error::InsufficientFunds { needed, available })) => {
                if self.warned_funds_at != Some(view.tip.0) {
                    self.warned_funds_at = Some(view.tip.0);
                    let address = self.funding_address()?;
                    tracing::warn!(target: TARGET, %needed, %available, %address, "the batcher wallet cannot pay for the next batch: send bitcoin to its address");
                }
                Ok(())
            }
            other => other,
        }
    }

    /// Forgets what it signed or counted from L2 block `from` on (the sequencer undid those
    /// blocks): the next batch continues after the last one kept and carries the new
    /// blocks. Postings already broadcast may still be mined; every node rejects them.
    pub async fn forget_from(&mut self, from: u64) -> Result<(), BatcherError> {
        let dropped = self.outbox.forget_from(from)?;
        self.backlog.retain(|n, _| *n < from);
        self.last_post_tip = None;
        tracing::warn!(target: TARGET, from, dropped, "forgot batches of undone L2 blocks");
        // Their transactions that Bitcoin no longer has release their coins.
        self.recover().await
    }

    /// After a restart: wallet transactions that are neither in the outbox nor in the
    /// mempool (a commit signed just before a crash, before the outbox had it) release
    /// their coins.
    async fn recover(&mut self) -> Result<(), BatcherError> {
        let known: HashSet<_> = self
            .outbox
            .pending()
            .iter()
            .flat_map(|p| std::iter::once(p.commit_txid()).chain(p.reveal_txids()))
            .collect();
        for tx in self.wallet.unconfirmed_transactions() {
            let txid = tx.compute_txid();
            if known.contains(&txid) || self.client.get_mempool_entry(&txid).await?.is_some() {
                continue;
            }
            if self.wallet.tx_status(txid) == Some(TxStatus::Unconfirmed) {
                tracing::info!(target: TARGET, %txid, "releasing a transaction that was never posted");
                self.wallet.abandon(txid)?;
            }
        }
        Ok(())
    }

    /// Broadcasts every posting not yet derived again, reposts dead commits, bumps fees.
    async fn maintain(&mut self, view: &L1View<'_>) -> Result<(), BatcherError> {
        for index in 0..self.outbox.pending().len() {
            let posting = self.outbox.pending()[index].clone();
            if view.applied(&posting.batch).is_some() {
                continue;
            }
            match self.broadcast(&posting, false).await? {
                Broadcast::CommitDead => self.recommit(&posting, view).await?,
                // All in the mempool and still not mined: pay more. (Reveals waiting for
                // their commit to confirm would gain nothing.)
                Broadcast::Complete
                    if view.tip.0 >= posting.signed_at + self.config.bump_after_blocks =>
                {
                    self.bump(&posting, view).await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Posts the next batch if it is due.
    async fn post(&mut self, view: &L1View<'_>) -> Result<(), BatcherError> {
        let in_flight = self
            .outbox
            .pending()
            .iter()
            .filter(|p| view.applied(&p.batch).is_none())
            .count();
        if in_flight >= self.config.max_in_flight {
            return Ok(());
        }
        let (number, prev_hash, first_block) = self.next_position(view);
        // Blocks `cairn dev` made by editing state or may revert to a snapshot are never
        // posted.
        let head = self.storage.settleable_head();
        if first_block > head {
            return Ok(());
        }
        self.backlog.retain(|n, _| *n >= first_block);
        let counted = self
            .backlog
            .keys()
            .next_back()
            .map_or(first_block, |n| n + 1);
        for n in counted..=head {
            let Some(block) = self.storage.block_by_number(n)? else {
                break;
            };
            let bytes = 48
                + block
                    .block
                    .transactions
                    .iter()
                    .map(|tx| tx.encoded.len())
                    .sum::<usize>();
            self.backlog.insert(n, bytes);
        }
        let waiting: usize = self.backlog.values().sum();
        let new_l1_block = self.last_post_tip.is_none_or(|t| view.tip.0 > t);
        if !new_l1_block && waiting < self.config.size_threshold {
            return Ok(());
        }
        let mut last_block = first_block;
        let mut bytes = 0;
        for (n, size) in &self.backlog {
            if *n > first_block && bytes + size > self.config.max_batch_bytes {
                break;
            }
            bytes += size;
            last_block = *n;
        }
        let position = BatchPosition {
            number,
            prev_hash,
            first_block,
            last_block,
        };
        let (signed, body) = build_batch(
            &self.storage,
            self.chain_id,
            position,
            view.tip,
            &self.sequencer,
        )?;
        let xonly = self.sequencer.x_only_public_key().0;
        let leaves = envelope_leaves(
            &signed,
            &body,
            xonly,
            max_chunk_payload(self.config.max_reveal_weight),
        )?;
        let batch = BatchRef {
            number,
            hash: signed.hash(),
            first_block,
            last_block,
        };
        let fee_rate = self.fee_rate().await;
        let posting = self.sign_posting(batch, leaves, fee_rate, view.tip.0)?;
        crate::failpoint("batcher-before-outbox");
        // On disk before anything leaves: after a crash these same transactions go out.
        self.outbox.push(posting.clone())?;
        crate::failpoint("batcher-after-outbox");
        self.last_post_tip = Some(view.tip.0);
        tracing::info!(
            target: TARGET,
            number,
            blocks = ?(first_block..=last_block),
            body = body.len(),
            chunks = posting.reveals.len(),
            fee_rate = %sat_vb(fee_rate),
            commit = %posting.commit_txid(),
            "batch signed"
        );
        self.broadcast(&posting, true).await?;
        Ok(())
    }

    /// The next batch's number, previous hash and first block: after the last one signed,
    /// or after the last one derived if that is further (the outbox was lost); never at
    /// or before a block derivation built itself.
    fn next_position(&self, view: &L1View<'_>) -> (u64, B256, u64) {
        let signed = self.outbox.last();
        let derived = view.applied.last().map(|b| BatchRef {
            number: b.number,
            hash: b.hash,
            first_block: b.first_block,
            last_block: b.last_block,
        });
        let last = match (signed, derived) {
            (Some(s), Some(d)) if d.number > s.number => Some(d),
            (Some(s), _) => Some(s),
            (None, d) => d,
        };
        let (number, prev_hash, first_block) = match last {
            Some(last) => (last.number + 1, last.hash, last.last_block + 1),
            None => (0, B256::ZERO, 1),
        };
        (number, prev_hash, first_block.max(view.derived_head + 1))
    }

    /// The fee rate to sign at: the estimate (or the fallback), within the relay minimum
    /// and the configured ceiling. Also what L2 transactions pay for their bytes.
    pub async fn fee_rate(&self) -> FeeRate {
        let estimate = match self
            .client
            .estimate_smart_fee(self.config.conf_target, None)
            .await
        {
            Ok(estimate) => estimate.fee_rate,
            Err(e) => {
                tracing::warn!(target: TARGET, error = %e, "estimatesmartfee failed; using the fallback fee rate");
                None
            }
        };
        let rate = estimate
            .unwrap_or(self.config.fallback_fee_rate)
            .max(MIN_RELAY_FEE);
        if rate > self.config.max_fee_rate {
            tracing::warn!(target: TARGET, estimate = %sat_vb(rate), ceiling = %sat_vb(self.config.max_fee_rate), "fee estimate above the ceiling: paying the ceiling");
            return self.config.max_fee_rate;
        }
        rate
    }

    /// A commit paying one envelope output per leaf, and the reveals spending them at
    /// `fee_rate`, their leftovers returning to the wallet.
    fn sign_posting(
        &mut self,
        batch: BatchRef,
        leaves: Vec<ScriptBuf>,
        fee_rate: FeeRate,
        tip: u32,
    ) -> Result<Posting, BatcherError> {
        let xonly = self.sequencer.x_only_public_key().0;
        let destination = self.wallet.next_address()?.script_pubkey();
        let budget_rate = FeeRate::from_sat_per_kwu(
            fee_rate
                .to_sat_per_kwu()
                .saturating_mul(self.config.bump_headroom),
        )
        .min(self.config.max_fee_rate)
        .max(fee_rate);
        let mut outputs = Vec::with_capacity(leaves.len());
        let mut spends = Vec::with_capacity(leaves.len());
        for leaf in &leaves {
            let (script, info) = commit_output(leaf, xonly);
            let weight = reveal_weight(leaf, &destination);
            let budget = budget_rate
                .fee_vb(weight.to_vbytes_ceil())
                .unwrap_or(Amount::MAX_MONEY)
                + destination.minimal_non_dust();
            outputs.push((script, budget));
            spends.push((info, weight));
        }
        let commit = self.wallet.build_commit(&outputs, fee_rate)?;
        let txid = commit.compute_txid();
        let mut reveals = Vec::with_capacity(leaves.len());
        for (vout, (leaf, (info, weight))) in leaves.into_iter().zip(spends).enumerate() {
            let fee = fee_rate
                .fee_vb(weight.to_vbytes_ceil())
                .unwrap_or(Amount::MAX_MONEY);
            let tx = build_reveal(
                OutPoint::new(txid, vout as u32),
                &commit.output[vout],
                &leaf,
                &info,
                &self.sequencer,
                destination.clone(),
                fee,
            )?;
            reveals.push(Reveal { leaf, tx });
        }
        let reveal_txs: Vec<Transaction> = reveals.iter().map(|r| r.tx.clone()).collect();
        self.wallet.apply_unconfirmed(&reveal_txs)?;
        Ok(Posting {
            batch,
            commit,
            reveals,
            fee_rate,
            signed_at: tip,
        })
    }

    /// Sends the commit, then the reveals, each unless the wallet has it confirmed.
    async fn broadcast(&self, posting: &Posting, fresh: bool) -> Result<Broadcast, BatcherError> {
        let commit_txid = posting.commit_txid();
        let commit_confirmed = matches!(
            self.wallet.tx_status(commit_txid),
            Some(TxStatus::Confirmed { .. })
        );
        if !commit_confirmed {
            match self.client.send_raw_transaction(&posting.commit).await {
                Ok(_) => {}
                Err(e) if e.rpc_code() == Some(code::VERIFY_ALREADY_IN_CHAIN) => {}
                Err(e) if commit_is_dead(&e) => {
                    tracing::warn!(target: TARGET, number = posting.batch.number, commit = %commit_txid, error = %e, "the batch's commit can no longer be valid");
                    return Ok(Broadcast::CommitDead);
                }
                Err(e @ cairn_l1::Error::Rpc { .. }) => {
                    tracing::warn!(target: TARGET, number = posting.batch.number, commit = %commit_txid, error = %e, "commit refused for now");
                    return Ok(Broadcast::Waiting);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if fresh {
            crate::failpoint("batcher-after-commit");
        }
        for (index, reveal) in posting.reveals.iter().enumerate() {
            let txid = reveal.tx.compute_txid();
            if matches!(
                self.wallet.tx_status(txid),
                Some(TxStatus::Confirmed { .. })
            ) {
                continue;
            }
            match self.client.send_raw_transaction(&reveal.tx).await {
                Ok(_) => {}
                Err(e) if e.rpc_code() == Some(code::VERIFY_ALREADY_IN_CHAIN) => {}
                Err(e @ cairn_l1::Error::Rpc { .. }) => {
                    // Mostly Core's package limits: a commit with a large reveal pending
                    // takes no more descendants until it confirms.
                    tracing::debug!(target: TARGET, number = posting.batch.number, index, %txid, error = %e, "reveal waits");
                    return Ok(Broadcast::Waiting);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Broadcast::Complete)
    }

    /// The posting's commit is dead: commit the same envelopes again with other coins.
    async fn recommit(&mut self, old: &Posting, view: &L1View<'_>) -> Result<(), BatcherError> {
        match self.wallet.abandon(old.commit_txid()) {
            Ok(()) | Err(wallet::Error::UnknownTransaction(_)) => {}
            Err(e) => return Err(e.into()),
        }
        // A reorg can also drop the transactions the commit spent from (a time-locked
        // commit becomes non-final below its height): release whatever Bitcoin lost.
        self.recover().await?;
        let leaves = old.reveals.iter().map(|r| r.leaf.clone()).collect();
        let fee_rate = self.fee_rate().await.max(old.fee_rate);
        let posting = self.sign_posting(old.batch, leaves, fee_rate, view.tip.0)?;
        self.outbox.replace(posting.clone())?;
        tracing::warn!(target: TARGET, number = posting.batch.number, old = %old.commit_txid(), new = %posting.commit_txid(), "batch committed again");
        self.broadcast(&posting, false).await?;
        Ok(())
    }

    /// Signs the posting's unconfirmed reveals again at a higher fee (as far as their
    /// commit outputs allow) and broadcasts the replacements.
    async fn bump(&mut self, old: &Posting, view: &L1View<'_>) -> Result<(), BatcherError> {
        let target = self.fee_rate().await;
        let minimum = FeeRate::from_sat_per_kwu(
            old.fee_rate.to_sat_per_kwu() + INCREMENTAL_FEE.to_sat_per_kwu(),
        );
        let fee_rate = target.max(minimum).min(self.config.max_fee_rate);
        if fee_rate < minimum {
            tracing::warn!(target: TARGET, number = old.batch.number, fee_rate = %sat_vb(old.fee_rate), ceiling = %sat_vb(self.config.max_fee_rate), "batch unconfirmed at the fee ceiling: not bumping further");
            return Ok(());
        }
        let xonly = self.sequencer.x_only_public_key().0;
        let mut posting = old.clone();
        let mut bumped = Vec::new();
        for (vout, reveal) in posting.reveals.iter_mut().enumerate() {
            let txid = reveal.tx.compute_txid();
            if matches!(
                self.wallet.tx_status(txid),
                Some(TxStatus::Confirmed { .. })
            ) {
                continue;
            }
            let destination = reveal.tx.output[0].script_pubkey.clone();
            let (_, info) = commit_output(&reveal.leaf, xonly);
            let commit_out = &old.commit.output[vout];
            let most = commit_out
                .value
                .checked_sub(destination.minimal_non_dust())
                .unwrap_or(Amount::ZERO);
            // BIP125: the replacement pays at least the original's fee plus the incremental
            // relay fee for its own size (counted in whole vbytes, as Core does).
            let vsize = reveal_weight(&reveal.leaf, &destination).to_vbytes_ceil();
            let old_fee = commit_out
                .value
                .checked_sub(reveal.tx.output[0].value)
                .unwrap_or(Amount::ZERO);
            let fee = fee_rate
                .fee_vb(vsize)
                .unwrap_or(Amount::MAX_MONEY)
                .max(old_fee + INCREMENTAL_FEE.fee_vb(vsize).unwrap_or(Amount::MAX_MONEY))
                .min(most);
            reveal.tx = build_reveal(
                OutPoint::new(old.commit_txid(), vout as u32),
                commit_out,
                &reveal.leaf,
                &info,
                &self.sequencer,
                destination,
                fee,
            )?;
            bumped.push(reveal.tx.clone());
        }
        if bumped.is_empty() {
            return Ok(());
        }
        posting.fee_rate = fee_rate;
        posting.signed_at = view.tip.0;
        self.outbox.replace(posting.clone())?;
        self.wallet.apply_unconfirmed(&bumped)?;
        tracing::info!(target: TARGET, number = posting.batch.number, reveals = bumped.len(), from = %sat_vb(old.fee_rate), to = %sat_vb(fee_rate), "reveals fee-bumped");
        self.broadcast(&posting, false).await?;
        Ok(())
    }
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("wallet", &self.wallet)
            .field("last_batch", &self.outbox.last())
            .field("pending", &self.outbox.pending().len())
            .finish_non_exhaustive()
    }
}

/// Whether bitcoind's refusal of a commit means it can never be valid: an input is
/// missing or already spent (in a block, or by a mempool transaction it does not
/// replace).
fn commit_is_dead(e: &cairn_l1::Error) -> bool {
    let cairn_l1::Error::Rpc { code: c, message } = e else {
        return false;
    };
    (*c == code::VERIFY_ERROR && message.contains("missingorspent"))
        || (*c == code::VERIFY_REJECTED && message.contains("txn-mempool-conflict"))
}

/// A fee rate as operators read it.
fn sat_vb(rate: FeeRate) -> String {
    format!("{:.1} sat/vB", rate.to_sat_per_kwu() as f64 / 250.0)
}

/// The batcher wallet's seed: a tagged hash of the sequencer's secret key.
fn wallet_seed(sequencer: &Keypair) -> [u8; 32] {
    let tag = sha256::Hash::hash(b"cairn/batcher-wallet");
    let mut engine = sha256::Hash::engine();
    engine.input(tag.as_byte_array());
    engine.input(tag.as_byte_array());
    engine.input(&sequencer.secret_bytes());
    sha256::Hash::from_engine(engine).to_byte_array()
}
