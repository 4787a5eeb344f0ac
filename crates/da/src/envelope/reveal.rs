//! Commit outputs and reveal transactions: a taproot output whose only leaf is an
//! envelope, and the script-path spend that publishes it. Funding, fees and broadcast are
//! the batcher's (wallet) business, not this module's.

use bitcoin::hashes::Hash as _;
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{Message, Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::taproot::{LeafVersion, TapLeafHash, TaprootBuilder, TaprootSpendInfo};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, OutPoint, Script, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut,
    VarInt, Weight, Witness, absolute,
};

use crate::error::{Error, Result};

/// The commit output for one envelope leaf: a P2TR script whose tree is that single
/// leaf, with `internal_key` as the key path. Using the batcher's own key as internal key
/// lets the batcher take the coins back on the key path if it never reveals.
pub fn commit_output(
    leaf: &ScriptBuf,
    internal_key: XOnlyPublicKey,
) -> (ScriptBuf, TaprootSpendInfo) {
    let secp = Secp256k1::verification_only();
    let info = TaprootBuilder::new()
        .add_leaf(0, leaf.clone())
        .expect("one leaf at depth 0 fits an empty tree")
        .finalize(&secp, internal_key)
        .expect("a single leaf at depth 0 is a complete tree");
    (ScriptBuf::new_p2tr_tweaked(info.output_key()), info)
}

/// The reveal: spends the commit output through `leaf` (signed by `keypair`, whose
/// x-only key must be the leaf's, with `SIGHASH_DEFAULT` over all prevouts) to one output
/// of `commit_txout.value - fee` paying `destination`. Witness: `[signature, leaf,
/// control block]`. Version 2, locktime 0, RBF-signalling.
pub fn build_reveal(
    commit_outpoint: OutPoint,
    commit_txout: &TxOut,
    leaf: &ScriptBuf,
    spend_info: &TaprootSpendInfo,
    keypair: &Keypair,
    destination: ScriptBuf,
    fee: Amount,
) -> Result<Transaction> {
    let value = commit_txout
        .value
        .checked_sub(fee)
        .ok_or_else(|| Error::Reveal(format!("fee {fee} exceeds the commit output")))?;
    if value < destination.minimal_non_dust() {
        return Err(Error::Reveal(format!("output of {value} would be dust")));
    }
    let control = spend_info
        .control_block(&(leaf.clone(), LeafVersion::TapScript))
        .ok_or_else(|| Error::Reveal("leaf is not in the commit's tree".into()))?;
    if leaf.as_bytes().get(1..33) != Some(&keypair.x_only_public_key().0.serialize()[..]) {
        return Err(Error::Reveal("keypair is not the leaf's key".into()));
    }
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: commit_outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: destination,
        }],
    };
    let leaf_hash = TapLeafHash::from_script(leaf, LeafVersion::TapScript);
    let sighash = SighashCache::new(&tx)
        .taproot_script_spend_signature_hash(
            0,
            &Prevouts::All(std::slice::from_ref(commit_txout)),
            leaf_hash,
            TapSighashType::Default,
        )
        .map_err(|e| Error::Reveal(format!("sighash: {e}")))?;
    let msg = Message::from_digest(sighash.to_byte_array());
    let signature = Secp256k1::signing_only().sign_schnorr_no_aux_rand(&msg, keypair);
    let mut witness = Witness::new();
    witness.push(signature.serialize());
    witness.push(leaf.as_bytes());
    witness.push(control.serialize());
    tx.input[0].witness = witness;
    Ok(tx)
}

/// The exact weight of [`build_reveal`]'s transaction for `leaf` and `destination`
/// (single-leaf tree, 64-byte signature), to price the reveal before funding its commit.
pub fn reveal_weight(leaf: &Script, destination: &Script) -> Weight {
    let spk = destination.len() as u64;
    let non_witness = 4 + 1 + (36 + 1 + 4) + 1 + (8 + VarInt(spk).size() as u64 + spk) + 4;
    let leaf_len = leaf.len() as u64;
    let witness = 2 + 1 + (1 + 64) + VarInt(leaf_len).size() as u64 + leaf_len + (1 + 33);
    Weight::from_wu(non_witness * 4 + witness)
}
