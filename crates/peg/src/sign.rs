//! Signing peg spends through a leaf. Every signer computes the same BIP341 script-path
//! sighash (`SIGHASH_DEFAULT`, committing to every input's amount and script) and signs it
//! on its own; the coordinator only assembles the witness, so signers never share nonces or
//! take part in rounds, and a signer that is offline is simply skipped.

use std::collections::BTreeMap;

use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, Secp256k1};
use bitcoin::secp256k1::{Message, XOnlyPublicKey, schnorr};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::taproot::{ControlBlock, LeafVersion, TapLeafHash};
use bitcoin::{ScriptBuf, TapSighash, TapSighashType, Transaction, TxOut, Witness};

use crate::{Error, KeySet, Result};

/// The sighash a signature on `input` through `leaf` commits to. `prevouts` are the outputs
/// every input spends, in input order.
pub fn leaf_sighash(
    tx: &Transaction,
    input: usize,
    prevouts: &[TxOut],
    leaf: &ScriptBuf,
) -> Result<TapSighash> {
    if prevouts.len() != tx.input.len() {
        return Err(Error::Sign(format!(
            "{} spent outputs given for {} inputs",
            prevouts.len(),
            tx.input.len()
        )));
    }
    SighashCache::new(tx)
        .taproot_script_spend_signature_hash(
            input,
            &Prevouts::All(prevouts),
            TapLeafHash::from_script(leaf, LeafVersion::TapScript),
            TapSighashType::Default,
        )
        .map_err(|e| Error::Sign(e.to_string()))
}

/// `keypair`'s BIP340 signature of `input` through `leaf`.
pub fn sign_leaf(
    keypair: &Keypair,
    tx: &Transaction,
    input: usize,
    prevouts: &[TxOut],
    leaf: &ScriptBuf,
) -> Result<schnorr::Signature> {
    let sighash = leaf_sighash(tx, input, prevouts, leaf)?;
    let message = Message::from_digest(sighash.to_byte_array());
    Ok(Secp256k1::signing_only().sign_schnorr_with_aux_rand(
        &message,
        keypair,
        &rand::random::<[u8; 32]>(),
    ))
}

/// Whether `signature` is `key`'s valid signature of `input` through `leaf`.
pub fn verify_leaf_signature(
    key: &XOnlyPublicKey,
    signature: &schnorr::Signature,
    tx: &Transaction,
    input: usize,
    prevouts: &[TxOut],
    leaf: &ScriptBuf,
) -> bool {
    let Ok(sighash) = leaf_sighash(tx, input, prevouts, leaf) else {
        return false;
    };
    let message = Message::from_digest(sighash.to_byte_array());
    Secp256k1::verification_only()
        .verify_schnorr(signature, &message, key)
        .is_ok()
}

/// The witness spending through an M-of-N leaf over `set`: exactly M signatures (the first
/// M signers in key order that signed; `OP_NUMEQUAL` refuses more), an empty item for
/// every other key, then the leaf and its control block.
pub fn multisig_witness(
    set: &KeySet,
    signatures: &BTreeMap<XOnlyPublicKey, schnorr::Signature>,
    leaf: &ScriptBuf,
    control: &ControlBlock,
) -> Result<Witness> {
    let mut used = 0;
    let mut items: Vec<Vec<u8>> = Vec::with_capacity(set.keys.len() + 2);
    for key in &set.keys {
        match signatures.get(key) {
            Some(signature) if used < set.threshold => {
                used += 1;
                items.push(signature.as_ref().to_vec());
            }
            _ => items.push(Vec::new()),
        }
    }
    if used < set.threshold {
        return Err(Error::Sign(format!(
            "{used} of the {} signatures needed",
            set.threshold
        )));
    }
    // The first key's CHECKSIG consumes the top stack item: signatures go in reverse key
    // order, the last key's at the bottom.
    items.reverse();
    items.push(leaf.to_bytes());
    items.push(control.serialize());
    Ok(Witness::from_slice(&items))
}

/// The witness spending through a single-key leaf (a depositor's reclaim).
pub fn single_key_witness(
    signature: &schnorr::Signature,
    leaf: &ScriptBuf,
    control: &ControlBlock,
) -> Witness {
    Witness::from_slice(&[
        signature.as_ref().to_vec(),
        leaf.to_bytes(),
        control.serialize(),
    ])
}
