//! The exact bytes of an envelope leaf, written and read by the same rules so that
//! every chunk has one encoding:
//!
//! ```text
//! 0x20 <32-byte key> 0xac          <key> OP_CHECKSIG
//! 0x00 0x63                        OP_FALSE OP_IF
//! 0x05 "cairn"                     tag
//! 0x2d <45-byte chunk header>
//! data pushes                      each 520 bytes (0x4d 0x0802 <520>) except the last,
//!                                  1..=520 bytes with the shortest push opcode
//! 0x68                             OP_ENDIF, the leaf's last byte
//! ```
//!
//! The branch is never executed, so Bitcoin does not care how its pushes are written;
//! this format does, and refuses anything else (other opcodes, `OP_PUSHDATA4`,
//! non-shortest pushes, empty pushes, short pushes before the last, bytes after
//! `OP_ENDIF`).

use bitcoin::ScriptBuf;
use bitcoin::opcodes::all::{
    OP_CHECKSIG, OP_ENDIF, OP_IF, OP_PUSHBYTES_0, OP_PUSHBYTES_5, OP_PUSHBYTES_32, OP_PUSHBYTES_45,
    OP_PUSHBYTES_75, OP_PUSHDATA1, OP_PUSHDATA2,
};
use bitcoin::secp256k1::XOnlyPublicKey;

use super::{
    CHUNK_HEADER_LEN, Chunk, ChunkHeader, LEAF_PREFIX_LEN, MAX_PUSH, TAG, data_pushes_len,
};
use crate::error::{Error, Result};

/// The bytes every envelope leaf has at offsets 33..42: `OP_CHECKSIG OP_FALSE OP_IF
/// <"cairn">`.
const MAGIC: [u8; 9] = [
    OP_CHECKSIG.to_u8(),
    OP_PUSHBYTES_0.to_u8(),
    OP_IF.to_u8(),
    OP_PUSHBYTES_5.to_u8(),
    TAG[0],
    TAG[1],
    TAG[2],
    TAG[3],
    TAG[4],
];

/// The leaf for one chunk. `data` must be non-empty.
pub fn envelope_leaf(key: &XOnlyPublicKey, header: &ChunkHeader, data: &[u8]) -> Result<ScriptBuf> {
    if data.is_empty() {
        return Err(Error::Chunking("empty chunk".into()));
    }
    let mut out = Vec::with_capacity(LEAF_PREFIX_LEN + data_pushes_len(data.len()) + 1);
    out.push(OP_PUSHBYTES_32.to_u8());
    out.extend_from_slice(&key.serialize());
    out.extend_from_slice(&MAGIC);
    out.push(OP_PUSHBYTES_45.to_u8());
    out.extend_from_slice(&header.encode());
    for piece in data.chunks(MAX_PUSH) {
        push_data(&mut out, piece);
    }
    out.push(OP_ENDIF.to_u8());
    Ok(ScriptBuf::from_bytes(out))
}

/// Appends one push of 1..=520 bytes with the shortest opcode.
pub(crate) fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    match data.len() {
        len @ 1..=75 => out.push(len as u8),
        len @ 76..=255 => out.extend_from_slice(&[OP_PUSHDATA1.to_u8(), len as u8]),
        len => {
            out.push(OP_PUSHDATA2.to_u8());
            out.extend_from_slice(&(len as u16).to_le_bytes());
        }
    }
    out.extend_from_slice(data);
}

/// Whether `script` starts like an envelope leaf: `<32-byte push> OP_CHECKSIG OP_FALSE
/// OP_IF <"cairn">`. A fixed 42-byte comparison: what lets scanners skip every other
/// script cheaply.
pub fn has_envelope_prefix(script: &[u8]) -> bool {
    script.len() > 42 && script[0] == OP_PUSHBYTES_32.to_u8() && script[33..42] == MAGIC
}

/// Parses an envelope leaf. `None` if the script does not start like one; an error if it
/// does but breaks the format.
pub fn parse_leaf(script: &[u8]) -> Option<Result<Chunk>> {
    has_envelope_prefix(script).then(|| parse_envelope(script))
}

fn parse_envelope(script: &[u8]) -> Result<Chunk> {
    let key = XOnlyPublicKey::from_slice(&script[1..33])
        .map_err(|_| Error::Envelope("key is not a valid x-only public key"))?;
    if script.len() < LEAF_PREFIX_LEN || script[42] != OP_PUSHBYTES_45.to_u8() {
        return Err(Error::Envelope(
            "no 45-byte chunk header push after the tag",
        ));
    }
    let header = ChunkHeader::decode(&script[43..43 + CHUNK_HEADER_LEN])?;
    let data = parse_data(&script[LEAF_PREFIX_LEN..])?;
    Ok(Chunk { key, header, data })
}

/// Reads the canonical data pushes and the final `OP_ENDIF`.
pub(crate) fn parse_data(script: &[u8]) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(script.len());
    let mut pos = 0;
    let mut short_seen = false;
    loop {
        let op = *script.get(pos).ok_or(Error::Envelope("no OP_ENDIF"))?;
        if op == OP_ENDIF.to_u8() {
            if pos + 1 != script.len() {
                return Err(Error::Envelope("bytes after OP_ENDIF"));
            }
            if data.is_empty() {
                return Err(Error::Envelope("no data"));
            }
            return Ok(data);
        }
        if short_seen {
            return Err(Error::Envelope("a short push before the last"));
        }
        let (len, skip) = push_header(&script[pos..])?;
        let piece = script
            .get(pos + skip..pos + skip + len)
            .ok_or(Error::Envelope("truncated push"))?;
        data.extend_from_slice(piece);
        short_seen = len < MAX_PUSH;
        pos += skip + len;
    }
}

/// `(data length, opcode bytes)` of a canonical data push at the start of `script`.
fn push_header(script: &[u8]) -> Result<(usize, usize)> {
    let op = script[0];
    let (len, skip) = if (1..=OP_PUSHBYTES_75.to_u8()).contains(&op) {
        (op as usize, 1)
    } else if op == OP_PUSHDATA1.to_u8() {
        let len = *script.get(1).ok_or(Error::Envelope("truncated push"))? as usize;
        if len < 76 {
            return Err(Error::Envelope("non-minimal push"));
        }
        (len, 2)
    } else if op == OP_PUSHDATA2.to_u8() {
        let bytes = script.get(1..3).ok_or(Error::Envelope("truncated push"))?;
        let len = u16::from_le_bytes([bytes[0], bytes[1]]) as usize;
        if len < 256 {
            return Err(Error::Envelope("non-minimal push"));
        }
        (len, 3)
    } else {
        return Err(Error::Envelope("not a data push"));
    };
    if len > MAX_PUSH {
        return Err(Error::Envelope("push over 520 bytes"));
    }
    Ok((len, skip))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;
    use bitcoin::secp256k1::{Keypair, Secp256k1};

    use super::*;
    use crate::envelope::ENVELOPE_VERSION;

    fn key() -> XOnlyPublicKey {
        Keypair::from_seckey_slice(&Secp256k1::new(), &[5; 32])
            .unwrap()
            .x_only_public_key()
            .0
    }

    fn header() -> ChunkHeader {
        ChunkHeader {
            version: ENVELOPE_VERSION,
            chain_id: 5,
            batch_hash: B256::repeat_byte(1),
            index: 0,
            count: 1,
        }
    }

    fn leaf(data: &[u8]) -> Vec<u8> {
        envelope_leaf(&key(), &header(), data).unwrap().into_bytes()
    }

    #[test]
    fn leaf_layout() {
        let bytes = leaf(&[7; 1041]);
        assert_eq!(bytes[0], 0x20);
        assert_eq!(
            &bytes[33..42],
            &[0xac, 0x00, 0x63, 0x05, b'c', b'a', b'i', b'r', b'n']
        );
        assert_eq!(bytes[42], 0x2d);
        assert_eq!(&bytes[88..91], &[0x4d, 0x08, 0x02]);
        assert_eq!(&bytes[611..614], &[0x4d, 0x08, 0x02]);
        assert_eq!(&bytes[1134..1136], &[0x01, 7]);
        assert_eq!(bytes[1136], 0x68);
        assert_eq!(bytes.len(), LEAF_PREFIX_LEN + data_pushes_len(1041) + 1);
        // rust-bitcoin reads the same script as pushes.
        let script = ScriptBuf::from_bytes(bytes.clone());
        assert_eq!(script.instructions().count(), 10);
    }

    #[test]
    fn round_trip_every_tail_length() {
        for len in [1, 75, 76, 255, 256, 519, 520, 521, 1040, 1300] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let chunk = parse_leaf(&leaf(&data)).unwrap().unwrap();
            assert_eq!(chunk.data, data);
            assert_eq!(chunk.header, header());
            assert_eq!(chunk.key, key());
        }
        assert!(envelope_leaf(&key(), &header(), &[]).is_err());
    }

    #[test]
    fn non_canonical_leaves_are_refused() {
        assert!(parse_leaf(b"not an envelope at all, and long enough to check").is_none());
        let good = leaf(&[7; 600]);
        let mut extra = good.clone();
        extra.push(0x68);
        assert_eq!(
            parse_leaf(&extra).unwrap(),
            Err(Error::Envelope("bytes after OP_ENDIF"))
        );
        let missing = &good[..good.len() - 1];
        assert_eq!(
            parse_leaf(missing).unwrap(),
            Err(Error::Envelope("no OP_ENDIF"))
        );
        // A short push, then another push.
        let mut short_first = leaf(&[7; 10]);
        short_first.pop();
        short_first.extend_from_slice(&[0x01, 7, 0x68]);
        assert_eq!(
            parse_leaf(&short_first).unwrap(),
            Err(Error::Envelope("a short push before the last"))
        );
        // 10 bytes written with OP_PUSHDATA1.
        let mut non_minimal = good[..LEAF_PREFIX_LEN].to_vec();
        non_minimal.extend_from_slice(&[0x4c, 10]);
        non_minimal.extend_from_slice(&[7; 10]);
        non_minimal.push(0x68);
        assert_eq!(
            parse_leaf(&non_minimal).unwrap(),
            Err(Error::Envelope("non-minimal push"))
        );
        let mut opcode = good[..LEAF_PREFIX_LEN].to_vec();
        opcode.extend_from_slice(&[0x51, 0x68]);
        assert_eq!(
            parse_leaf(&opcode).unwrap(),
            Err(Error::Envelope("not a data push"))
        );
        let mut empty = good[..LEAF_PREFIX_LEN].to_vec();
        empty.push(0x68);
        assert_eq!(parse_leaf(&empty).unwrap(), Err(Error::Envelope("no data")));
        let mut wrong_header = good.clone();
        wrong_header[42] = 0x2c;
        assert!(parse_leaf(&wrong_header).unwrap().is_err());
        let mut big = good[..LEAF_PREFIX_LEN].to_vec();
        big.extend_from_slice(&[0x4d, 0x09, 0x02]);
        big.extend_from_slice(&[7; 521]);
        big.push(0x68);
        assert_eq!(
            parse_leaf(&big).unwrap(),
            Err(Error::Envelope("push over 520 bytes"))
        );
    }
}
