//! Keys, sample batches, and reveal transactions spending made-up commit outpoints.

use alloy_primitives::{Address, B256, Bytes};
use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, TapTweak as _};
use bitcoin::secp256k1::{Message, Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::{
    Amount, OutPoint, ScriptBuf, TapSighashType, Transaction, TxOut, Txid, Witness, taproot,
};
use cairn_da::compress::compress_brotli;
use cairn_da::{
    AssembledBatch, Assembler, AssemblerConfig, BATCH_VERSION, BatchBlock, BatchHeader,
    Compression, DEFAULT_MAX_REVEAL_WEIGHT, SignedBatchHeader, build_reveal, commit_output,
    compress_blocks, encode_blocks, envelope_leaves, max_chunk_payload, scan_transaction,
};
use rand::{Rng as _, SeedableRng as _};

pub const CHAIN_ID: u64 = 31337;

pub fn keypair(byte: u8) -> Keypair {
    Keypair::from_seckey_slice(&Secp256k1::new(), &[byte; 32]).expect("valid secret")
}

pub fn xonly(keypair: &Keypair) -> XOnlyPublicKey {
    keypair.x_only_public_key().0
}

pub fn sequencer() -> Keypair {
    keypair(1)
}

pub fn batcher() -> Keypair {
    keypair(2)
}

/// A BIP86 key-path P2TR script for `key`.
pub fn p2tr(key: &Keypair) -> ScriptBuf {
    ScriptBuf::new_p2tr(&Secp256k1::new(), xonly(key), None)
}

/// Signs input `index` of `tx` on the BIP86 key path of `key`.
pub fn sign_key_path(key: &Keypair, tx: &mut Transaction, index: usize, prevouts: &[TxOut]) {
    let secp = Secp256k1::new();
    let sighash = SighashCache::new(&*tx)
        .taproot_key_spend_signature_hash(index, &Prevouts::All(prevouts), TapSighashType::Default)
        .expect("sighash");
    let tweaked = key.tap_tweak(&secp, None).to_keypair();
    let msg = Message::from_digest(sighash.to_byte_array());
    let signature = secp.sign_schnorr_no_aux_rand(&msg, &tweaked);
    tx.input[index].witness = Witness::p2tr_key_spend(&taproot::Signature {
        signature,
        sighash_type: TapSighashType::Default,
    });
}

/// A few small blocks with made-up transactions (compress well).
pub fn small_blocks() -> Vec<BatchBlock> {
    (0..3u8)
        .map(|i| BatchBlock {
            timestamp: 1_750_000_000 + u64::from(i),
            beneficiary: Address::repeat_byte(0xfe),
            l1_fee_rate: 250 * u64::from(i),
            transactions: (0..i).map(|j| Bytes::from(vec![2, i, j, 0xc0])).collect(),
            deposits: Vec::new(),
            payouts: Vec::new(),
        })
        .collect()
}

/// About `bytes` of random (incompressible) transactions in 100 blocks.
pub fn random_blocks(bytes: usize, seed: u64) -> Vec<BatchBlock> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let per_block = bytes / 100;
    (0..100u64)
        .map(|i| {
            let mut left = per_block;
            let mut transactions = Vec::new();
            while left > 0 {
                let len = rng.random_range(100..400).min(left);
                let tx: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                transactions.push(Bytes::from(tx));
                left -= len;
            }
            BatchBlock {
                timestamp: 1_750_000_000 + i,
                beneficiary: Address::repeat_byte(0xfe),
                l1_fee_rate: 500,
                transactions,
                deposits: Vec::new(),
                payouts: Vec::new(),
            }
        })
        .collect()
}

/// Batch `number` over `blocks` (first L2 block 1 + 10·number), signed by `signer`.
pub fn batch(blocks: &[BatchBlock], number: u64, signer: &Keypair) -> (SignedBatchHeader, Vec<u8>) {
    // The default quality for small bodies; quality 1 for the big random ones, which do
    // not compress anyway and would take seconds at 11 (any quality decodes the same).
    let raw = encode_blocks(blocks).expect("encode");
    let body = if raw.len() < 64 << 10 {
        compress_blocks(blocks, Compression::Brotli).expect("compress")
    } else {
        compress_brotli(&raw, 1).expect("compress")
    };
    let first_block = 1 + 10 * number;
    let header = BatchHeader {
        version: BATCH_VERSION,
        chain_id: CHAIN_ID,
        number,
        prev_hash: if number == 0 {
            B256::ZERO
        } else {
            B256::repeat_byte(0xaa)
        },
        first_block,
        last_block: first_block + blocks.len() as u64 - 1,
        post_state_root: B256::repeat_byte(0x5e),
        l1_ref_height: 100,
        l1_ref_hash: [0x1f; 32],
        body_hash: B256::ZERO,
        body_len: 0,
        compression: Compression::Brotli,
    }
    .with_body(&body)
    .expect("body fits");
    (header.sign(signer).expect("valid header"), body)
}

/// Reveal transactions for a batch, each spending a made-up commit outpoint.
pub fn reveals(signed: &SignedBatchHeader, body: &[u8], poster: &Keypair) -> Vec<Transaction> {
    let chunk = max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT);
    let leaves = envelope_leaves(signed, body, xonly(poster), chunk).expect("leaves");
    leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| reveal_for(leaf, poster, i as u8))
        .collect()
}

/// A reveal of `leaf` spending a made-up 1 BTC commit output.
pub fn reveal_for(leaf: &ScriptBuf, poster: &Keypair, n: u8) -> Transaction {
    let (spk, info) = commit_output(leaf, xonly(poster));
    let outpoint = OutPoint {
        txid: Txid::from_byte_array([n; 32]),
        vout: 0,
    };
    let txout = TxOut {
        value: Amount::ONE_BTC,
        script_pubkey: spk,
    };
    build_reveal(
        outpoint,
        &txout,
        leaf,
        &info,
        poster,
        p2tr(poster),
        Amount::from_sat(100_000),
    )
    .expect("reveal")
}

pub fn assembler() -> Assembler {
    Assembler::new(AssemblerConfig::new(CHAIN_ID, xonly(&sequencer())))
}

/// Scans `txs` (one per L1 height from `height`) and feeds every chunk; returns the
/// batches that came out.
pub fn feed(asm: &mut Assembler, height: u32, txs: &[Transaction]) -> Vec<AssembledBatch> {
    let mut out = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        for chunk in scan_transaction(tx) {
            if let Ok(Some(batch)) = asm.push(height + i as u32, tx.compute_txid(), chunk) {
                out.push(batch);
            }
        }
    }
    out
}
