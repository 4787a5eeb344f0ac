//! The ledger: the peg's coins and the withdrawals waiting to be paid, from this node's
//! own L2 state (the blocks that credited deposits or recorded payouts, and the withdrawal
//! contract's storage). What signers check proposals against and what the coordinator
//! builds them from.

use std::collections::BTreeMap;

use bitcoin::hashes::Hash as _;
use bitcoin::{Amount, OutPoint, TxOut, Txid};
use cairn_execution::withdraw::{WITHDRAWAL_CONTRACT, WithdrawalRecord, request_count};
use cairn_peg::CoinSource;
use cairn_peg::policy::{PegView, PendingWithdrawal};

use crate::{Peg, Result};

/// The peg as this node's L2 state has it.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Coins, pending withdrawals, chain id and the peg script.
    pub view: PegView,
    /// Where each coin came from.
    pub sources: BTreeMap<OutPoint, CoinSource>,
    /// Coins that are credited deposits not yet swept (sat).
    pub unswept_deposits_sat: u64,
    /// Coins that are peg outputs (sat).
    pub peg_outputs_sat: u64,
    /// What the peg itself paid in Bitcoin fees (rotation sweeps, sat).
    pub peg_fees_sat: u64,
}

impl Ledger {
    /// The outputs `inputs` spend, in order; refuses a coin the peg does not hold.
    pub fn prevouts(&self, inputs: &[OutPoint]) -> Result<Vec<TxOut>> {
        inputs
            .iter()
            .map(|i| {
                self.view
                    .coins
                    .get(i)
                    .cloned()
                    .ok_or(crate::Error::NotAPegCoin(*i))
            })
            .collect()
    }
}

impl Peg {
    /// The peg's coins and the withdrawals finalized (at or below L2 block `finalized`)
    /// and unpaid, from this node's L2 state.
    pub fn ledger(&self, finalized: u64) -> Result<Ledger> {
        let mut ledger = Ledger {
            view: PegView {
                chain_id: self.chain_id,
                peg_script: self.peg_script(),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut spent_beyond = Vec::new();
        for number in self.storage.peg_blocks()? {
            let Some(block) = self.storage.block_by_number(number)? else {
                continue;
            };
            for deposit in &block.block.deposits {
                let outpoint = OutPoint::new(Txid::from_byte_array(deposit.txid.0), deposit.vout);
                let script = self
                    .output_in(deposit.epoch, deposit.recipient, deposit.reclaim_key)?
                    .tree()
                    .script_pubkey();
                ledger.view.coins.insert(
                    outpoint,
                    TxOut {
                        value: Amount::from_sat(deposit.amount_sat),
                        script_pubkey: script,
                    },
                );
                ledger.sources.insert(
                    outpoint,
                    CoinSource::Deposit {
                        recipient: deposit.recipient,
                        reclaim_key: deposit.reclaim_key,
                        epoch: deposit.epoch,
                    },
                );
            }
            for payout in &block.block.payouts {
                let mut spent = 0u64;
                for (txid, vout) in &payout.inputs {
                    let outpoint = OutPoint::new(Txid::from_byte_array(txid.0), *vout);
                    if let Some(coin) = ledger.view.coins.remove(&outpoint) {
                        spent += coin.value.to_sat();
                    }
                    ledger.sources.remove(&outpoint);
                }
                if let Some((vout, amount)) = payout.change {
                    let outpoint = OutPoint::new(Txid::from_byte_array(payout.txid.0), vout);
                    ledger.view.coins.insert(
                        outpoint,
                        TxOut {
                            value: Amount::from_sat(amount),
                            script_pubkey: self.peg_script_of(payout.epoch),
                        },
                    );
                    ledger.sources.insert(
                        outpoint,
                        CoinSource::Change {
                            epoch: payout.epoch,
                        },
                    );
                }
                // What left the peg beyond the withdrawals' own amounts (which paid their
                // share of the fee): a rotation sweep's fee, or a dust surplus without change.
                let kept = payout.change.map_or(0, |(_, amount)| amount);
                spent_beyond.push((spent.saturating_sub(kept), payout.withdrawals.clone()));
            }
        }
        for (outpoint, coin) in &ledger.view.coins {
            match ledger.sources.get(outpoint) {
                Some(CoinSource::Change { .. }) => ledger.peg_outputs_sat += coin.value.to_sat(),
                _ => ledger.unswept_deposits_sat += coin.value.to_sat(),
            }
        }
        let state = self.storage.latest_state();
        let slot = |index| state.storage(&WITHDRAWAL_CONTRACT, &index);
        for (left, withdrawals) in spent_beyond {
            let withdrawn: u64 = withdrawals
                .iter()
                .filter_map(|id| WithdrawalRecord::read(*id, slot))
                .map(|r| r.amount_sat)
                .sum();
            ledger.peg_fees_sat += left.saturating_sub(withdrawn);
        }
        for id in 0..request_count(slot) {
            let Some(record) = WithdrawalRecord::read(id, slot) else {
                continue;
            };
            if record.paid_by.is_none() && record.l2_block <= finalized {
                ledger.view.pending.insert(
                    id,
                    PendingWithdrawal {
                        script_pubkey: record.script_pubkey,
                        amount: Amount::from_sat(record.amount_sat),
                    },
                );
            }
        }
        Ok(ledger)
    }

    /// Whether every one of `withdrawals` is paid by a payout recorded at or below L2
    /// block `finalized` (what the signer's journal and the coordinator prune by).
    pub fn paid_and_final(&self, withdrawals: &[u64], finalized: u64) -> Result<bool> {
        let state = self.storage.latest_state();
        let slot = |index| state.storage(&WITHDRAWAL_CONTRACT, &index);
        for id in withdrawals {
            let Some(paid_by) = WithdrawalRecord::read(*id, slot).and_then(|r| r.paid_by) else {
                return Ok(false);
            };
            match self.storage.payout_location(&paid_by)? {
                Some((block, _)) if block <= finalized => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}
