//! Acceptance on the devnet, whose mempool applies Bitcoin Core's consensus (through
//! libbitcoinconsensus) and standardness rules: a commit transaction with one output per
//! envelope, then the reveals, all accepted as standard, mined, and found again by
//! scanning the blocks.

use bitcoin::secp256k1::Keypair;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, FeeRate, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness, absolute,
};
use cairn_da::{
    DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_REVEAL_WEIGHT, build_reveal, commit_output,
    decode_batch_body, envelope_leaves, max_chunk_payload, reveal_weight, scan_transaction,
};
use cairn_devnet::{Devnet, RejectKind};

use crate::harness::{
    assembler, batch, batcher, p2tr, random_blocks, sequencer, sign_key_path, xonly,
};

const FEE_RATE: FeeRate = FeeRate::from_sat_per_vb_u32(2);

/// The coinbase output of the active block at `height`.
fn coinbase(devnet: &Devnet, height: u32) -> (OutPoint, TxOut) {
    let hash = devnet.chain().block_hash_at(height).expect("active height");
    let tx = &devnet.chain().block(&hash).expect("indexed").block.txdata[0];
    (OutPoint::new(tx.compute_txid(), 0), tx.output[0].clone())
}

/// A devnet in a new temp dir with 101 blocks mined to `key`: block 1's coinbase is
/// spendable.
fn funded_devnet(key: &Keypair) -> (tempfile::TempDir, Devnet) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut devnet = Devnet::open(dir.path()).expect("open devnet");
    devnet.mine_blocks(101, &p2tr(key)).expect("mine");
    (dir, devnet)
}

/// A commit transaction spending `funding`, owned by `key`, into `outputs`; signed.
fn signed_commit(key: &Keypair, funding: (OutPoint, TxOut), outputs: Vec<TxOut>) -> Transaction {
    let mut commit = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: funding.0,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: outputs,
    };
    sign_key_path(key, &mut commit, 0, &[funding.1]);
    commit
}

/// The transactions of the active block at `height`, coinbase excluded.
fn block_txs(devnet: &Devnet, height: u32) -> Vec<Transaction> {
    let hash = devnet.chain().block_hash_at(height).expect("active height");
    devnet.chain().block(&hash).expect("indexed").block.txdata[1..].to_vec()
}

#[test]
fn envelopes_are_standard_and_reassemble_from_blocks() {
    let key = batcher();
    let (_dir, mut devnet) = funded_devnet(&key);

    // A ~1 MB batch: three reveals.
    let blocks = random_blocks(1_000_000, 11);
    let (signed, body) = batch(&blocks, 0, &sequencer());
    let chunk = max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT);
    let leaves = envelope_leaves(&signed, &body, xonly(&key), chunk).unwrap();
    assert_eq!(leaves.len(), 3);

    // One commit transaction, one output per reveal, each worth its reveal's fee plus
    // the 330-sat P2TR dust limit of the reveal's output.
    let destination = p2tr(&key);
    let fees: Vec<Amount> = leaves
        .iter()
        .map(|leaf| FEE_RATE.fee_wu(reveal_weight(leaf, &destination)).unwrap())
        .collect();
    let commits: Vec<_> = leaves
        .iter()
        .map(|leaf| commit_output(leaf, xonly(&key)))
        .collect();
    let funding = coinbase(&devnet, 1);
    let mut outputs: Vec<TxOut> = commits
        .iter()
        .zip(&fees)
        .map(|((spk, _), fee)| TxOut {
            value: *fee + Amount::from_sat(330),
            script_pubkey: spk.clone(),
        })
        .collect();
    let committed: Amount = outputs.iter().map(|o| o.value).sum();
    outputs.push(TxOut {
        value: funding.1.value - committed - Amount::from_sat(1_000),
        script_pubkey: destination.clone(),
    });
    let commit = signed_commit(&key, funding, outputs);
    devnet.send_transaction(&commit).expect("commit accepted");

    let reveals: Vec<Transaction> = leaves
        .iter()
        .zip(&commits)
        .zip(&fees)
        .enumerate()
        .map(|(vout, ((leaf, (_, info)), fee))| {
            build_reveal(
                OutPoint::new(commit.compute_txid(), vout as u32),
                &commit.output[vout],
                leaf,
                info,
                &key,
                destination.clone(),
                *fee,
            )
            .unwrap()
        })
        .collect();
    for reveal in &reveals {
        assert!(reveal.weight().to_wu() <= DEFAULT_MAX_REVEAL_WEIGHT);
    }

    // The first reveal goes in beside its unconfirmed commit...
    let accepted = devnet
        .send_transaction(&reveals[0])
        .expect("reveal 0 accepted");
    assert_eq!(accepted.fee, fees[0]);
    // ...but Core's 101 kvB descendant limit keeps a second ~99 kvB child of the same
    // unconfirmed commit out: batchers confirm the commit first.
    let refused = devnet.send_transaction(&reveals[1]).unwrap_err();
    assert_eq!(refused.kind, RejectKind::Invalid);
    assert_eq!(refused.reason, "too-long-mempool-chain");
    let first = devnet.chain().height() + 1;
    devnet.mine_blocks(1, &destination).unwrap();
    for reveal in &reveals[1..] {
        devnet.send_transaction(reveal).expect("reveal accepted");
    }
    devnet.mine_blocks(1, &destination).unwrap();
    assert_eq!(block_txs(&devnet, first).len(), 2);
    assert_eq!(block_txs(&devnet, first + 1).len(), 2);

    // A follower scans both blocks and gets the batch back.
    let mut asm = assembler();
    let mut out = Vec::new();
    for height in first..=first + 1 {
        for tx in block_txs(&devnet, height) {
            for chunk in scan_transaction(&tx) {
                out.extend(asm.push(height, tx.compute_txid(), chunk).unwrap());
            }
        }
    }
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].header, &out[0].body), (signed, &body));
    let heights: Vec<u32> = out[0].positions.iter().map(|p| p.l1_height).collect();
    assert_eq!(heights, [first, first + 1, first + 1]);
    assert_eq!(
        decode_batch_body(&signed.header, &out[0].body, DEFAULT_MAX_DECOMPRESSED).unwrap(),
        blocks
    );
}

#[test]
fn a_reveal_over_the_weight_limit_is_not_standard() {
    // The limit is real: one push more than a 400,000 WU budget allows is refused.
    let key = batcher();
    let (_dir, mut devnet) = funded_devnet(&key);
    let (signed, body) = batch(&random_blocks(1_000_000, 5), 0, &sequencer());
    let chunk = max_chunk_payload(400_000) + 520;
    let leaf = envelope_leaves(&signed, &body, xonly(&key), chunk)
        .unwrap()
        .remove(0);
    let destination = p2tr(&key);
    assert!(reveal_weight(&leaf, &destination).to_wu() > 400_000);
    let (spk, info) = commit_output(&leaf, xonly(&key));
    let fee = FEE_RATE.fee_wu(reveal_weight(&leaf, &destination)).unwrap();
    let funding = coinbase(&devnet, 1);
    let commit = signed_commit(
        &key,
        funding,
        vec![TxOut {
            value: fee + Amount::from_sat(330),
            script_pubkey: spk,
        }],
    );
    devnet.send_transaction(&commit).unwrap();
    let reveal = build_reveal(
        OutPoint::new(commit.compute_txid(), 0),
        &commit.output[0],
        &leaf,
        &info,
        &key,
        destination,
        fee,
    )
    .unwrap();
    assert_eq!(
        devnet.send_transaction(&reveal).unwrap_err().reason,
        "tx-size"
    );
}
