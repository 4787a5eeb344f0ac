//! A Bitcoin payout recorded on L2. Once the federation's payout transaction is confirmed
//! on Bitcoin, the sequencer records it in a block; executing the record marks each
//! withdrawal it pays as paid (by that transaction) in the withdrawal contract's storage and
//! takes their amounts out of the contract's balance. Followers check the record against
//! the Bitcoin transaction before executing it.
//!
//! The record also names the peg coins the transaction spent and its change back to the
//! peg, so that every node can follow the peg's coins from L2 data alone.

use alloy_primitives::B256;

/// A Bitcoin outpoint: txid (internal byte order) and output index.
pub type OutPointKey = (B256, u32);

/// Most inputs or withdrawals one record may list.
pub const MAX_PAYOUT_ITEMS: usize = u16::MAX as usize;

/// One confirmed payout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Payout {
    /// The Bitcoin block holding the payout transaction (consensus byte order).
    pub l1_block: B256,
    /// The payout transaction's id (internal byte order).
    pub txid: B256,
    /// The peg coins it spends, in input order.
    pub inputs: Vec<OutPointKey>,
    /// Its change back to the peg: output index and amount.
    pub change: Option<(u32, u64)>,
    /// The signer set whose peg output the change pays (0: the first, n: after the n-th
    /// rotation).
    pub epoch: u16,
    /// The withdrawal ids it pays; output `i` pays `withdrawals[i]`.
    pub withdrawals: Vec<u64>,
}

const NO_CHANGE: u32 = u32::MAX;

impl Payout {
    /// Appends the encoding: `l1_block ‖ txid ‖ u16 n ‖ (txid ‖ u32 vout)ⁿ ‖ u32 change vout
    /// (all ones: none) ‖ u64 change ‖ u16 epoch ‖ u16 m ‖ u64 idᵐ`, integers big-endian. Lists longer
    /// than [`MAX_PAYOUT_ITEMS`] are never built (the coordinator caps a payout far lower).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.l1_block.as_slice());
        out.extend_from_slice(self.txid.as_slice());
        out.extend_from_slice(&(self.inputs.len().min(MAX_PAYOUT_ITEMS) as u16).to_be_bytes());
        for (txid, vout) in self.inputs.iter().take(MAX_PAYOUT_ITEMS) {
            out.extend_from_slice(txid.as_slice());
            out.extend_from_slice(&vout.to_be_bytes());
        }
        let (vout, amount) = self.change.unwrap_or((NO_CHANGE, 0));
        out.extend_from_slice(&vout.to_be_bytes());
        out.extend_from_slice(&amount.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&(self.withdrawals.len().min(MAX_PAYOUT_ITEMS) as u16).to_be_bytes());
        for id in self.withdrawals.iter().take(MAX_PAYOUT_ITEMS) {
            out.extend_from_slice(&id.to_be_bytes());
        }
    }

    /// Decodes one record from the front of `bytes`, advancing it; `None` if it is short.
    pub fn decode(bytes: &mut &[u8]) -> Option<Self> {
        let l1_block = B256::from_slice(take(bytes, 32)?);
        let txid = B256::from_slice(take(bytes, 32)?);
        let inputs_len = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?);
        let mut inputs = Vec::with_capacity(usize::from(inputs_len));
        for _ in 0..inputs_len {
            let txid = B256::from_slice(take(bytes, 32)?);
            let vout = u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?);
            inputs.push((txid, vout));
        }
        let vout = u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?);
        let amount = u64::from_be_bytes(take(bytes, 8)?.try_into().ok()?);
        let epoch = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?);
        let withdrawals_len = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?);
        let mut withdrawals = Vec::with_capacity(usize::from(withdrawals_len));
        for _ in 0..withdrawals_len {
            withdrawals.push(u64::from_be_bytes(take(bytes, 8)?.try_into().ok()?));
        }
        Some(Self {
            l1_block,
            txid,
            inputs,
            change: (vout != NO_CHANGE).then_some((vout, amount)),
            epoch,
            withdrawals,
        })
    }

    /// Encodes a list of records back to back.
    pub fn encode_all(payouts: &[Payout]) -> Vec<u8> {
        let mut out = Vec::new();
        for payout in payouts {
            payout.encode(&mut out);
        }
        out
    }

    /// Decodes [`Payout::encode_all`]'s output; `None` if any record is malformed.
    pub fn decode_all(mut bytes: &[u8]) -> Option<Vec<Payout>> {
        let mut payouts = Vec::new();
        while !bytes.is_empty() {
            payouts.push(Self::decode(&mut bytes)?);
        }
        Some(payouts)
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_encode_back_to_back_and_refuse_truncation() {
        let with_change = Payout {
            l1_block: B256::repeat_byte(1),
            txid: B256::repeat_byte(2),
            inputs: vec![(B256::repeat_byte(3), 0), (B256::repeat_byte(4), 7)],
            change: Some((2, 99_000)),
            epoch: 1,
            withdrawals: vec![0, 5, 6],
        };
        let without = Payout {
            change: None,
            inputs: vec![(B256::repeat_byte(5), 1)],
            withdrawals: vec![9],
            ..with_change.clone()
        };
        let list = vec![with_change.clone(), without.clone()];
        let bytes = Payout::encode_all(&list);
        assert_eq!(
            bytes.len(),
            (64 + 2 + 72 + 14 + 2 + 24) + (64 + 2 + 36 + 14 + 2 + 8)
        );
        assert_eq!(Payout::decode_all(&bytes), Some(list));
        for cut in 1..bytes.len() {
            let decoded = Payout::decode_all(&bytes[..cut]);
            assert!(
                decoded.is_none() || cut == bytes.len() - 126,
                "truncated at {cut}"
            );
        }
        assert_eq!(Payout::decode_all(&[]), Some(vec![]));
    }
}
