//! Envelopes: how a signed batch travels in taproot script-path spends (commit/reveal,
//! ordinals-style), how big each piece may be, and how scanners find them again.
//!
//! A batch is the byte stream `SignedBatchHeader (234 bytes) ‖ compressed body`, cut into
//! chunks; chunk `i` rides in the tapscript leaf of reveal transaction `i`:
//!
//! ```text
//! <batcher x-only key> OP_CHECKSIG
//! OP_FALSE OP_IF
//!   <"cairn">                        tag
//!   <chunk header, 45 bytes>         see ChunkHeader
//!   <520 bytes> … <520 bytes> <1..=520 bytes>    the chunk's data
//! OP_ENDIF
//! ```
//!
//! [`leaves`] builds the scripts, [`reveal`] the commit output and the reveal
//! transaction, [`scan`] finds chunks in transactions, [`script`] owns the exact
//! byte-level push encoding shared by both directions. Sizing: [`max_chunk_payload`].

use alloy_primitives::B256;
use bitcoin::secp256k1::XOnlyPublicKey;

use crate::codec::Reader;
use crate::error::{Error, Result};

pub mod forced;
pub mod leaves;
pub mod reveal;
pub mod scan;
pub mod script;

pub use forced::{ForcedEnvelope, forced_leaf, scan_forced_transaction};
pub use leaves::{envelope_leaves, split_chunks};
pub use reveal::{build_reveal, commit_output, reveal_weight};
pub use scan::{scan_input, scan_transaction};

/// The only envelope version this code reads and writes.
pub const ENVELOPE_VERSION: u8 = 1;
/// The tag pushed right after `OP_FALSE OP_IF`.
pub const TAG: &[u8; 5] = b"cairn";
/// Length of an encoded [`ChunkHeader`].
pub const CHUNK_HEADER_LEN: usize = 45;
/// Bitcoin's limit on one push (`MAX_SCRIPT_ELEMENT_SIZE`).
pub const MAX_PUSH: usize = 520;
/// Bitcoin Core's standardness limit on a transaction's weight (`MAX_STANDARD_TX_WEIGHT`).
pub const STANDARD_TX_WEIGHT: u64 = 400_000;
/// The reveal weight batchers aim under by default: 1% below [`STANDARD_TX_WEIGHT`].
pub const DEFAULT_MAX_REVEAL_WEIGHT: u64 = 396_000;

/// What identifies a chunk: carried as one 45-byte push after the tag. Big-endian:
/// `version:u8 ‖ chain_id:u64 ‖ batch_hash:[32] ‖ index:u16 ‖ count:u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    /// Envelope format version, [`ENVELOPE_VERSION`].
    pub version: u8,
    /// The L2 chain id.
    pub chain_id: u64,
    /// The batch's [`crate::BatchHeader::hash`].
    pub batch_hash: B256,
    /// This chunk's position, `< count`.
    pub index: u16,
    /// How many chunks the batch has, `≥ 1`.
    pub count: u16,
}

impl ChunkHeader {
    /// The 45-byte encoding.
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut out = [0u8; CHUNK_HEADER_LEN];
        out[0] = self.version;
        out[1..9].copy_from_slice(&self.chain_id.to_be_bytes());
        out[9..41].copy_from_slice(self.batch_hash.as_slice());
        out[41..43].copy_from_slice(&self.index.to_be_bytes());
        out[43..45].copy_from_slice(&self.count.to_be_bytes());
        out
    }

    /// Decodes exactly 45 bytes: known version, `index < count`.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != CHUNK_HEADER_LEN {
            return Err(Error::Length {
                what: "chunk header",
                expected: CHUNK_HEADER_LEN,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("envelope version")?;
        if version != ENVELOPE_VERSION {
            return Err(Error::UnknownVersion {
                what: "envelope",
                version,
            });
        }
        let header = Self {
            version,
            chain_id: r.u64("chain_id")?,
            batch_hash: r.b256("batch_hash")?,
            index: r.u16("chunk index")?,
            count: r.u16("chunk count")?,
        };
        r.finish("chunk header")?;
        if header.index >= header.count {
            return Err(Error::Envelope("chunk index not below chunk count"));
        }
        Ok(header)
    }
}

/// One envelope as found on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The key in the leaf (`<key> OP_CHECKSIG`), the one that signed the reveal. Anyone
    /// can post envelopes: this is not the sequencer's authority, only a grouping key.
    pub key: XOnlyPublicKey,
    /// The chunk header.
    pub header: ChunkHeader,
    /// The chunk's data, pushes concatenated (never empty).
    pub data: Vec<u8>,
}

/// Leaf bytes before the data pushes: key push, `OP_CHECKSIG`, `OP_FALSE OP_IF`, tag
/// push, chunk header push.
pub const LEAF_PREFIX_LEN: usize = 33 + 1 + 2 + 6 + 1 + CHUNK_HEADER_LEN;

/// Weight of a reveal apart from the leaf's data pushes, for a destination script of at
/// most 34 bytes (any segwit v0/v1 output) and a leaf under 4 GiB:
///
/// - non-witness, 4 WU/byte: version 4, input count 1, input 36+1+4, output count 1,
///   output 8+1+34, locktime 4 = 94 bytes → 376 WU;
/// - witness, 1 WU/byte: marker and flag 2, item count 1, signature 1+65 (room for a
///   sighash byte), leaf length prefix 5, control block 1+33 = 108 WU;
/// - leaf: [`LEAF_PREFIX_LEN`] 88 + `OP_ENDIF` 1 = 89 WU.
pub const REVEAL_FIXED_WEIGHT: u64 = 376 + 108 + 89;

/// Script bytes a push of `len` data bytes takes (opcode, length, data).
pub const fn push_len(len: usize) -> usize {
    len + match len {
        0..=75 => 1,
        76..=255 => 2,
        _ => 3,
    }
}

/// Leaf bytes taken by `payload` bytes of chunk data in canonical pushes (520-byte
/// pushes, the last one shorter).
pub const fn data_pushes_len(payload: usize) -> usize {
    let full = payload / MAX_PUSH;
    let rest = payload % MAX_PUSH;
    full * push_len(MAX_PUSH) + if rest == 0 { 0 } else { push_len(rest) }
}

/// The most chunk data one reveal can carry while staying at or under `max_weight`
/// (with [`REVEAL_FIXED_WEIGHT`]'s assumptions). Zero if the limit is too small.
pub fn max_chunk_payload(max_weight: u64) -> usize {
    let Some(budget) = max_weight.checked_sub(REVEAL_FIXED_WEIGHT) else {
        return 0;
    };
    let budget = usize::try_from(budget).unwrap_or(usize::MAX);
    let full = budget / push_len(MAX_PUSH);
    let rest = budget % push_len(MAX_PUSH);
    let tail = (0..=rest.min(MAX_PUSH))
        .rev()
        .find(|&t| t == 0 || push_len(t) <= rest)
        .unwrap_or(0);
    full.saturating_mul(MAX_PUSH).saturating_add(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_header_round_trip_and_strictness() {
        let header = ChunkHeader {
            version: ENVELOPE_VERSION,
            chain_id: 31337,
            batch_hash: B256::repeat_byte(9),
            index: 2,
            count: 3,
        };
        let bytes = header.encode();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[41..], &[0, 2, 0, 3]);
        assert_eq!(ChunkHeader::decode(&bytes).unwrap(), header);
        assert!(ChunkHeader::decode(&bytes[..44]).is_err());
        let mut v2 = bytes;
        v2[0] = 2;
        assert!(ChunkHeader::decode(&v2).is_err());
        let mut past = bytes;
        past[42] = 3;
        assert_eq!(
            ChunkHeader::decode(&past),
            Err(Error::Envelope("chunk index not below chunk count"))
        );
    }

    #[test]
    fn sizing_math() {
        assert_eq!(LEAF_PREFIX_LEN, 88);
        assert_eq!(push_len(1), 2);
        assert_eq!(push_len(75), 76);
        assert_eq!(push_len(76), 78);
        assert_eq!(push_len(255), 257);
        assert_eq!(push_len(256), 259);
        assert_eq!(data_pushes_len(1040), 1046);
        assert_eq!(data_pushes_len(1041), 1048);
        assert_eq!(REVEAL_FIXED_WEIGHT, 573);
        // 395,427 WU of budget: 756 full pushes (395,388) and 39 left: a 38-byte push.
        assert_eq!(max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT), 756 * 520 + 38);
        for w in [600, 1_000, 10_000, 100_000, 399_999] {
            let p = max_chunk_payload(w);
            assert!(REVEAL_FIXED_WEIGHT + data_pushes_len(p) as u64 <= w, "{w}");
            assert!(
                REVEAL_FIXED_WEIGHT + data_pushes_len(p + 1) as u64 > w,
                "{w}"
            );
        }
        assert_eq!(max_chunk_payload(100), 0);
    }
}
