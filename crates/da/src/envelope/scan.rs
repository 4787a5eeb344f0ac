//! Finding envelopes in L1 transactions (the follower's side). Every transaction of
//! every block goes through here, so anything that is not an envelope is skipped after
//! a length check and a 42-byte comparison per input.

use bitcoin::{Transaction, Witness};

use super::Chunk;
use super::script::parse_leaf;
use crate::error::Result;

/// BIP341's annex marker: the first byte of an annex.
const ANNEX_TAG: u8 = 0x50;
/// Tapscript's leaf version in a control block's first byte (the low bit is the parity).
const TAPSCRIPT_LEAF: u8 = 0xc0;
/// Deepest BIP341 tree.
const MAX_CONTROL_DEPTH: usize = 128;

/// Every well-formed envelope chunk in `tx`'s inputs, in input order. Malformed
/// envelopes are skipped (traced at debug level); [`scan_input`] reports why.
pub fn scan_transaction(tx: &Transaction) -> Vec<Chunk> {
    tx.input
        .iter()
        .enumerate()
        .filter_map(|(vin, input)| match scan_input(&input.witness)? {
            Ok(chunk) => Some(chunk),
            Err(error) => {
                tracing::debug!(
                    target: "cairn::da::scan",
                    txid = %tx.compute_txid(),
                    vin,
                    %error,
                    "malformed envelope skipped"
                );
                None
            }
        })
        .collect()
}

/// The chunk in one input's witness: `None` if the input is not a tapscript spend of an
/// envelope leaf, an error if it is one but breaks the format.
pub fn scan_input(witness: &Witness) -> Option<Result<Chunk>> {
    let (leaf, control) = script_path(witness)?;
    if !is_tapscript_control_block(control) {
        return None;
    }
    parse_leaf(leaf)
}

/// `(leaf script, control block)` if the witness is shaped like a taproot script-path
/// spend: at least two items once an annex (a last item starting with 0x50 when there
/// are two or more) is set aside.
pub(crate) fn script_path(witness: &Witness) -> Option<(&[u8], &[u8])> {
    let mut items = witness.len();
    if items >= 2 && witness.last()?.first() == Some(&ANNEX_TAG) {
        items -= 1;
    }
    if items < 2 {
        return None;
    }
    Some((witness.nth(items - 2)?, witness.nth(items - 1)?))
}

/// A BIP341 control block for a tapscript (leaf version 0xc0) leaf.
pub(crate) fn is_tapscript_control_block(control: &[u8]) -> bool {
    let len = control.len();
    len >= 33
        && (len - 33).is_multiple_of(32)
        && (len - 33) / 32 <= MAX_CONTROL_DEPTH
        && control[0] & 0xfe == TAPSCRIPT_LEAF
}
