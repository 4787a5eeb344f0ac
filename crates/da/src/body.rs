//! The batch body: the inputs followers need to re-execute each L2 block (timestamp, fee
//! recipient, L1 data fee rate and the ordered raw EIP-2718 transactions), its strict
//! binary encoding,
//! and the checks that tie a compressed body to its signed header.
//!
//! Body encoding (header version 2), before compression, integers big-endian:
//!
//! ```text
//! body  := block_count:u32  block{block_count}
//! block := timestamp:u64  beneficiary:[20]  l1_fee_rate:u64  tx_count:u32  tx{tx_count}
//!          deposit_count:u32  deposit{deposit_count}  payout_count:u32  payout{payout_count}
//! tx    := len:u32  bytes[len]            (len ≥ 1; the EIP-2718 encoding)
//! deposit := l1_block:[32] txid:[32] vout:u32 amount_sat:u64 recipient:[20] reclaim_key:[32]
//!           epoch:u16                     (130 bytes; an all-zero reclaim key means none)
//! payout := len:u32  bytes[len]           (one `cairn_primitives::Payout` record)
//! ```
//!
//! No trailing bytes; `block_count ≥ 1`. Transactions are not decoded here: execution
//! does that, and refuses the batch if one does not decode.
//!
//! **Version 1** bodies are still read. They were written in two layouts under the same
//! header version: the one above, and before payouts and signer sets one whose deposits
//! are 128 bytes (no `epoch`: signer set 0) and whose blocks end after the deposits (no
//! payout section). A version 1 body is decoded in the newer layout first and, if that
//! fails, in the older one; each decode is strict (exact lengths, no trailing bytes).

use alloy_primitives::{Address, Bytes};
use cairn_primitives::{DEPOSIT_ENCODED_LEN, DEPOSIT_V1_ENCODED_LEN, Deposit, Payout};

use crate::codec::Reader;
use crate::compress::{compress, decompress};
use crate::error::{Error, Result};
use crate::header::{BatchHeader, Compression, body_hash};

/// Smallest encoded block: timestamp, beneficiary, L1 fee rate, tx, deposit and payout
/// counts.
const MIN_BLOCK_LEN: usize = 8 + 20 + 8 + 4 + 4 + 4;
/// Smallest encoded transaction: its length and one byte.
const MIN_TX_LEN: usize = 4 + 1;

/// What a follower needs, besides its own state, to re-execute one L2 block. Number,
/// parent hash, gas limit, base fee and PREVRANDAO are derived; roots are recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchBlock {
    /// The block's timestamp (seconds).
    pub timestamp: u64,
    /// The fee recipient.
    pub beneficiary: Address,
    /// The L1 data fee rate the block charged (sat/kwu; 0: none).
    pub l1_fee_rate: u64,
    /// The block's transactions in order, each its raw EIP-2718 encoding.
    pub transactions: Vec<Bytes>,
    /// The Bitcoin deposits it credits, in order.
    pub deposits: Vec<Deposit>,
    /// The Bitcoin payouts it records, in order.
    pub payouts: Vec<Payout>,
}

/// Encodes blocks in the body format. Refuses what a decoder would refuse.
pub fn encode_blocks(blocks: &[BatchBlock]) -> Result<Vec<u8>> {
    if blocks.is_empty() {
        return Err(Error::InvalidBody("no blocks"));
    }
    let size = 4 + blocks
        .iter()
        .map(|b| {
            MIN_BLOCK_LEN
                + b.transactions.iter().map(|t| 4 + t.len()).sum::<usize>()
                + b.deposits.len() * DEPOSIT_ENCODED_LEN
        })
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&count_u32(blocks.len(), "too many blocks")?.to_be_bytes());
    for block in blocks {
        out.extend_from_slice(&block.timestamp.to_be_bytes());
        out.extend_from_slice(block.beneficiary.as_slice());
        out.extend_from_slice(&block.l1_fee_rate.to_be_bytes());
        let txs = &block.transactions;
        out.extend_from_slice(&count_u32(txs.len(), "too many transactions")?.to_be_bytes());
        for tx in txs {
            if tx.is_empty() {
                return Err(Error::InvalidBody("empty transaction"));
            }
            out.extend_from_slice(&count_u32(tx.len(), "transaction too long")?.to_be_bytes());
            out.extend_from_slice(tx);
        }
        let deposits = &block.deposits;
        out.extend_from_slice(&count_u32(deposits.len(), "too many deposits")?.to_be_bytes());
        for deposit in deposits {
            deposit.encode(&mut out);
        }
        let payouts = &block.payouts;
        out.extend_from_slice(&count_u32(payouts.len(), "too many payouts")?.to_be_bytes());
        for payout in payouts {
            let mut record = Vec::new();
            payout.encode(&mut record);
            out.extend_from_slice(&count_u32(record.len(), "payout too long")?.to_be_bytes());
            out.extend_from_slice(&record);
        }
    }
    Ok(out)
}

/// Decodes the body format strictly. Allocation is bounded by the input's length, not by
/// the counts it claims.
pub fn decode_blocks(bytes: &[u8]) -> Result<Vec<BatchBlock>> {
    decode_blocks_in(bytes, Layout::Current)
}

/// Decodes a body of batch version `version` (see the module docs for version 1).
pub fn decode_blocks_of_version(bytes: &[u8], version: u8) -> Result<Vec<BatchBlock>> {
    match version {
        1 => decode_blocks_in(bytes, Layout::Current)
            .or_else(|_| decode_blocks_in(bytes, Layout::BeforePayouts)),
        2 => decode_blocks_in(bytes, Layout::Current),
        other => Err(Error::UnknownVersion {
            what: "batch body",
            version: other,
        }),
    }
}

/// The block layouts bodies have been written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// 130-byte deposits, then payouts (batch version 2, and version 1 since payouts).
    Current,
    /// 128-byte deposits and no payout section (version 1 before payouts).
    BeforePayouts,
}

fn decode_blocks_in(bytes: &[u8], layout: Layout) -> Result<Vec<BatchBlock>> {
    let mut r = Reader::new(bytes);
    let count = r.u32("block count")? as usize;
    if count == 0 {
        return Err(Error::InvalidBody("no blocks"));
    }
    let mut blocks = Vec::with_capacity(count.min(r.remaining() / MIN_BLOCK_LEN));
    for _ in 0..count {
        blocks.push(decode_block(&mut r, layout)?);
    }
    r.finish("body")?;
    Ok(blocks)
}

fn decode_block(r: &mut Reader<'_>, layout: Layout) -> Result<BatchBlock> {
    let timestamp = r.u64("timestamp")?;
    let beneficiary = Address::from(r.array::<20>("beneficiary")?);
    let l1_fee_rate = r.u64("L1 fee rate")?;
    let tx_count = r.u32("transaction count")? as usize;
    let mut transactions = Vec::with_capacity(tx_count.min(r.remaining() / MIN_TX_LEN));
    for _ in 0..tx_count {
        let len = r.u32("transaction length")? as usize;
        if len == 0 {
            return Err(Error::InvalidBody("empty transaction"));
        }
        transactions.push(Bytes::copy_from_slice(r.take(len, "transaction")?));
    }
    let deposit_count = r.u32("deposit count")? as usize;
    let record_len = match layout {
        Layout::Current => DEPOSIT_ENCODED_LEN,
        Layout::BeforePayouts => DEPOSIT_V1_ENCODED_LEN,
    };
    let mut deposits = Vec::with_capacity(deposit_count.min(r.remaining() / record_len));
    for _ in 0..deposit_count {
        let raw = r.take(record_len, "deposit")?;
        let deposit = match layout {
            Layout::Current => Deposit::decode(raw),
            Layout::BeforePayouts => Deposit::decode_v1(raw),
        };
        deposits.push(deposit.ok_or(Error::InvalidBody("deposit"))?);
    }
    if layout == Layout::BeforePayouts {
        return Ok(BatchBlock {
            timestamp,
            beneficiary,
            l1_fee_rate,
            transactions,
            deposits,
            payouts: Vec::new(),
        });
    }
    let payout_count = r.u32("payout count")? as usize;
    let mut payouts = Vec::with_capacity(payout_count.min(r.remaining() / 4));
    for _ in 0..payout_count {
        let len = r.u32("payout length")? as usize;
        let mut raw = r.take(len, "payout")?;
        let payout = Payout::decode(&mut raw).ok_or(Error::InvalidBody("payout"))?;
        if !raw.is_empty() {
            return Err(Error::InvalidBody("payout"));
        }
        payouts.push(payout);
    }
    Ok(BatchBlock {
        timestamp,
        beneficiary,
        l1_fee_rate,
        transactions,
        deposits,
        payouts,
    })
}

/// Encodes and compresses blocks: the body the batcher posts.
pub fn compress_blocks(blocks: &[BatchBlock], compression: Compression) -> Result<Vec<u8>> {
    compress(&encode_blocks(blocks)?, compression)
}

/// Checks that `body` is the one `header` commits to (length, then SHA-256).
pub fn verify_body(header: &BatchHeader, body: &[u8]) -> Result<()> {
    if body.len() != header.body_len as usize {
        return Err(Error::BodyMismatch("length differs from body_len"));
    }
    if body_hash(body) != header.body_hash {
        return Err(Error::BodyMismatch("SHA-256 differs from body_hash"));
    }
    Ok(())
}

/// Everything a follower does to a batch body before executing it: checks it against the
/// header, decompresses it with at most `max_decompressed` bytes of output, decodes it,
/// and checks it holds exactly the header's block range.
pub fn decode_batch_body(
    header: &BatchHeader,
    body: &[u8],
    max_decompressed: usize,
) -> Result<Vec<BatchBlock>> {
    verify_body(header, body)?;
    let raw = decompress(body, header.compression, max_decompressed)?;
    let blocks = decode_blocks_of_version(&raw, header.version)?;
    if blocks.len() as u64 != header.block_count() {
        return Err(Error::InvalidBody(
            "block count differs from the header's range",
        ));
    }
    Ok(blocks)
}

fn count_u32(n: usize, what: &'static str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidBody(what))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;

    use super::*;
    use crate::header::BATCH_VERSION;

    fn deposit() -> Deposit {
        Deposit {
            l1_block: B256::repeat_byte(1),
            txid: B256::repeat_byte(2),
            vout: 1,
            amount_sat: 50_000,
            recipient: Address::repeat_byte(3),
            reclaim_key: None,
            epoch: 0,
        }
    }

    fn blocks() -> Vec<BatchBlock> {
        vec![
            BatchBlock {
                timestamp: 1_700_000_000,
                beneficiary: Address::repeat_byte(0xfe),
                l1_fee_rate: 0,
                transactions: vec![],
                deposits: vec![],
                payouts: vec![],
            },
            BatchBlock {
                timestamp: 1_700_000_001,
                beneficiary: Address::repeat_byte(0xfe),
                l1_fee_rate: 2_500,
                transactions: vec![Bytes::from_static(&[2, 0xf8, 1]), Bytes::from(vec![7; 300])],
                deposits: vec![deposit()],
                payouts: vec![Payout {
                    l1_block: B256::repeat_byte(4),
                    txid: B256::repeat_byte(5),
                    inputs: vec![(B256::repeat_byte(6), 2)],
                    change: Some((2, 70_000)),
                    epoch: 0,
                    withdrawals: vec![11, 12],
                }],
            },
        ]
    }

    /// `blocks` in the version 1 layout before payouts: 128-byte deposits, no payout
    /// section.
    fn encode_before_payouts(blocks: &[BatchBlock]) -> Vec<u8> {
        let mut out = (blocks.len() as u32).to_be_bytes().to_vec();
        for block in blocks {
            out.extend_from_slice(&block.timestamp.to_be_bytes());
            out.extend_from_slice(block.beneficiary.as_slice());
            out.extend_from_slice(&block.l1_fee_rate.to_be_bytes());
            out.extend_from_slice(&(block.transactions.len() as u32).to_be_bytes());
            for tx in &block.transactions {
                out.extend_from_slice(&(tx.len() as u32).to_be_bytes());
                out.extend_from_slice(tx);
            }
            out.extend_from_slice(&(block.deposits.len() as u32).to_be_bytes());
            for deposit in &block.deposits {
                let mut record = Vec::new();
                deposit.encode(&mut record);
                out.extend_from_slice(&record[..DEPOSIT_V1_ENCODED_LEN]);
            }
        }
        out
    }

    #[test]
    fn version_1_bodies_of_both_layouts_still_decode() {
        let mut old = blocks();
        old[1].payouts.clear();
        old.push(BatchBlock {
            deposits: vec![
                deposit(),
                Deposit {
                    vout: 9,
                    ..deposit()
                },
            ],
            ..old[0].clone()
        });
        let before = encode_before_payouts(&old);
        assert_eq!(decode_blocks_of_version(&before, 1).unwrap(), old);
        assert!(
            decode_blocks_of_version(&before, 2).is_err(),
            "not a version 2 body"
        );
        let current = encode_blocks(&blocks()).unwrap();
        assert_eq!(decode_blocks_of_version(&current, 1).unwrap(), blocks());
        assert_eq!(decode_blocks_of_version(&current, 2).unwrap(), blocks());
        assert!(decode_blocks_of_version(&current, 3).is_err());
        assert!(decode_blocks_of_version(&before[..before.len() - 1], 1).is_err());
    }

    #[test]
    fn encoding_is_as_documented() {
        let bytes = encode_blocks(&blocks()).unwrap();
        assert_eq!(&bytes[..4], &2u32.to_be_bytes());
        assert_eq!(&bytes[4..12], &1_700_000_000u64.to_be_bytes());
        assert_eq!(&bytes[12..32], &[0xfe; 20]);
        assert_eq!(&bytes[32..40], &0u64.to_be_bytes());
        assert_eq!(&bytes[40..44], &0u32.to_be_bytes());
        assert_eq!(&bytes[44..48], &0u32.to_be_bytes());
        assert_eq!(&bytes[48..52], &0u32.to_be_bytes());
        assert_eq!(&bytes[52..60], &1_700_000_001u64.to_be_bytes());
        assert_eq!(&bytes[80..88], &2_500u64.to_be_bytes());
        assert_eq!(&bytes[88..92], &2u32.to_be_bytes());
        assert_eq!(&bytes[92..96], &3u32.to_be_bytes());
        assert_eq!(&bytes[96..99], &[2, 0xf8, 1]);
        assert_eq!(&bytes[99..103], &300u32.to_be_bytes());
        assert_eq!(&bytes[403..407], &1u32.to_be_bytes());
        assert_eq!(&bytes[407..439], &[1; 32]);
        assert_eq!(&bytes[439..471], &[2; 32]);
        assert_eq!(&bytes[471..475], &1u32.to_be_bytes());
        assert_eq!(&bytes[475..483], &50_000u64.to_be_bytes());
        assert_eq!(&bytes[483..503], &[3; 20]);
        assert_eq!(&bytes[503..535], &[0; 32]);
        assert_eq!(&bytes[535..537], &0u16.to_be_bytes());
        assert_eq!(&bytes[537..541], &1u32.to_be_bytes());
        assert_eq!(&bytes[541..545], &134u32.to_be_bytes());
        assert_eq!(&bytes[545..577], &[4; 32]);
        assert_eq!(
            bytes.len(),
            4 + 48 + 48 + (4 + 3) + (4 + 300) + 130 + (4 + 134)
        );
        assert_eq!(decode_blocks(&bytes).unwrap(), blocks());
    }

    #[test]
    fn decode_is_strict() {
        let bytes = encode_blocks(&blocks()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_blocks(&bytes[..cut]).is_err(), "prefix {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_blocks(&long),
            Err(Error::Trailing { count: 1, .. })
        ));
        assert_eq!(
            decode_blocks(&0u32.to_be_bytes()),
            Err(Error::InvalidBody("no blocks"))
        );
        // A huge claimed count is an error, not a huge allocation.
        let mut lying = bytes;
        lying[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_blocks(&lying), Err(Error::Truncated(_))));
        assert!(encode_blocks(&[]).is_err());
        let empty_tx = vec![BatchBlock {
            transactions: vec![Bytes::new()],
            ..Default::default()
        }];
        assert!(encode_blocks(&empty_tx).is_err());
    }

    #[test]
    fn batch_body_checks_the_header() {
        let body = compress_blocks(&blocks(), Compression::Brotli).unwrap();
        let header = BatchHeader {
            version: BATCH_VERSION,
            chain_id: 1,
            number: 0,
            prev_hash: B256::ZERO,
            first_block: 1,
            last_block: 2,
            post_state_root: B256::ZERO,
            l1_ref_height: 0,
            l1_ref_hash: [0; 32],
            body_hash: B256::ZERO,
            body_len: 0,
            compression: Compression::Brotli,
        }
        .with_body(&body)
        .unwrap();
        assert_eq!(
            decode_batch_body(&header, &body, 1 << 20).unwrap(),
            blocks()
        );
        let mut flipped = body.clone();
        flipped[3] ^= 1;
        assert!(matches!(
            decode_batch_body(&header, &flipped, 1 << 20),
            Err(Error::BodyMismatch(_))
        ));
        assert!(matches!(
            decode_batch_body(&header, &body[1..], 1 << 20),
            Err(Error::BodyMismatch(_))
        ));
        let mut three = header;
        three.last_block = 3;
        assert!(matches!(
            decode_batch_body(&three, &body, 1 << 20),
            Err(Error::InvalidBody(_))
        ));
        assert!(matches!(
            decode_batch_body(&header, &body, 10),
            Err(Error::TooLarge { limit: 10 })
        ));
    }
}
