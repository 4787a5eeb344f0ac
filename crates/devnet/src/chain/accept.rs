//! Mempool admission: bitcoind's `AcceptToMemoryPool` rules, full-RBF replacement, and
//! re-admission after reorgs.

use std::collections::{BTreeSet, HashSet};

use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid};

use crate::error::{Reject, RejectKind, Result};
use crate::params::{
    INCREMENTAL_RELAY_FEE, MAX_ANCESTORS, MAX_DESCENDANTS, MAX_PACKAGE_VSIZE,
    MAX_REPLACEMENT_CANDIDATES, MAX_STANDARD_TX_SIGOPS_COST, MAX_STANDARD_TX_WEIGHT, MIN_RELAY_FEE,
    format_feerate_btc_kvb, format_money,
};
use crate::policy::{check_standard, check_standard_witness};
use crate::validation::{
    Coin, check_transaction, check_tx_inputs, is_final, sequence_locks, sequence_locks_met,
    sigop_adjusted_vsize, sigop_cost, verify_scripts,
};

use super::{Accepted, Chain};

impl Chain {
    // ---- mempool -------------------------------------------------------------------------

    /// Validates `tx` against the tip and the mempool as bitcoind's `AcceptToMemoryPool`
    /// does; adds it unless `test_only`.
    pub fn accept_transaction(
        &mut self,
        tx: &Transaction,
        test_only: bool,
    ) -> Result<Accepted, Reject> {
        check_transaction(tx)?;
        if tx.is_coinbase() {
            return Err(Reject::invalid("coinbase"));
        }
        if !(1..=3).contains(&tx.version.0) {
            return Err(Reject::invalid("version"));
        }
        if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
            return Err(Reject::invalid("tx-size"));
        }
        check_standard(tx)?;
        let height = self.height() + 1;
        let tip_mtp = self.median_time_past(&self.tip());
        if !is_final(tx, height, tip_mtp) {
            return Err(Reject::invalid("non-final"));
        }
        let txid = tx.compute_txid();
        if let Some(entry) = self.mempool.get(&txid) {
            let reason = if entry.tx.compute_wtxid() == tx.compute_wtxid() {
                "txn-already-in-mempool"
            } else {
                "txn-same-nonwitness-data-in-mempool"
            };
            return Err(Reject::invalid(reason).with_kind(RejectKind::AlreadyInMempool));
        }
        let conflicts: BTreeSet<Txid> = tx
            .input
            .iter()
            .filter_map(|i| self.mempool.spender(&i.previous_output))
            .collect();

        let mut coins = Vec::with_capacity(tx.input.len());
        for input in &tx.input {
            let op = &input.previous_output;
            if let Some(coin) = self.utxo.get(op) {
                coins.push(coin.clone());
            } else if let Some(out) = self.mempool.output(op) {
                coins.push(Coin {
                    output: out.clone(),
                    height,
                    is_coinbase: false,
                });
            } else {
                let known = (0..tx.output.len())
                    .filter_map(|v| u32::try_from(v).ok())
                    .any(|vout| self.utxo.contains_key(&OutPoint { txid, vout }));
                return Err(if known {
                    Reject::invalid("txn-already-known").with_kind(RejectKind::AlreadyInChain)
                } else {
                    Reject::invalid("bad-txns-inputs-missingorspent")
                        .with_kind(RejectKind::MissingInputs)
                });
            }
        }

        let lp = sequence_locks(tx, &coins, |h| self.mtp_at(h.saturating_sub(1)));
        if !sequence_locks_met(lp, height, tip_mtp) {
            return Err(Reject::invalid("non-BIP68-final"));
        }
        let fee = check_tx_inputs(tx, &coins, height)?;
        let spent: Vec<TxOut> = coins.into_iter().map(|c| c.output).collect();
        check_standard_witness(tx, &spent)?;
        let sigops = sigop_cost(tx, &spent);
        if sigops > MAX_STANDARD_TX_SIGOPS_COST {
            return Err(
                Reject::invalid("bad-txns-too-many-sigops").with_details(sigops.to_string())
            );
        }
        let vsize = sigop_adjusted_vsize(tx.weight().to_wu(), sigops);
        let min_fee = MIN_RELAY_FEE.fee_vb(vsize).unwrap_or(Amount::MAX);
        if fee < min_fee {
            return Err(
                Reject::invalid("min relay fee not met").with_details(format!(
                    "{} < {}",
                    fee.to_sat(),
                    min_fee.to_sat()
                )),
            );
        }

        self.check_package_limits(tx, vsize)?;

        let replaced = if conflicts.is_empty() {
            Vec::new()
        } else {
            self.check_replacement(tx, txid, fee, vsize, &conflicts)?
        };

        verify_scripts(tx, &spent)?;

        if !test_only {
            for id in &replaced {
                self.mempool.remove(id);
            }
            self.mempool.insert(tx.clone(), fee, vsize);
        }
        Ok(Accepted {
            txid,
            wtxid: tx.compute_wtxid(),
            fee,
            vsize,
            replaced,
        })
    }

    /// bitcoind's default ancestor and descendant limits (count and virtual size).
    fn check_package_limits(&self, tx: &Transaction, vsize: u64) -> Result<(), Reject> {
        let chain_err = |d: String| Reject::invalid("too-long-mempool-chain").with_details(d);
        let mut ancestors: HashSet<Txid> = HashSet::new();
        for input in &tx.input {
            ancestors.extend(self.mempool.with_ancestors(&input.previous_output.txid));
        }
        if ancestors.len() + 1 > MAX_ANCESTORS {
            return Err(chain_err(format!(
                "too many unconfirmed ancestors [limit: {MAX_ANCESTORS}]"
            )));
        }
        let size = ancestors
            .iter()
            .filter_map(|a| self.mempool.get(a))
            .map(|e| e.vsize)
            .sum::<u64>()
            + vsize;
        if size > MAX_PACKAGE_VSIZE {
            return Err(chain_err(format!(
                "exceeds ancestor size limit [limit: {MAX_PACKAGE_VSIZE}]"
            )));
        }
        for a in &ancestors {
            let descendants = self.mempool.with_descendants(a);
            if descendants.len() + 1 > MAX_DESCENDANTS {
                return Err(chain_err(format!(
                    "too many descendants for tx {a} [limit: {MAX_DESCENDANTS}]"
                )));
            }
            let size = descendants
                .iter()
                .filter_map(|d| self.mempool.get(d))
                .map(|e| e.vsize)
                .sum::<u64>()
                + vsize;
            if size > MAX_PACKAGE_VSIZE {
                return Err(chain_err(format!(
                    "exceeds descendant size limit for tx {a} [limit: {MAX_PACKAGE_VSIZE}]"
                )));
            }
        }
        Ok(())
    }

    /// bitcoind's (full-RBF) replacement rules. Returns every transaction to evict.
    fn check_replacement(
        &self,
        tx: &Transaction,
        txid: Txid,
        fee: Amount,
        vsize: u64,
        conflicts: &BTreeSet<Txid>,
    ) -> Result<Vec<Txid>, Reject> {
        let insufficient =
            |details: String| Reject::invalid("insufficient fee").with_details(details);
        let new_rate = fee.to_sat().saturating_mul(1000) / vsize.max(1);
        for c in conflicts {
            if let Some(entry) = self.mempool.get(c) {
                let old_rate = entry.sat_per_kvb();
                if new_rate <= old_rate {
                    return Err(insufficient(format!(
                        "rejecting replacement {txid}; new feerate {} <= old feerate {}",
                        format_feerate_btc_kvb(new_rate),
                        format_feerate_btc_kvb(old_rate)
                    )));
                }
            }
        }
        let mut evicted: BTreeSet<Txid> = BTreeSet::new();
        for c in conflicts {
            evicted.extend(self.mempool.with_descendants(c));
        }
        if evicted.len() > MAX_REPLACEMENT_CANDIDATES {
            return Err(
                Reject::invalid("too many potential replacements").with_details(format!(
                    // bitcoind's message really ends in a newline.
                    "rejecting replacement {txid}; too many potential replacements ({} > {})\n",
                    evicted.len(),
                    MAX_REPLACEMENT_CANDIDATES
                )),
            );
        }
        let conflict_parents: HashSet<Txid> = conflicts
            .iter()
            .filter_map(|c| self.mempool.get(c))
            .flat_map(|e| e.tx.input.iter().map(|i| i.previous_output.txid))
            .collect();
        for input in &tx.input {
            let parent = input.previous_output.txid;
            if evicted.contains(&parent) {
                return Err(Reject::invalid("bad-txns-spends-conflicting-tx")
                    .with_details(format!("{txid} spends conflicting transaction {parent}")));
            }
        }
        for (idx, input) in tx.input.iter().enumerate() {
            let parent = input.previous_output.txid;
            if self.mempool.contains(&parent) && !conflict_parents.contains(&parent) {
                return Err(
                    Reject::invalid("replacement-adds-unconfirmed").with_details(format!(
                        "replacement {txid} adds unconfirmed input, idx {idx}"
                    )),
                );
            }
        }
        let old_fees = evicted
            .iter()
            .filter_map(|id| self.mempool.get(id))
            .fold(Amount::ZERO, |acc, e| {
                acc.checked_add(e.fee).unwrap_or(Amount::MAX)
            });
        let Some(additional) = fee.checked_sub(old_fees) else {
            return Err(insufficient(format!(
                "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                format_money(fee),
                format_money(old_fees)
            )));
        };
        let required = INCREMENTAL_RELAY_FEE.fee_vb(vsize).unwrap_or(Amount::MAX);
        if additional < required {
            return Err(insufficient(format!(
                "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                format_money(additional),
                format_money(required)
            )));
        }
        Ok(evicted.into_iter().collect())
    }

    /// Re-admits transactions after a reorg (disconnected blocks' first, oldest block
    /// first), then the old mempool; whatever no longer validates is dropped.
    pub(super) fn refill_mempool(&mut self, disconnected: Vec<Vec<Transaction>>) {
        let old = self.mempool.drain();
        for tx in disconnected.into_iter().rev().flatten().chain(old) {
            if let Err(reject) = self.accept_transaction(&tx, false) {
                tracing::debug!(target: "cairn::devnet::chain", txid = %tx.compute_txid(), %reject, "dropped from mempool after reorg");
            }
        }
    }
}
