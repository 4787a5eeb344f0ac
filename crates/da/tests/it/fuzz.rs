//! Property tests: arbitrary and mutated bytes into every decoder. Each must return an
//! error or a value that re-encodes to exactly the same bytes (one encoding per value),
//! and never panic; the assembler must never yield a batch from chunks nobody signed.

use alloy_primitives::B256;
use bitcoin::hashes::Hash as _;
use bitcoin::transaction::Version;
use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction, TxIn, Txid, Witness, absolute};
use cairn_da::compress::decompress_brotli;
use cairn_da::envelope::forced::{forced_leaf, parse_forced_leaf};
use cairn_da::envelope::script::{envelope_leaf, parse_leaf};
use cairn_da::envelope::{ChunkHeader, scan_input};
use cairn_da::{
    BatchHeader, Chunk, SignedBatchHeader, decode_blocks, encode_blocks, scan_transaction,
};
use proptest::prelude::*;

use crate::harness::{assembler, batch, batcher, reveals, sequencer, small_blocks};

fn signed_header_bytes() -> Vec<u8> {
    batch(&small_blocks(), 0, &sequencer()).0.encode().to_vec()
}

fn valid_leaf() -> Vec<u8> {
    let (signed, body) = batch(&small_blocks(), 0, &sequencer());
    reveals(&signed, &body, &batcher())[0].input[0]
        .witness
        .nth(1)
        .expect("script-path witness")
        .to_vec()
}

/// A valid input with a few bytes flipped or inserted, and half the time cut short.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..4),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..3),
        prop_oneof![Just(usize::MAX), 0..=len],
    )
        .prop_map(move |(flips, insert_at, inserted, cut)| {
            let mut bytes = base.clone();
            for (i, b) in flips {
                bytes[i] ^= b;
            }
            let at = insert_at.min(bytes.len());
            bytes.splice(at..at, inserted);
            bytes.truncate(cut.max(1));
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn batch_header_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(header) = BatchHeader::decode(&bytes) {
            prop_assert_eq!(&header.encode()[..], &bytes[..]);
        }
        if let Ok(signed) = SignedBatchHeader::decode(&bytes) {
            prop_assert_eq!(&signed.encode()[..], &bytes[..]);
            prop_assert!(signed.verify(&sequencer().x_only_public_key().0).is_err());
        }
    }

    #[test]
    fn mutated_batch_headers(bytes in mutated(signed_header_bytes())) {
        match SignedBatchHeader::decode(&bytes) {
            Ok(signed) => prop_assert_eq!(&signed.encode()[..], &bytes[..]),
            Err(_) => prop_assert_ne!(bytes, signed_header_bytes()),
        }
    }

    #[test]
    fn body_decoder(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(blocks) = decode_blocks(&bytes) {
            prop_assert_eq!(encode_blocks(&blocks).unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_bodies(bytes in mutated(encode_blocks(&small_blocks()).unwrap())) {
        if let Ok(blocks) = decode_blocks(&bytes) {
            prop_assert_eq!(encode_blocks(&blocks).unwrap(), bytes);
        }
    }

    #[test]
    fn brotli_decoder(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(out) = decompress_brotli(&bytes, 4096) {
            prop_assert!(out.len() <= 4096);
        }
    }

    #[test]
    fn mutated_brotli(bytes in mutated(batch(&small_blocks(), 0, &sequencer()).1)) {
        if let Ok(out) = decompress_brotli(&bytes, 1 << 16) {
            prop_assert!(out.len() <= 1 << 16);
        }
    }

    #[test]
    fn chunk_header_decoder(bytes in prop::collection::vec(any::<u8>(), 0..60)) {
        if let Ok(header) = ChunkHeader::decode(&bytes) {
            prop_assert_eq!(&header.encode()[..], &bytes[..]);
            prop_assert!(header.index < header.count);
        }
    }

    #[test]
    fn leaf_parser(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        check_leaf(&bytes)?;
    }

    #[test]
    fn mutated_leaves(bytes in mutated(valid_leaf())) {
        check_leaf(&bytes)?;
    }

    #[test]
    fn arbitrary_witnesses(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..5), leaf in mutated(valid_leaf()), parity in any::<bool>(), control in prop::collection::vec(any::<u8>(), 32..33), at in 0usize..5) {
        let witness = Witness::from_slice(&items);
        if let Some(Ok(chunk)) = scan_input(&witness) {
            prop_assert!(!chunk.data.is_empty());
        }
        // Envelope-looking leaves at every position, with random control blocks.
        let mut items = items;
        let at = at.min(items.len());
        items.insert(at, leaf);
        let mut control = control;
        control.insert(0, 0xc0 | u8::from(parity));
        items.insert(at + 1, control);
        let witness = Witness::from_slice(&items);
        let _ = scan_input(&witness);
        let tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn { previous_output: OutPoint::null(), script_sig: ScriptBuf::new(), sequence: Sequence::MAX, witness }],
            output: vec![],
        };
        let chunks = scan_transaction(&tx);
        prop_assert!(chunks.len() <= 1);
        let mut asm = assembler();
        for chunk in chunks {
            let canonical = envelope_leaf(&chunk.key, &chunk.header, &chunk.data).unwrap();
            prop_assert!(tx.input[0].witness.iter().any(|item| item == canonical.as_bytes()));
            // Only the untouched sequencer-signed batch can come out.
            if let Ok(Some(out)) = asm.push(1, Txid::all_zeros(), chunk) {
                let (signed, body) = batch(&small_blocks(), 0, &sequencer());
                prop_assert_eq!((out.header, out.body), (signed, body));
            }
        }
    }

    #[test]
    fn forced_leaf_parser(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_forced_leaf(&bytes)?;
    }

    #[test]
    fn mutated_forced_leaves(bytes in mutated(valid_forced_leaf())) {
        check_forced_leaf(&bytes)?;
    }

    #[test]
    fn assembler_never_yields_unsigned_batches(
        chunks in prop::collection::vec((0u16..4, 1u16..4, 0u8..3, prop::collection::vec(any::<u8>(), 1..300)), 0..40)
    ) {
        let mut asm = assembler();
        for (i, (index, count, hash, data)) in chunks.into_iter().enumerate() {
            let chunk = Chunk {
                key: batcher().x_only_public_key().0,
                header: ChunkHeader {
                    version: 1,
                    chain_id: crate::harness::CHAIN_ID,
                    batch_hash: B256::repeat_byte(hash),
                    index,
                    count,
                },
                data,
            };
            let height = u32::try_from(i / 4).unwrap();
            prop_assert!(!matches!(asm.push(height, Txid::all_zeros(), chunk), Ok(Some(_))));
            prop_assert!(asm.buffered_bytes() <= asm.config().max_buffered_bytes);
        }
    }
}

/// `parse_leaf` never panics, and what it accepts is the canonical leaf of its chunk.
fn check_leaf(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Some(Ok(chunk)) = parse_leaf(bytes) {
        let leaf =
            envelope_leaf(&chunk.key, &chunk.header, &chunk.data).expect("parsed chunks re-encode");
        prop_assert_eq!(leaf.as_bytes(), bytes);
    }
    Ok(())
}

fn valid_forced_leaf() -> Vec<u8> {
    let key = batcher().x_only_public_key().0;
    forced_leaf(&key, crate::harness::CHAIN_ID, &[0x02; 700])
        .expect("leaf")
        .to_bytes()
}

/// `parse_forced_leaf` never panics, and what it accepts is the canonical leaf of its
/// envelope.
fn check_forced_leaf(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Some(Ok(envelope)) = parse_forced_leaf(bytes) {
        let leaf = forced_leaf(&envelope.key, envelope.chain_id, &envelope.raw)
            .expect("parsed envelopes re-encode");
        prop_assert_eq!(leaf.as_bytes(), bytes);
    }
    Ok(())
}
