//! Deterministic keys, signing helpers and a devnet in a temporary dir.

use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, TapTweak as _};
use bitcoin::secp256k1::{All, Message, Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut, Witness,
    absolute, taproot,
};
use cairn_devnet::Devnet;

/// A single-key BIP86-style taproot wallet with a fixed secret.
pub struct Key {
    pub secp: Secp256k1<All>,
    pub keypair: Keypair,
    pub xonly: XOnlyPublicKey,
    pub spk: ScriptBuf,
}

impl Key {
    pub fn new(byte: u8) -> Self {
        let secp = Secp256k1::new();
        let keypair = Keypair::from_seckey_slice(&secp, &[byte; 32]).expect("valid secret");
        let (xonly, _) = keypair.x_only_public_key();
        let spk = ScriptBuf::new_p2tr(&secp, xonly, None);
        Self {
            secp,
            keypair,
            xonly,
            spk,
        }
    }

    /// Signs input `index` on the key path against `prevouts` (which may lie).
    pub fn sign_key_path(&self, tx: &mut Transaction, index: usize, prevouts: &[TxOut]) {
        let sighash = SighashCache::new(&*tx)
            .taproot_key_spend_signature_hash(
                index,
                &Prevouts::All(prevouts),
                TapSighashType::Default,
            )
            .expect("sighash");
        let tweaked = self.keypair.tap_tweak(&self.secp, None).to_keypair();
        let msg = Message::from_digest(sighash.to_byte_array());
        let signature = self.secp.sign_schnorr_no_aux_rand(&msg, &tweaked);
        let sig = taproot::Signature {
            signature,
            sighash_type: TapSighashType::Default,
        };
        tx.input[index].witness = Witness::p2tr_key_spend(&sig);
    }
}

/// A version-2 transaction spending `inputs` (RBF-signalling, no relative lock).
pub fn unsigned(inputs: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// Spends one key-path output owned by `key` to `to`, paying `fee`.
pub fn spend(key: &Key, prev: (OutPoint, TxOut), to: &ScriptBuf, fee: Amount) -> Transaction {
    let mut tx = unsigned(
        &[prev.0],
        vec![TxOut {
            value: prev.1.value - fee,
            script_pubkey: to.clone(),
        }],
    );
    key.sign_key_path(&mut tx, 0, &[prev.1]);
    tx
}

/// The coinbase output of the active block at `height`.
pub fn coinbase(devnet: &Devnet, height: u32) -> (OutPoint, TxOut) {
    let hash = devnet
        .chain()
        .block_hash_at(height)
        .expect("height on the active chain");
    let tx = &devnet.chain().block(&hash).expect("indexed").block.txdata[0];
    (
        OutPoint {
            txid: tx.compute_txid(),
            vout: 0,
        },
        tx.output[0].clone(),
    )
}

/// A devnet in a fresh temporary dir.
pub fn devnet() -> (tempfile::TempDir, Devnet) {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::open(dir.path()).expect("open devnet");
    (dir, devnet)
}

/// A devnet with `blocks` blocks mined to `key`.
pub fn funded(key: &Key, blocks: u32) -> (tempfile::TempDir, Devnet) {
    let (dir, mut devnet) = devnet();
    devnet.mine_blocks(blocks, &key.spk).expect("mine");
    (dir, devnet)
}
