//! Which signer set owns which peg coin.

use alloy_primitives::{Address, B256};

/// Where a peg coin came from, and so which taproot tree (and which signer set) spends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoinSource {
    /// A credited deposit to this recipient's address.
    Deposit {
        /// The L2 account it credited.
        recipient: Address,
        /// The reclaim key its address commits to (BIP340 x-only, as the deposit record
        /// carries it).
        reclaim_key: Option<B256>,
        /// The signer set whose address it paid.
        epoch: u16,
    },
    /// Change of a payout, back to a signer set's peg output.
    Change {
        /// That signer set.
        epoch: u16,
    },
}

impl CoinSource {
    /// The signer set that can move the coin.
    pub fn epoch(&self) -> u16 {
        match self {
            Self::Deposit { epoch, .. } | Self::Change { epoch } => *epoch,
        }
    }
}
