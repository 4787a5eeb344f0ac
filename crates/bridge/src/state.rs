//! What the watcher knows, in one struct behind one lock ([`crate::Peg`] holds it): every
//! L1 update is applied to it whole, so readers never see half of one.

use std::collections::{BTreeMap, HashMap};

use bitcoin::{ScriptBuf, Txid};
use cairn_primitives::{Deposit, Payout};

use crate::registry::Registration;

/// A deposit seen on Bitcoin.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// The deposit as an L2 block credits it.
    pub deposit: Deposit,
    /// The height of its Bitcoin block.
    pub height: u32,
}

/// A payout transaction seen on Bitcoin.
#[derive(Debug, Clone)]
pub struct FoundPayout {
    /// The payout as an L2 block records it.
    pub payout: Payout,
    /// The height of its Bitcoin block.
    pub height: u32,
}

/// The watcher's state.
#[derive(Debug, Default)]
pub struct PegState {
    /// Watched output scripts → what they credit and under which signer set.
    pub watched: HashMap<ScriptBuf, (Registration, u16)>,
    /// Deposits on the current best chain, by outpoint.
    pub found: BTreeMap<(Txid, u32), Found>,
    /// The L1 tip height last seen.
    pub tip: Option<u32>,
    /// Payout transactions the coordinator proposed: txid → withdrawal ids.
    pub proposed: HashMap<Txid, Vec<u64>>,
    /// Proposed payouts on the current best chain.
    pub found_payouts: BTreeMap<Txid, FoundPayout>,
    /// Credited deposits whose Bitcoin block a reorg disconnected: outpoint → (the height
    /// they had, the L2 block that credited them).
    pub dropped: BTreeMap<(Txid, u32), (u32, u64)>,
    /// Recorded payouts whose Bitcoin block a reorg disconnected: txid → (the height they
    /// had, the L2 block that recorded them).
    pub dropped_payouts: BTreeMap<Txid, (u32, u64)>,
}

impl PegState {
    /// Confirmations of a block at `height` at the tip last seen.
    pub fn confirmations(&self, height: u32) -> u64 {
        self.tip
            .map_or(0, |tip| u64::from((tip + 1).saturating_sub(height)))
    }
}

/// Removes and returns the entries (key, L2 block) whose Bitcoin height the best chain (at
/// `tip`) has passed.
pub fn take_passed<K: Ord + Copy>(
    dropped: &mut BTreeMap<K, (u32, u64)>,
    tip: u32,
) -> Vec<(K, u64)> {
    let gone: Vec<(K, u64)> = dropped
        .iter()
        .filter(|(_, (height, _))| tip >= *height)
        .map(|(key, (_, block))| (*key, *block))
        .collect();
    for (key, _) in &gone {
        dropped.remove(key);
    }
    gone
}
