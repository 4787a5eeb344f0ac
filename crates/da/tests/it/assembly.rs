//! The assembler's refusals: forged, corrupt, duplicate and inconsistent chunks; junk
//! under a real batch's hash; age and size limits; rewinds on L1 reorgs.

use alloy_primitives::B256;
use bitcoin::Txid;
use bitcoin::hashes::Hash as _;
use cairn_da::envelope::script::envelope_leaf;
use cairn_da::{
    Assembler, AssemblerConfig, Chunk, ChunkHeader, DEFAULT_MAX_REVEAL_WEIGHT, Error, Rejected,
    envelope_leaves, max_chunk_payload, scan_transaction,
};

use crate::harness::{
    CHAIN_ID, assembler, batch, batcher, feed, keypair, random_blocks, reveal_for, reveals,
    sequencer, small_blocks, xonly,
};

fn txid(n: u8) -> Txid {
    Txid::from_byte_array([n; 32])
}

/// The chunks of a batch, straight from its leaves.
fn chunks(signed: &cairn_da::SignedBatchHeader, body: &[u8], chunk: usize) -> Vec<Chunk> {
    envelope_leaves(signed, body, xonly(&batcher()), chunk)
        .expect("leaves")
        .iter()
        .map(|leaf| {
            cairn_da::envelope::script::parse_leaf(leaf.as_bytes())
                .expect("an envelope")
                .expect("well-formed")
        })
        .collect()
}

fn three_chunks() -> (cairn_da::SignedBatchHeader, Vec<u8>, Vec<Chunk>) {
    let (signed, body) = batch(&random_blocks(3_000, 1), 0, &sequencer());
    let chunks = chunks(&signed, &body, 1_200);
    assert_eq!(chunks.len(), 3);
    (signed, body, chunks)
}

#[test]
fn batch_signed_by_another_key_is_refused() {
    let (forged, body) = batch(&small_blocks(), 0, &keypair(9));
    let mut asm = assembler();
    let txs = reveals(&forged, &body, &batcher());
    let chunk = scan_transaction(&txs[0]).remove(0);
    assert_eq!(
        asm.push(1, txid(1), chunk),
        Err(Rejected::Forged(forged.hash()))
    );
    assert_eq!(asm.pending_batches(), 0);

    // A header whose signature was copied onto changed contents fails the same way.
    let (signed, body) = batch(&small_blocks(), 0, &sequencer());
    let mut tampered = signed;
    tampered.header.l1_ref_height += 1;
    let txs = reveals(&tampered, &body, &batcher());
    let chunk = scan_transaction(&txs[0]).remove(0);
    assert_eq!(
        asm.push(1, txid(2), chunk),
        Err(Rejected::Forged(tampered.hash()))
    );
}

#[test]
fn corrupted_chunk_and_wrong_body_hash_are_refused() {
    let (signed, _, mut chunks) = three_chunks();
    chunks[1].data[17] ^= 0x01;
    let mut asm = assembler();
    assert_eq!(asm.push(1, txid(0), chunks[0].clone()), Ok(None));
    assert_eq!(asm.push(1, txid(1), chunks[1].clone()), Ok(None));
    let err = asm.push(1, txid(2), chunks[2].clone()).unwrap_err();
    assert_eq!(
        err,
        Rejected::Corrupt {
            batch: signed.hash(),
            error: Error::BodyMismatch("SHA-256 differs from body_hash"),
        }
    );
    assert_eq!(asm.pending_batches(), 0, "the corrupt group is dropped");
    assert_eq!(asm.buffered_bytes(), 0);

    // A correctly signed header over a body hash that is not the posted body's.
    let (signed, body) = batch(&small_blocks(), 0, &sequencer());
    let (other, other_body) = batch(&random_blocks(2_000, 2), 0, &sequencer());
    let mut header = signed.header;
    header.body_hash = other.header.body_hash;
    let lying = header.sign(&sequencer()).unwrap();
    assert_ne!(body, other_body);
    let txs = reveals(&lying, &body, &batcher());
    let chunk = scan_transaction(&txs[0]).remove(0);
    assert!(matches!(
        assembler().push(1, txid(3), chunk),
        Err(Rejected::Corrupt {
            error: Error::BodyMismatch(_),
            ..
        })
    ));
}

#[test]
fn duplicates_conflicts_and_inconsistencies_are_refused() {
    let (signed, body, chunks) = three_chunks();
    let batch = signed.hash();
    let mut asm = assembler();
    assert_eq!(asm.push(5, txid(1), chunks[1].clone()), Ok(None));
    assert_eq!(
        asm.push(5, txid(9), chunks[1].clone()),
        Err(Rejected::Duplicate { batch, index: 1 })
    );
    let mut conflicting = chunks[1].clone();
    conflicting.data[0] ^= 1;
    assert_eq!(
        asm.push(5, txid(9), conflicting),
        Err(Rejected::Conflict { batch, index: 1 })
    );
    let mut recounted = chunks[2].clone();
    recounted.header.count = 4;
    assert!(matches!(
        asm.push(5, txid(9), recounted),
        Err(Rejected::Inconsistent { index: 2, .. })
    ));
    let mut other_chain = chunks[2].clone();
    other_chain.header.chain_id = 1;
    assert_eq!(
        asm.push(5, txid(9), other_chain),
        Err(Rejected::WrongChain {
            expected: CHAIN_ID,
            got: 1
        })
    );
    // Chunk 0 naming another batch's hash.
    let mut misnamed = chunks[0].clone();
    misnamed.header.batch_hash = B256::repeat_byte(3);
    assert!(matches!(
        asm.push(5, txid(9), misnamed),
        Err(Rejected::BadHeader { .. })
    ));
    let mut short = chunks[0].clone();
    short.data.truncate(100);
    assert!(matches!(
        asm.push(5, txid(9), short),
        Err(Rejected::BadHeader { .. })
    ));

    assert_eq!(asm.push(6, txid(0), chunks[0].clone()), Ok(None));
    let done = asm.push(6, txid(2), chunks[2].clone()).unwrap().unwrap();
    assert_eq!(done.body, body);
    assert_eq!(
        asm.push(7, txid(3), chunks[2].clone()),
        Err(Rejected::AlreadyAssembled(batch))
    );
}

#[test]
fn junk_under_a_real_batch_hash_does_not_block_it() {
    let (signed, body, chunks) = three_chunks();
    let thief = keypair(7);
    let mut asm = assembler();
    // The thief front-runs chunk 1 with garbage under its own key.
    let junk_header = ChunkHeader {
        index: 1,
        ..chunks[1].header
    };
    let leaf = envelope_leaf(&xonly(&thief), &junk_header, &[0xee; 1_000]).unwrap();
    let junk = reveal_for(&leaf, &thief, 1);
    assert!(feed(&mut asm, 1, &[junk]).is_empty());
    assert_eq!(asm.pending_batches(), 1);
    let mut out = None;
    for (i, chunk) in chunks.into_iter().enumerate() {
        out = asm.push(2, txid(i as u8), chunk).unwrap();
    }
    let out = out.expect("complete");
    assert_eq!((out.header, out.body), (signed, body));
    assert_eq!(
        asm.pending_batches(),
        0,
        "the thief's group goes with the batch"
    );
}

#[test]
fn old_incomplete_batches_expire() {
    let (_, _, chunks) = three_chunks();
    let mut asm = assembler();
    let max_age = asm.config().max_age;
    assert_eq!(asm.push(10, txid(1), chunks[1].clone()), Ok(None));
    assert_eq!(asm.push(10 + max_age, txid(0), chunks[0].clone()), Ok(None));
    assert_eq!(asm.buffered_bytes(), 234 + 2 * 1_200 - 234 + 2 * 128);
    // One block later the batch, first seen at 10, ages out whole: chunk 2 starts anew.
    assert_eq!(asm.push(11 + max_age, txid(2), chunks[2].clone()), Ok(None));
    assert_eq!(asm.pending_batches(), 1);
    assert_eq!(asm.buffered_bytes(), chunks[2].data.len() + 128);
    // Posting chunks 0 and 1 again completes it.
    assert_eq!(asm.push(12 + max_age, txid(3), chunks[0].clone()), Ok(None));
    let done = asm.push(12 + max_age, txid(4), chunks[1].clone()).unwrap();
    assert_eq!(done.map(|b| b.l1_height()), Some(12 + max_age));
}

#[test]
fn buffer_cap_evicts_unverified_batches_first() {
    let (signed, body, chunks) = three_chunks();
    let stream = 234 + body.len();
    let mut config = AssemblerConfig::new(CHAIN_ID, xonly(&sequencer()));
    config.max_buffered_bytes = stream + 3 * 128 + 500;
    let mut asm = Assembler::new(config.clone());
    // Unverified junk from a stranger fills the buffer first.
    for n in 0..4u8 {
        let header = ChunkHeader {
            batch_hash: B256::repeat_byte(n),
            ..chunks[1].header
        };
        let leaf = envelope_leaf(&xonly(&keypair(7)), &header, &[n; 1_500]).unwrap();
        feed(&mut asm, 1, &[reveal_for(&leaf, &keypair(7), n)]);
    }
    // Each junk chunk costs 1,628 bytes: two fit, older ones were evicted.
    assert_eq!(asm.pending_batches(), 2);
    assert_eq!(asm.buffered_bytes(), 2 * 1_628);
    let mut out = None;
    for (i, chunk) in chunks.into_iter().enumerate() {
        out = asm.push(2, txid(i as u8), chunk).unwrap();
        assert!(asm.buffered_bytes() <= config.max_buffered_bytes);
    }
    assert_eq!(out.unwrap().header, signed);
    // A chunk bigger than the whole buffer is refused outright.
    let big = Chunk {
        key: xonly(&keypair(7)),
        header: ChunkHeader {
            batch_hash: B256::repeat_byte(0x77),
            index: 1,
            count: 2,
            ..signed_chunk_header(&signed)
        },
        data: vec![1; config.max_buffered_bytes],
    };
    assert_eq!(
        asm.push(3, txid(9), big),
        Err(Rejected::BufferFull(config.max_buffered_bytes))
    );
}

fn signed_chunk_header(signed: &cairn_da::SignedBatchHeader) -> ChunkHeader {
    ChunkHeader {
        version: cairn_da::envelope::ENVELOPE_VERSION,
        chain_id: CHAIN_ID,
        batch_hash: signed.hash(),
        index: 0,
        count: 1,
    }
}

#[test]
fn rewind_undoes_and_restores_batches() {
    let (signed, body) = batch(&random_blocks(1_000_000, 3), 1, &sequencer());
    let txs = reveals(&signed, &body, &batcher());
    assert_eq!(txs.len(), 3);
    let mut asm = assembler();
    assert_eq!(feed(&mut asm, 10, &txs).len(), 1); // chunks at 10, 11, 12

    // The block holding the last chunk is reorged out.
    assert_eq!(asm.rewind_to(11), vec![signed.hash()]);
    assert_eq!(asm.pending_batches(), 1);
    assert!(asm.buffered_bytes() > 2 * max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT));
    // The same reveal lands in the new block 12: the batch comes out again.
    let out = feed(&mut asm, 12, &txs[2..]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, body);

    // A deeper reorg drops the pending chunks too; a rewind above everything is a no-op.
    assert!(asm.rewind_to(20).is_empty());
    assert_eq!(asm.rewind_to(10), vec![signed.hash()]);
    assert_eq!(asm.pending_batches(), 1);
    assert_eq!(asm.rewind_to(9), Vec::<B256>::new());
    assert_eq!(asm.pending_batches(), 0);
    assert_eq!(asm.buffered_bytes(), 0);
    assert_eq!(feed(&mut asm, 10, &txs).len(), 1);
}
