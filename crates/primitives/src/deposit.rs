//! A Bitcoin deposit credited on L2. A block lists the deposits it credits; each one
//! increases its recipient's balance the way Ethereum credits a beacon-chain withdrawal
//! (EIP-4895): without a transaction, recorded in the header's `withdrawalsRoot` and shown
//! in the block's `withdrawals` list, so Ethereum tooling already understands it.
//!
//! The link to Bitcoin (block, transaction, output) is what derivation checks: the output
//! must pay exactly `amount_sat` to the deposit address of (`recipient`, `reclaim_key`).

use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, U256};

use crate::units::sats_to_wei;

/// Encoded size of one deposit: L1 block, txid, vout, amount, recipient, reclaim key,
/// signer set.
pub const DEPOSIT_ENCODED_LEN: usize = 32 + 32 + 4 + 8 + 20 + 32 + 2;

/// Encoded size of a deposit record before signer sets (block encodings 2 and 3, batch
/// version 1): the same fields without the signer set, which was always the first (0).
pub const DEPOSIT_V1_ENCODED_LEN: usize = DEPOSIT_ENCODED_LEN - 2;

/// One credited deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deposit {
    /// The Bitcoin block holding the deposit transaction (its hash's bytes in
    /// consensus order, as `bitcoin::BlockHash::to_byte_array` gives them).
    pub l1_block: B256,
    /// The deposit transaction's id (consensus byte order).
    pub txid: B256,
    /// The output paid to the deposit address.
    pub vout: u32,
    /// Its value.
    pub amount_sat: u64,
    /// The L2 account credited.
    pub recipient: Address,
    /// The depositor's reclaim key the address commits to (x-only), if any.
    pub reclaim_key: Option<B256>,
    /// The signer set (0: the first, n: after the n-th rotation) whose address it paid.
    pub epoch: u16,
}

impl Deposit {
    /// The credit in wei (1 sat = 10^10 wei).
    pub fn amount_wei(&self) -> U256 {
        sats_to_wei(self.amount_sat)
    }

    /// The outpoint's key: txid ‖ vout (big-endian).
    pub fn outpoint_key(&self) -> [u8; 36] {
        let mut key = [0u8; 36];
        key[..32].copy_from_slice(self.txid.as_slice());
        key[32..].copy_from_slice(&self.vout.to_be_bytes());
        key
    }

    /// As an EIP-4895 withdrawal (amounts there are gwei: 1 sat = 10 gwei). `index` is
    /// the block number × 2^16 + the deposit's position, increasing like the beacon
    /// chain's withdrawal index; `validator_index` carries the output index.
    pub fn as_withdrawal(&self, block: u64, position: usize) -> Withdrawal {
        Withdrawal {
            index: (block << 16) | position as u64,
            validator_index: u64::from(self.vout),
            address: self.recipient,
            amount: self.amount_sat.saturating_mul(10),
        }
    }

    /// The fixed 130-byte encoding (a zero reclaim key means none).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.l1_block.as_slice());
        out.extend_from_slice(self.txid.as_slice());
        out.extend_from_slice(&self.vout.to_be_bytes());
        out.extend_from_slice(&self.amount_sat.to_be_bytes());
        out.extend_from_slice(self.recipient.as_slice());
        out.extend_from_slice(self.reclaim_key.unwrap_or_default().as_slice());
        out.extend_from_slice(&self.epoch.to_be_bytes());
    }

    /// Decodes a 128-byte record written before signer sets (signer set 0); `None` if
    /// `bytes` is not 128 long.
    pub fn decode_v1(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DEPOSIT_V1_ENCODED_LEN {
            return None;
        }
        let mut current = bytes.to_vec();
        current.extend_from_slice(&[0, 0]);
        Self::decode(&current)
    }

    /// Decodes [`encode`](Self::encode)'s output; `None` if `bytes` is not 130 long.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != DEPOSIT_ENCODED_LEN {
            return None;
        }
        let reclaim = B256::from_slice(&bytes[96..128]);
        Some(Self {
            l1_block: B256::from_slice(&bytes[..32]),
            txid: B256::from_slice(&bytes[32..64]),
            vout: u32::from_be_bytes(bytes[64..68].try_into().ok()?),
            amount_sat: u64::from_be_bytes(bytes[68..76].try_into().ok()?),
            recipient: Address::from_slice(&bytes[76..96]),
            reclaim_key: (!reclaim.is_zero()).then_some(reclaim),
            epoch: u16::from_be_bytes([bytes[128], bytes[129]]),
        })
    }
}

/// The header's `withdrawalsRoot` for a block crediting `deposits`.
pub fn deposits_root(block: u64, deposits: &[Deposit]) -> B256 {
    let withdrawals: Vec<Withdrawal> = deposits
        .iter()
        .enumerate()
        .map(|(i, d)| d.as_withdrawal(block, i))
        .collect();
    alloy_consensus::proofs::calculate_withdrawals_root(&withdrawals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_128_bytes_and_back() {
        let deposit = Deposit {
            l1_block: B256::repeat_byte(1),
            txid: B256::repeat_byte(2),
            vout: 3,
            amount_sat: 123_456,
            recipient: Address::repeat_byte(4),
            reclaim_key: Some(B256::repeat_byte(5)),
            epoch: 3,
        };
        let mut out = Vec::new();
        deposit.encode(&mut out);
        assert_eq!(out.len(), DEPOSIT_ENCODED_LEN);
        assert_eq!(Deposit::decode(&out), Some(deposit));
        let none = Deposit {
            reclaim_key: None,
            ..deposit
        };
        out.clear();
        none.encode(&mut out);
        assert_eq!(Deposit::decode(&out), Some(none));
        assert_eq!(Deposit::decode(&out[1..]), None);
        assert_eq!(
            deposit.amount_wei(),
            U256::from(123_456u64) * U256::from(10u64.pow(10))
        );
        assert_eq!(deposit.as_withdrawal(7, 2).index, (7 << 16) | 2);
        assert_eq!(deposit.as_withdrawal(7, 2).amount, 1_234_560);
        assert_ne!(
            deposits_root(7, &[deposit]),
            alloy_consensus::EMPTY_ROOT_HASH
        );
        assert_eq!(deposits_root(7, &[]), alloy_consensus::EMPTY_ROOT_HASH);
    }
}
