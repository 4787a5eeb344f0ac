//! The watcher: every L1 update the settlement task reads goes through
//! [`Peg::on_update`], under one write lock of the peg's state. Outputs paying a
//! registered address at least the minimum are deposits; those with
//! `depositConfirmations` are offered to the block producer, which credits each outpoint
//! once (the store indexes credited outpoints). The federation's payout transactions are
//! recognised by the txids the coordinator proposed. Blocks a reorg disconnects take their
//! deposits and payouts with them; one the best chain passes without mining it again is
//! undone on L2 ([`Ready::undo_from`]).

use alloy_primitives::B256;
use bitcoin::hashes::Hash as _;
use bitcoin::{ScriptBuf, Txid};
use cairn_l1::ChainUpdate;
use cairn_primitives::{Deposit, Payout};

use crate::Peg;
use crate::state::{Found, FoundPayout, PegState, take_passed};

const TARGET: &str = "cairn::peg";

/// Confirmed peg events ready for the block producer.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    /// Deposits to credit.
    pub deposits: Vec<Deposit>,
    /// Payouts to record.
    pub payouts: Vec<Payout>,
    /// A Bitcoin reorg removed a credited deposit or a recorded payout: the L2 blocks from
    /// this one on must be undone (sequencer).
    pub undo_from: Option<u64>,
}

impl Peg {
    /// Follows one L1 update; returns the deposits and payouts now confirmed enough and not
    /// yet in the chain (to offer to the block producer).
    pub fn on_update(&self, update: &ChainUpdate) -> Ready {
        let mut state = self.state.write();
        self.watch_payouts(&mut state, update);
        self.watch_deposits(&mut state, update);
        let mut ready = self.ready_in(&state);
        ready.undo_from = undo_from(&mut state);
        ready
    }

    fn watch_deposits(&self, state: &mut PegState, update: &ChainUpdate) {
        let lowest = update.disconnected.iter().map(|(h, _)| *h).min();
        if let Some(lowest) = lowest {
            let dropped: Vec<_> = state
                .found
                .iter()
                .filter(|(_, f)| f.height >= lowest)
                .map(|(k, f)| (*k, *f))
                .collect();
            for (key, f) in dropped {
                state.found.remove(&key);
                if let Ok(Some((block, _))) = self
                    .storage
                    .deposit_location(&f.deposit.txid, f.deposit.vout)
                {
                    tracing::warn!(target: TARGET, txid = %key.0, vout = key.1, l2_block = block, "a Bitcoin reorg disconnected a credited deposit: it must be mined again by height {}", f.height);
                    state.dropped.insert(key, (f.height, block));
                }
            }
        }
        for (height, block) in &update.connected {
            let l1_block = B256::from(block.block_hash().to_byte_array());
            for tx in &block.txdata {
                for (vout, out) in tx.output.iter().enumerate() {
                    let Some((registration, epoch)) = state.watched.get(&out.script_pubkey) else {
                        continue;
                    };
                    let txid = tx.compute_txid();
                    let amount = out.value.to_sat();
                    if amount < self.spec.min_deposit_sat {
                        tracing::warn!(target: TARGET, %txid, vout, amount, min = self.spec.min_deposit_sat, "deposit below the minimum: not credited (reclaim it after the delay)");
                        continue;
                    }
                    let deposit = Deposit {
                        l1_block,
                        txid: B256::from(txid.to_byte_array()),
                        vout: vout as u32,
                        amount_sat: amount,
                        recipient: registration.recipient,
                        reclaim_key: registration.reclaim_key,
                        epoch: *epoch,
                    };
                    tracing::info!(target: TARGET, %txid, vout, amount, recipient = %registration.recipient, height, "deposit found on Bitcoin");
                    state.dropped.remove(&(txid, vout as u32));
                    state.found.insert(
                        (txid, vout as u32),
                        Found {
                            deposit,
                            height: *height,
                        },
                    );
                }
            }
            state.tip = Some(*height);
        }
        if let Some(lowest) = lowest
            && update.connected.is_empty()
        {
            state.tip = Some(lowest.saturating_sub(1));
        }
    }

    fn watch_payouts(&self, state: &mut PegState, update: &ChainUpdate) {
        if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() {
            let gone: Vec<(Txid, FoundPayout)> = state
                .found_payouts
                .iter()
                .filter(|(_, f)| f.height >= lowest)
                .map(|(t, f)| (*t, f.clone()))
                .collect();
            for (txid, f) in gone {
                state.found_payouts.remove(&txid);
                tracing::warn!(target: TARGET, %txid, "a Bitcoin reorg disconnected a payout");
                if let Ok(Some((block, _))) = self.storage.payout_location(&f.payout.txid) {
                    state.dropped_payouts.insert(txid, (f.height, block));
                }
            }
        }
        if state.proposed.is_empty() {
            return;
        }
        let peg_scripts: Vec<ScriptBuf> = (0..self.epochs.len() as u16)
            .map(|e| self.peg_script_of(e))
            .collect();
        for (height, block) in &update.connected {
            let l1_block = B256::from(block.block_hash().to_byte_array());
            for tx in &block.txdata {
                let txid = tx.compute_txid();
                let Some(withdrawals) = state.proposed.get(&txid).cloned() else {
                    continue;
                };
                let change_vout = withdrawals.len() + 1;
                let change = tx.output.get(change_vout).and_then(|o| {
                    let epoch = peg_scripts.iter().position(|s| *s == o.script_pubkey)?;
                    Some((change_vout as u32, o.value.to_sat(), epoch as u16))
                });
                let payout = Payout {
                    l1_block,
                    txid: B256::from(txid.to_byte_array()),
                    inputs: tx
                        .input
                        .iter()
                        .map(|i| {
                            let prev = i.previous_output;
                            (B256::from(prev.txid.to_byte_array()), prev.vout)
                        })
                        .collect(),
                    change: change.map(|(vout, amount, _)| (vout, amount)),
                    epoch: change.map_or(0, |(_, _, epoch)| epoch),
                    withdrawals: withdrawals.clone(),
                };
                tracing::info!(target: TARGET, %txid, height, withdrawals = withdrawals.len(), "payout confirmed on Bitcoin");
                state.dropped_payouts.remove(&txid);
                state.found_payouts.insert(
                    txid,
                    FoundPayout {
                        payout,
                        height: *height,
                    },
                );
            }
        }
    }

    /// Deposits and payouts with enough confirmations that no block has taken yet.
    pub fn ready(&self) -> Ready {
        self.ready_in(&self.state.read())
    }

    fn ready_in(&self, state: &PegState) -> Ready {
        let Some(tip) = state.tip else {
            return Ready::default();
        };
        let confirmed = |height: u32| tip + 1 >= height + self.spec.deposit_confirmations;
        Ready {
            deposits: state
                .found
                .values()
                .filter(|f| confirmed(f.height))
                .filter(|f| {
                    matches!(
                        self.storage
                            .deposit_location(&f.deposit.txid, f.deposit.vout),
                        Ok(None)
                    )
                })
                .map(|f| f.deposit)
                .collect(),
            payouts: state
                .found_payouts
                .values()
                .filter(|f| confirmed(f.height))
                .filter(|f| matches!(self.storage.payout_location(&f.payout.txid), Ok(None)))
                .map(|f| f.payout.clone())
                .collect(),
            undo_from: None,
        }
    }

    /// Remembers a payout the coordinator proposed, so that the watcher recognises it.
    pub fn expect_payout(&self, txid: Txid, withdrawals: Vec<u64>) {
        self.state.write().proposed.insert(txid, withdrawals);
    }

    /// Forgets proposed payouts the coordinator pruned (their withdrawals are paid and
    /// final).
    pub fn forget_payouts(&self, txids: &[Txid]) {
        let mut state = self.state.write();
        for txid in txids {
            state.proposed.remove(txid);
        }
    }

    /// Whether a proposed payout is in a block of the current best chain.
    pub fn payout_confirmed(&self, txid: &Txid) -> bool {
        self.state.read().found_payouts.contains_key(txid)
    }
}

/// The first L2 block to undo, if the best chain has passed the height of a credited
/// deposit or recorded payout a reorg disconnected without mining it again.
fn undo_from(state: &mut PegState) -> Option<u64> {
    let tip = state.tip?;
    let gone = take_passed(&mut state.dropped, tip);
    for (key, block) in &gone {
        tracing::error!(target: TARGET, txid = %key.0, vout = key.1, l2_block = block, "a Bitcoin reorg removed a credited deposit: the sequencer undoes its credit");
    }
    let gone_payouts = take_passed(&mut state.dropped_payouts, tip);
    for (txid, block) in &gone_payouts {
        tracing::error!(target: TARGET, %txid, l2_block = block, "a Bitcoin reorg removed a recorded payout: the sequencer undoes its record");
    }
    gone.iter()
        .map(|(_, block)| *block)
        .chain(gone_payouts.iter().map(|(_, block)| *block))
        .min()
}
