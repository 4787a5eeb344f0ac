//! Deterministic keys, signing helpers and a devnet in a temporary dir.

use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, TapTweak as _};
use bitcoin::opcodes::all::{OP_CHECKSIG, OP_CSV, OP_DROP};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{All, Message, Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::taproot::{LeafVersion, TapLeafHash, TaprootBuilder, TaprootSpendInfo};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, OutPoint, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut,
    Witness, absolute, taproot,
};
use cairn_devnet::{Devnet, Error, Reject};

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
    let mut tx = unsigned_to(prev.0, prev.1.value - fee, to);
    key.sign_key_path(&mut tx, 0, &[prev.1]);
    tx
}

/// Spends `prev`, owned by `key`, back to `key`, paying `fee`.
pub fn spend_back(key: &Key, prev: (OutPoint, TxOut), fee: Amount) -> Transaction {
    spend(key, prev, &key.spk, fee)
}

/// The coinbase output of the active block at `height`.
pub fn coinbase(devnet: &Devnet, height: u32) -> (OutPoint, TxOut) {
    let hash = devnet
        .chain()
        .block_hash_at(height)
        .expect("height on the active chain");
    first_output(&devnet.chain().block(&hash).expect("indexed").block.txdata[0])
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

/// Output 0 of `tx`, as the previous output of a spend.
pub fn first_output(tx: &Transaction) -> (OutPoint, TxOut) {
    (OutPoint::new(tx.compute_txid(), 0), tx.output[0].clone())
}

/// Spends the coinbase of the active block at `height`, owned by `key`, to `to`, paying
/// `fee`.
pub fn spend_coinbase(
    key: &Key,
    devnet: &Devnet,
    height: u32,
    to: &ScriptBuf,
    fee: Amount,
) -> Transaction {
    spend(key, coinbase(devnet, height), to, fee)
}

/// An unsigned transaction spending `prev` into one output of `value` to `to`.
pub fn unsigned_to(prev: OutPoint, value: Amount, to: &ScriptBuf) -> Transaction {
    unsigned(
        &[prev],
        vec![TxOut {
            value,
            script_pubkey: to.clone(),
        }],
    )
}

/// A taproot output whose only script is `<delay> CSV DROP <key> CHECKSIG`, with
/// `internal` as its internal key.
pub struct CsvLock {
    pub leaf: ScriptBuf,
    pub info: TaprootSpendInfo,
    pub spk: ScriptBuf,
}

impl CsvLock {
    pub fn new(key: &Key, internal: XOnlyPublicKey, delay: u16) -> Self {
        let leaf = Builder::new()
            .push_int(i64::from(delay))
            .push_opcode(OP_CSV)
            .push_opcode(OP_DROP)
            .push_x_only_key(&key.xonly)
            .push_opcode(OP_CHECKSIG)
            .into_script();
        let info = TaprootBuilder::new()
            .add_leaf(0, leaf.clone())
            .expect("leaf")
            .finalize(&key.secp, internal)
            .expect("tree");
        let spk = ScriptBuf::new_p2tr_tweaked(info.output_key());
        Self { leaf, info, spk }
    }

    /// Spends `locked` on the script path with `sequence`, signed by `key`, back to
    /// `key` less `fee`.
    pub fn spend(
        &self,
        key: &Key,
        locked: &(OutPoint, TxOut),
        sequence: Sequence,
        fee: Amount,
    ) -> Transaction {
        let mut tx = unsigned_to(locked.0, locked.1.value - fee, &key.spk);
        tx.input[0].sequence = sequence;
        let sighash = SighashCache::new(&tx)
            .taproot_script_spend_signature_hash(
                0,
                &Prevouts::All(std::slice::from_ref(&locked.1)),
                TapLeafHash::from_script(&self.leaf, LeafVersion::TapScript),
                TapSighashType::Default,
            )
            .expect("sighash");
        let msg = Message::from_digest(sighash.to_byte_array());
        let signature = key.secp.sign_schnorr_no_aux_rand(&msg, &key.keypair);
        let sig = taproot::Signature {
            signature,
            sighash_type: TapSighashType::Default,
        };
        let control = self
            .info
            .control_block(&(self.leaf.clone(), LeafVersion::TapScript))
            .expect("control block");
        tx.input[0].witness =
            Witness::from_slice(&[sig.to_vec(), self.leaf.to_bytes(), control.serialize()]);
        tx
    }
}

/// Mines a block carrying `txs` on the tip, which the devnet must refuse; the tip it was
/// offered on and the refusal.
pub fn refused_block(devnet: &mut Devnet, key: &Key, txs: Vec<Transaction>) -> (BlockHash, Reject) {
    let tip = devnet.chain().tip();
    let err = devnet
        .mine_block_on(tip, &key.spk, txs)
        .expect_err("the block is refused");
    let Error::Reject(reject) = err else {
        panic!("expected a reject, got {err}")
    };
    (tip, reject)
}
