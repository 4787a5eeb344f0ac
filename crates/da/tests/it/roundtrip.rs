//! Batch → envelope leaves → reveal transactions → scan → assembly gives the exact batch
//! back, for a tiny body and a ~1 MB one that needs several reveals.

use bitcoin::key::Keypair;
use bitcoin::{Amount, OutPoint, TxOut, Witness};
use cairn_da::envelope::scan_input;
use cairn_da::{
    DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_REVEAL_WEIGHT, decode_batch_body, envelope_leaves,
    max_chunk_payload, reveal_weight, scan_transaction,
};

use crate::harness::{
    assembler, batch, batcher, feed, p2tr, random_blocks, reveals, sequencer, small_blocks, xonly,
};

#[test]
fn tiny_batch_round_trips() {
    let blocks = small_blocks();
    let (signed, body) = batch(&blocks, 0, &sequencer());
    let txs = reveals(&signed, &body, &batcher());
    assert_eq!(txs.len(), 1);

    let chunks = scan_transaction(&txs[0]);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].key, xonly(&batcher()));
    assert_eq!(chunks[0].header.batch_hash, signed.hash());
    assert_eq!((chunks[0].header.index, chunks[0].header.count), (0, 1));

    let mut asm = assembler();
    let out = feed(&mut asm, 500, &txs);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].header, signed);
    assert_eq!(out[0].body, body);
    assert_eq!(out[0].batcher, xonly(&batcher()));
    assert_eq!(out[0].positions.len(), 1);
    assert_eq!(out[0].positions[0].l1_height, 500);
    assert_eq!(out[0].positions[0].txid, txs[0].compute_txid());
    assert_eq!(
        decode_batch_body(
            &out[0].header.header,
            &out[0].body,
            DEFAULT_MAX_DECOMPRESSED
        )
        .unwrap(),
        blocks
    );
    assert_eq!(asm.pending_batches(), 0);
    assert_eq!(asm.buffered_bytes(), 0);
}

#[test]
fn megabyte_batch_needs_several_reveals_and_round_trips() {
    let blocks = random_blocks(1_000_000, 7);
    let (signed, body) = batch(&blocks, 3, &sequencer());
    assert!(body.len() > 990_000, "random transactions do not compress");
    let txs = reveals(&signed, &body, &batcher());
    let chunk = max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT);
    assert_eq!(txs.len(), (body.len() + 234).div_ceil(chunk));
    assert_eq!(txs.len(), 3);
    for tx in &txs {
        let weight = tx.weight().to_wu();
        assert!(weight <= DEFAULT_MAX_REVEAL_WEIGHT, "{weight}");
        let witness = &tx.input[0].witness;
        let leaf = bitcoin::Script::from_bytes(witness.nth(1).unwrap());
        assert_eq!(reveal_weight(leaf, &p2tr(&batcher())).to_wu(), weight);
    }
    // Full reveals are within a few hundred WU of the limit.
    assert!(txs[0].weight().to_wu() > DEFAULT_MAX_REVEAL_WEIGHT - 600);

    // In order: the last chunk completes the batch.
    let mut asm = assembler();
    let out = feed(&mut asm, 10, &txs);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].header, &out[0].body), (signed, &body));
    let heights: Vec<u32> = out[0].positions.iter().map(|p| p.l1_height).collect();
    assert_eq!(heights, [10, 11, 12]);
    assert_eq!(out[0].l1_height(), 12);
    assert_eq!(
        decode_batch_body(&signed.header, &out[0].body, DEFAULT_MAX_DECOMPRESSED).unwrap(),
        blocks
    );

    // Out of order, all in one block: same batch.
    let mut asm = assembler();
    let reversed: Vec<_> = txs.iter().rev().cloned().collect();
    let mut out = Vec::new();
    for tx in &reversed {
        for chunk in scan_transaction(tx) {
            out.extend(asm.push(20, tx.compute_txid(), chunk).unwrap());
        }
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, body);
}

#[test]
fn envelopes_need_room_for_the_signed_header() {
    let (signed, body) = batch(&small_blocks(), 0, &sequencer());
    assert!(envelope_leaves(&signed, &body, xonly(&batcher()), 233).is_err());
    assert!(envelope_leaves(&signed, &body[1..], xonly(&batcher()), 10_000).is_err());
    // Tiny chunks: many leaves, still one batch.
    let leaves = envelope_leaves(&signed, &body, xonly(&batcher()), 234).unwrap();
    assert_eq!(leaves.len(), (234 + body.len()).div_ceil(234));
}

#[test]
fn scanner_handles_annexes_and_skips_other_spends() {
    let (signed, body) = batch(&small_blocks(), 0, &sequencer());
    let tx = &reveals(&signed, &body, &batcher())[0];
    let witness = &tx.input[0].witness;
    let expected = scan_input(witness).unwrap().unwrap();

    let mut with_annex: Vec<Vec<u8>> = witness.to_vec();
    with_annex.push(vec![0x50, 1, 2, 3]);
    let chunk = scan_input(&Witness::from_slice(&with_annex))
        .unwrap()
        .unwrap();
    assert_eq!(chunk, expected);

    // A key-path spend, an empty witness, a witness with a bad control block.
    assert!(scan_input(&Witness::from_slice(&[[7u8; 64]])).is_none());
    assert!(scan_input(&Witness::new()).is_none());
    let mut bad_control = witness.to_vec();
    bad_control[2].push(0);
    assert!(scan_input(&Witness::from_slice(&bad_control)).is_none());
    let mut other_leaf_version = witness.to_vec();
    other_leaf_version[2][0] = 0xc2;
    assert!(scan_input(&Witness::from_slice(&other_leaf_version)).is_none());

    // Two envelope inputs in one transaction: two chunks, in input order.
    let mut two = tx.clone();
    two.input.push(two.input[0].clone());
    two.input[1].previous_output = OutPoint::null();
    assert_eq!(scan_transaction(&two).len(), 2);
}

#[test]
fn reveal_refuses_bad_parameters() {
    let (signed, body) = batch(&small_blocks(), 0, &sequencer());
    let leaf = &envelope_leaves(&signed, &body, xonly(&batcher()), 10_000).unwrap()[0];
    let (spk, info) = cairn_da::commit_output(leaf, xonly(&batcher()));
    let txout = TxOut {
        value: Amount::from_sat(10_000),
        script_pubkey: spk,
    };
    let build = |keypair: Keypair, fee| {
        cairn_da::build_reveal(
            OutPoint::null(),
            &txout,
            leaf,
            &info,
            &keypair,
            p2tr(&batcher()),
            fee,
        )
    };
    assert!(build(batcher(), Amount::from_sat(9_000)).is_ok());
    assert!(
        build(batcher(), Amount::from_sat(9_800)).is_err(),
        "dust output"
    );
    assert!(
        build(batcher(), Amount::from_sat(20_000)).is_err(),
        "fee above value"
    );
    assert!(
        build(sequencer(), Amount::from_sat(1_000)).is_err(),
        "not the leaf's key"
    );
}
