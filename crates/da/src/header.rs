//! The batch header: what the sequencer signs for each batch, its canonical fixed-layout
//! encoding (version 1), its BIP340-style tagged hash and the sequencer's BIP340 Schnorr
//! signature over that hash.
//!
//! Layout of [`BatchHeader`] version 1, 170 bytes, integers big-endian:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | `version` (= 1) |
//! | 1 | 8 | `chain_id` |
//! | 9 | 8 | `number` |
//! | 17 | 32 | `prev_hash` |
//! | 49 | 8 | `first_block` |
//! | 57 | 8 | `last_block` |
//! | 65 | 32 | `post_state_root` |
//! | 97 | 4 | `l1_ref_height` |
//! | 101 | 32 | `l1_ref_hash` (internal byte order, as in block headers) |
//! | 133 | 32 | `body_hash` |
//! | 165 | 4 | `body_len` |
//! | 169 | 1 | `compression` |
//!
//! A [`SignedBatchHeader`] is those 170 bytes followed by the 64-byte signature (234).

use alloy_primitives::B256;
use bitcoin::hashes::{Hash as _, HashEngine as _, sha256};
use bitcoin::secp256k1::{Keypair, Message, Secp256k1, XOnlyPublicKey, schnorr};

use crate::codec::Reader;
use crate::error::{Error, Result};

/// The batch version this code writes: its body carries 130-byte deposit records (with
/// their signer set) and a payout section in every block.
pub const BATCH_VERSION: u8 = 2;
/// The oldest batch version this code still reads: version 1 bodies were written in two
/// layouts, the current one and, before payouts and signer sets, one with 128-byte deposit
/// records and no payout section (see [`crate::body`]).
pub const MIN_BATCH_VERSION: u8 = 1;
/// Length of an encoded [`BatchHeader`].
pub const HEADER_LEN: usize = 170;
/// Length of an encoded [`SignedBatchHeader`].
pub const SIGNED_HEADER_LEN: usize = HEADER_LEN + 64;
/// The BIP340 tag of [`BatchHeader::hash`].
pub const HEADER_TAG: &[u8] = b"cairn/batch-header";

/// How a batch body is compressed. The byte values are part of the header format:
/// 0 is never valid, 1 is brotli, 2 is reserved for zstd (measured and not chosen, see
/// `docs/BATCHES.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Compression {
    /// RFC 7932 brotli, one stream, standard (≤ 16 MiB) window.
    Brotli = 1,
}

impl Compression {
    /// The header byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// Parses the header byte.
    pub fn from_byte(byte: u8) -> Result<Self> {
        match byte {
            1 => Ok(Self::Brotli),
            other => Err(Error::UnknownCompression(other)),
        }
    }
}

/// What the sequencer commits to for one batch of L2 blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Format version, [`BATCH_VERSION`].
    pub version: u8,
    /// The L2 chain id (EIP-155).
    pub chain_id: u64,
    /// Batch sequence number, from 0.
    pub number: u64,
    /// [`BatchHeader::hash`] of batch `number - 1`; zero for batch 0.
    pub prev_hash: B256,
    /// First L2 block in the batch.
    pub first_block: u64,
    /// Last L2 block in the batch (inclusive).
    pub last_block: u64,
    /// State root after `last_block`.
    pub post_state_root: B256,
    /// Height of the L1 block the batch's deposits were read against.
    pub l1_ref_height: u32,
    /// Hash of that L1 block, in internal byte order.
    pub l1_ref_hash: [u8; 32],
    /// SHA-256 of the compressed body bytes.
    pub body_hash: B256,
    /// Length of the compressed body.
    pub body_len: u32,
    /// How the body is compressed.
    pub compression: Compression,
}

impl BatchHeader {
    /// Sets `body_hash` and `body_len` from the compressed body.
    pub fn with_body(mut self, body: &[u8]) -> Result<Self> {
        self.body_len = u32::try_from(body.len())
            .map_err(|_| Error::InvalidHeader("body longer than 4 GiB"))?;
        self.body_hash = body_hash(body);
        Ok(self)
    }

    /// Number of L2 blocks the batch covers.
    pub fn block_count(&self) -> u64 {
        self.last_block
            .saturating_sub(self.first_block)
            .saturating_add(1)
    }

    /// Checks the rules every decoder enforces.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_BATCH_VERSION..=BATCH_VERSION).contains(&self.version) {
            return Err(Error::UnknownVersion {
                what: "batch header",
                version: self.version,
            });
        }
        if self.last_block < self.first_block {
            return Err(Error::InvalidHeader("last_block before first_block"));
        }
        if (self.number == 0) != self.prev_hash.is_zero() {
            return Err(Error::InvalidHeader(
                "prev_hash must be zero exactly for batch 0",
            ));
        }
        if self.body_len == 0 {
            return Err(Error::InvalidHeader("empty body"));
        }
        Ok(())
    }

    /// The canonical encoding (no validation: see [`BatchHeader::validate`]).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = Writer(&mut out, 0);
        w.put(&[self.version]);
        w.put(&self.chain_id.to_be_bytes());
        w.put(&self.number.to_be_bytes());
        w.put(self.prev_hash.as_slice());
        w.put(&self.first_block.to_be_bytes());
        w.put(&self.last_block.to_be_bytes());
        w.put(self.post_state_root.as_slice());
        w.put(&self.l1_ref_height.to_be_bytes());
        w.put(&self.l1_ref_hash);
        w.put(self.body_hash.as_slice());
        w.put(&self.body_len.to_be_bytes());
        w.put(&[self.compression.to_byte()]);
        debug_assert_eq!(w.1, HEADER_LEN);
        out
    }

    /// Decodes exactly [`HEADER_LEN`] bytes and validates the result.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != HEADER_LEN {
            return Err(Error::Length {
                what: "batch header",
                expected: HEADER_LEN,
                got: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if !(MIN_BATCH_VERSION..=BATCH_VERSION).contains(&version) {
            return Err(Error::UnknownVersion {
                what: "batch header",
                version,
            });
        }
        let header = Self {
            version,
            chain_id: r.u64("chain_id")?,
            number: r.u64("number")?,
            prev_hash: r.b256("prev_hash")?,
            first_block: r.u64("first_block")?,
            last_block: r.u64("last_block")?,
            post_state_root: r.b256("post_state_root")?,
            l1_ref_height: r.u32("l1_ref_height")?,
            l1_ref_hash: r.array("l1_ref_hash")?,
            body_hash: r.b256("body_hash")?,
            body_len: r.u32("body_len")?,
            compression: Compression::from_byte(r.u8("compression")?)?,
        };
        r.finish("batch header")?;
        header.validate()?;
        Ok(header)
    }

    /// `SHA256(SHA256(tag) ‖ SHA256(tag) ‖ encode())` with tag [`HEADER_TAG`] (BIP340's
    /// tagged hash): the batch's identity, what the sequencer signs and what every chunk
    /// of its envelopes names.
    pub fn hash(&self) -> B256 {
        B256::from(tagged_hash(HEADER_TAG, &self.encode()))
    }

    /// Validates the header and signs its hash with the sequencer key (BIP340, no
    /// auxiliary randomness, so signatures are deterministic).
    pub fn sign(self, sequencer: &Keypair) -> Result<SignedBatchHeader> {
        self.validate()?;
        let secp = Secp256k1::signing_only();
        let msg = Message::from_digest(self.hash().0);
        let signature = secp.sign_schnorr_no_aux_rand(&msg, sequencer);
        Ok(SignedBatchHeader {
            header: self,
            signature: signature.serialize(),
        })
    }
}

/// A batch header with the sequencer's signature over [`BatchHeader::hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignedBatchHeader {
    /// The header.
    pub header: BatchHeader,
    /// BIP340 Schnorr signature of `header.hash()`.
    pub signature: [u8; 64],
}

impl SignedBatchHeader {
    /// The header's hash.
    pub fn hash(&self) -> B256 {
        self.header.hash()
    }

    /// Checks the signature against the sequencer's x-only key.
    pub fn verify(&self, sequencer: &XOnlyPublicKey) -> Result<()> {
        let signature =
            schnorr::Signature::from_slice(&self.signature).map_err(|_| Error::BadSignature)?;
        let msg = Message::from_digest(self.hash().0);
        Secp256k1::verification_only()
            .verify_schnorr(&signature, &msg, sequencer)
            .map_err(|_| Error::BadSignature)
    }

    /// Header bytes then signature bytes.
    pub fn encode(&self) -> [u8; SIGNED_HEADER_LEN] {
        let mut out = [0u8; SIGNED_HEADER_LEN];
        out[..HEADER_LEN].copy_from_slice(&self.header.encode());
        out[HEADER_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Decodes exactly [`SIGNED_HEADER_LEN`] bytes (the signature is not checked here:
    /// call [`SignedBatchHeader::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SIGNED_HEADER_LEN {
            return Err(Error::Length {
                what: "signed batch header",
                expected: SIGNED_HEADER_LEN,
                got: bytes.len(),
            });
        }
        let (header, signature) = bytes.split_at(HEADER_LEN);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(signature);
        Ok(Self {
            header: BatchHeader::decode(header)?,
            signature: sig,
        })
    }
}

/// SHA-256 of the compressed body, the header's `body_hash`.
pub fn body_hash(body: &[u8]) -> B256 {
    B256::from(sha256::Hash::hash(body).to_byte_array())
}

/// BIP340's tagged hash.
fn tagged_hash(tag: &[u8], data: &[u8]) -> [u8; 32] {
    let tag_hash = sha256::Hash::hash(tag);
    let mut engine = sha256::Hash::engine();
    engine.input(tag_hash.as_byte_array());
    engine.input(tag_hash.as_byte_array());
    engine.input(data);
    sha256::Hash::from_engine(engine).to_byte_array()
}

/// Writes into a fixed buffer whose size the caller has counted.
struct Writer<'a>(&'a mut [u8], usize);

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.0[self.1..self.1 + bytes.len()].copy_from_slice(bytes);
        self.1 += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> BatchHeader {
        BatchHeader {
            version: BATCH_VERSION,
            chain_id: 31337,
            number: 7,
            prev_hash: B256::repeat_byte(0x11),
            first_block: 100,
            last_block: 199,
            post_state_root: B256::repeat_byte(0x22),
            l1_ref_height: 850_000,
            l1_ref_hash: [0x33; 32],
            body_hash: B256::repeat_byte(0x44),
            body_len: 12_345,
            compression: Compression::Brotli,
        }
    }

    fn keypair(byte: u8) -> Keypair {
        Keypair::from_seckey_slice(&Secp256k1::new(), &[byte; 32]).unwrap()
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = sample().encode();
        assert_eq!(bytes[0], BATCH_VERSION);
        assert_eq!(BATCH_VERSION, 2);
        assert_eq!(&bytes[1..9], &31337u64.to_be_bytes());
        assert_eq!(&bytes[9..17], &7u64.to_be_bytes());
        assert_eq!(&bytes[17..49], &[0x11; 32]);
        assert_eq!(&bytes[49..57], &100u64.to_be_bytes());
        assert_eq!(&bytes[57..65], &199u64.to_be_bytes());
        assert_eq!(&bytes[65..97], &[0x22; 32]);
        assert_eq!(&bytes[97..101], &850_000u32.to_be_bytes());
        assert_eq!(&bytes[101..133], &[0x33; 32]);
        assert_eq!(&bytes[133..165], &[0x44; 32]);
        assert_eq!(&bytes[165..169], &12_345u32.to_be_bytes());
        assert_eq!(bytes[169], 1);
        assert_eq!(BatchHeader::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn hash_is_the_bip340_tagged_hash() {
        // Tagged hash computed the long way round.
        let tag = sha256::Hash::hash(HEADER_TAG).to_byte_array();
        let mut pre = tag.to_vec();
        pre.extend_from_slice(&tag);
        pre.extend_from_slice(&sample().encode());
        assert_eq!(sample().hash().0, sha256::Hash::hash(&pre).to_byte_array());
        let mut other = sample();
        other.l1_ref_height += 1;
        assert_ne!(other.hash(), sample().hash());
    }

    #[test]
    fn decode_is_strict() {
        let bytes = sample().encode();
        assert!(matches!(
            BatchHeader::decode(&bytes[..169]),
            Err(Error::Length { got: 169, .. })
        ));
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            BatchHeader::decode(&long),
            Err(Error::Length { got: 171, .. })
        ));
        let mut v3 = bytes;
        v3[0] = 3;
        assert!(matches!(
            BatchHeader::decode(&v3),
            Err(Error::UnknownVersion { version: 3, .. })
        ));
        let mut v0 = bytes;
        v0[0] = 0;
        assert!(matches!(
            BatchHeader::decode(&v0),
            Err(Error::UnknownVersion { version: 0, .. })
        ));
        let mut v1 = bytes;
        v1[0] = 1;
        assert_eq!(
            BatchHeader::decode(&v1)
                .expect("version 1 still reads")
                .version,
            1
        );
        let mut zstd = bytes;
        zstd[169] = 2;
        assert_eq!(
            BatchHeader::decode(&zstd),
            Err(Error::UnknownCompression(2))
        );
        let mut backwards = sample();
        backwards.last_block = 99;
        assert!(matches!(
            BatchHeader::decode(&backwards.encode()),
            Err(Error::InvalidHeader(_))
        ));
        let mut genesis_with_parent = sample();
        genesis_with_parent.number = 0;
        assert!(BatchHeader::decode(&genesis_with_parent.encode()).is_err());
        let mut orphan = sample();
        orphan.prev_hash = B256::ZERO;
        assert!(BatchHeader::decode(&orphan.encode()).is_err());
        let mut empty = sample();
        empty.body_len = 0;
        assert!(BatchHeader::decode(&empty.encode()).is_err());
    }

    #[test]
    fn sign_verify_round_trip() {
        let sequencer = keypair(1);
        let signed = sample().sign(&sequencer).unwrap();
        signed.verify(&sequencer.x_only_public_key().0).unwrap();
        let decoded = SignedBatchHeader::decode(&signed.encode()).unwrap();
        assert_eq!(decoded, signed);
        decoded.verify(&sequencer.x_only_public_key().0).unwrap();

        let other = keypair(2).x_only_public_key().0;
        assert_eq!(signed.verify(&other), Err(Error::BadSignature));
        let mut tampered = signed;
        tampered.header.post_state_root = B256::repeat_byte(0x23);
        assert_eq!(
            tampered.verify(&sequencer.x_only_public_key().0),
            Err(Error::BadSignature)
        );
        let mut invalid = sample();
        invalid.last_block = 0;
        assert!(invalid.sign(&sequencer).is_err());
    }
}
