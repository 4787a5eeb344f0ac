//! Forced-transaction envelopes (issue 14): a signed L2 transaction posted to Bitcoin by
//! anyone, with no sequencer signature, so that derivation can hold the sequencer to
//! including it. One envelope carries one transaction, in one reveal:
//!
//! ```text
//! 0x20 <32-byte key> 0xac          <key> OP_CHECKSIG (the poster's one-time key)
//! 0x00 0x63                        OP_FALSE OP_IF
//! 0x0b "cairn-force"               tag (batch scanners, which look for "cairn", skip it)
//! 0x09 <version:u8 ‖ chain_id:u64> the L2 chain it is for, big-endian
//! data pushes                      the raw EIP-2718 transaction, pushed as batch data is
//! 0x68                             OP_ENDIF
//! ```
//!
//! [`forced_leaf`] writes it, [`scan_forced_transaction`] finds it in a Bitcoin
//! transaction's inputs. Whether the L2 transaction inside is valid is derivation's
//! question, not the envelope's.

use bitcoin::opcodes::all::{OP_CHECKSIG, OP_ENDIF, OP_IF, OP_PUSHBYTES_0, OP_PUSHBYTES_32};
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{ScriptBuf, Transaction};

use super::script::{parse_data, push_data};
use super::{MAX_PUSH, data_pushes_len};
use crate::error::{Error, Result};

/// The tag pushed right after `OP_FALSE OP_IF`.
pub const FORCED_TAG: &[u8; 11] = b"cairn-force";
/// The only forced-envelope version this code reads and writes.
pub const FORCED_VERSION: u8 = 1;
/// The largest transaction an envelope carries (the mempool's `MAX_TX_SIZE`).
pub const MAX_FORCED_TX: usize = 128 * 1024;
/// Leaf bytes before the data pushes.
const PREFIX_LEN: usize = 33 + 1 + 2 + 1 + FORCED_TAG.len() + 1 + 9;

/// A forced transaction as found on Bitcoin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedEnvelope {
    /// The poster's key in the leaf (it signed the reveal; no authority).
    pub key: XOnlyPublicKey,
    /// The L2 chain the transaction is for.
    pub chain_id: u64,
    /// The raw EIP-2718 transaction.
    pub raw: Vec<u8>,
}

fn magic() -> [u8; 15] {
    let mut magic = [0u8; 15];
    magic[0] = OP_CHECKSIG.to_u8();
    magic[1] = OP_PUSHBYTES_0.to_u8();
    magic[2] = OP_IF.to_u8();
    magic[3] = FORCED_TAG.len() as u8;
    magic[4..].copy_from_slice(FORCED_TAG);
    magic
}

/// The leaf carrying `raw` for chain `chain_id` under `key`.
pub fn forced_leaf(key: &XOnlyPublicKey, chain_id: u64, raw: &[u8]) -> Result<ScriptBuf> {
    if raw.is_empty() || raw.len() > MAX_FORCED_TX {
        return Err(Error::Chunking(format!(
            "a forced transaction is 1..={MAX_FORCED_TX} bytes, not {}",
            raw.len()
        )));
    }
    let mut out = Vec::with_capacity(PREFIX_LEN + data_pushes_len(raw.len()) + 1);
    out.push(OP_PUSHBYTES_32.to_u8());
    out.extend_from_slice(&key.serialize());
    out.extend_from_slice(&magic());
    out.push(9);
    out.push(FORCED_VERSION);
    out.extend_from_slice(&chain_id.to_be_bytes());
    for piece in raw.chunks(MAX_PUSH) {
        push_data(&mut out, piece);
    }
    out.push(OP_ENDIF.to_u8());
    Ok(ScriptBuf::from_bytes(out))
}

/// Parses a forced leaf: `None` if the script does not start like one, an error if it
/// does but breaks the format.
pub fn parse_forced_leaf(script: &[u8]) -> Option<Result<ForcedEnvelope>> {
    let starts = script.len() > PREFIX_LEN
        && script[0] == OP_PUSHBYTES_32.to_u8()
        && script[33..48] == magic();
    starts.then(|| parse(script))
}

fn parse(script: &[u8]) -> Result<ForcedEnvelope> {
    let key = XOnlyPublicKey::from_slice(&script[1..33])
        .map_err(|_| Error::Envelope("key is not a valid x-only public key"))?;
    if script[48] != 9 {
        return Err(Error::Envelope("no 9-byte header push after the tag"));
    }
    let version = script[49];
    if version != FORCED_VERSION {
        return Err(Error::UnknownVersion {
            what: "forced envelope",
            version,
        });
    }
    let mut chain_id = [0u8; 8];
    chain_id.copy_from_slice(&script[50..58]);
    let raw = parse_data(&script[PREFIX_LEN..])?;
    if raw.len() > MAX_FORCED_TX {
        return Err(Error::Envelope("forced transaction over the size limit"));
    }
    Ok(ForcedEnvelope {
        key,
        chain_id: u64::from_be_bytes(chain_id),
        raw,
    })
}

/// Every well-formed forced envelope in `tx`'s inputs, in input order (malformed ones
/// are skipped, traced at debug level).
pub fn scan_forced_transaction(tx: &Transaction) -> Vec<ForcedEnvelope> {
    tx.input
        .iter()
        .filter_map(|input| {
            let (leaf, control) = super::scan::script_path(&input.witness)?;
            if !super::scan::is_tapscript_control_block(control) {
                return None;
            }
            match parse_forced_leaf(leaf)? {
                Ok(envelope) => Some(envelope),
                Err(error) => {
                    tracing::debug!(target: "cairn::da::scan", txid = %tx.compute_txid(), %error, "malformed forced envelope skipped");
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bitcoin::secp256k1::{Keypair, Secp256k1};
    use bitcoin::{Amount, OutPoint, TxOut};

    use super::*;
    use crate::envelope::{build_reveal, commit_output, scan_transaction};

    fn keypair() -> Keypair {
        Keypair::from_seckey_slice(&Secp256k1::new(), &[9; 32]).unwrap()
    }

    fn reveal_of(raw: &[u8], chain_id: u64) -> Transaction {
        let keypair = keypair();
        let key = keypair.x_only_public_key().0;
        let leaf = forced_leaf(&key, chain_id, raw).unwrap();
        let (script, info) = commit_output(&leaf, key);
        let commit = TxOut {
            value: Amount::from_sat(100_000),
            script_pubkey: script,
        };
        build_reveal(
            OutPoint::null(),
            &commit,
            &leaf,
            &info,
            &keypair,
            ScriptBuf::new_p2tr(&Secp256k1::new(), key, None),
            Amount::from_sat(5_000),
        )
        .unwrap()
    }

    #[test]
    fn a_reveal_carries_one_transaction_for_one_chain() {
        for len in [1, 75, 520, 521, 4_000] {
            let raw: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let found = scan_forced_transaction(&reveal_of(&raw, 4242));
            assert_eq!(found.len(), 1, "{len}");
            assert_eq!(found[0].chain_id, 4242);
            assert_eq!(found[0].raw, raw);
            assert_eq!(found[0].key, keypair().x_only_public_key().0);
        }
    }

    #[test]
    fn batch_scanners_and_forced_scanners_ignore_each_other() {
        let reveal = reveal_of(&[0x02; 200], 7);
        assert!(scan_transaction(&reveal).is_empty(), "not a batch chunk");
        let key = keypair().x_only_public_key().0;
        let header = crate::envelope::ChunkHeader {
            version: crate::envelope::ENVELOPE_VERSION,
            chain_id: 7,
            batch_hash: alloy_primitives::B256::repeat_byte(3),
            index: 0,
            count: 1,
        };
        let batch_leaf = crate::envelope::script::envelope_leaf(&key, &header, &[1; 40]).unwrap();
        assert!(parse_forced_leaf(batch_leaf.as_bytes()).is_none());
    }

    #[test]
    fn malformed_leaves_are_refused_not_misread() {
        let key = keypair().x_only_public_key().0;
        let good = forced_leaf(&key, 1, &[5; 100]).unwrap().into_bytes();
        let mut wrong_version = good.clone();
        wrong_version[49] = 9;
        assert!(matches!(
            parse_forced_leaf(&wrong_version),
            Some(Err(Error::UnknownVersion { .. }))
        ));
        let mut trailing = good.clone();
        trailing.push(0x51);
        assert!(matches!(parse_forced_leaf(&trailing), Some(Err(_))));
        let mut no_endif = good.clone();
        no_endif.pop();
        assert!(matches!(parse_forced_leaf(&no_endif), Some(Err(_))));
        assert!(forced_leaf(&key, 1, &[]).is_err());
        assert!(forced_leaf(&key, 1, &vec![0; MAX_FORCED_TX + 1]).is_err());
    }
}
