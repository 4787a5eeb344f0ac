//! The batcher's outbox: every batch it has signed and not yet seen final on Bitcoin,
//! with the exact transactions that carry it, written to disk before any of them is
//! broadcast. After a crash the batcher re-broadcasts these same transactions (same
//! txids, so nothing is posted twice) and numbers its next batch after the last one here
//! (so nothing is skipped).

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::{FeeRate, ScriptBuf, Transaction, Txid};
use serde::{Deserialize, Serialize};

/// The outbox's file in the batcher's directory.
pub const OUTBOX_FILE: &str = "outbox.json";

const VERSION: u32 = 1;

/// Why the outbox could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Reading or writing the file failed.
    #[error("batcher outbox {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The file exists but does not hold an outbox this build reads.
    #[error("batcher outbox {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A batch's identity and place in the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRef {
    /// Its number.
    pub number: u64,
    /// Its header hash.
    pub hash: B256,
    /// First L2 block.
    pub first_block: u64,
    /// Last L2 block (inclusive).
    pub last_block: u64,
}

/// One chunk's reveal: the envelope leaf it publishes and the signed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    /// The envelope leaf (kept so the reveal can be signed again at another fee, or
    /// against a new commit, without rebuilding the batch).
    pub leaf: ScriptBuf,
    /// The reveal transaction.
    pub tx: Transaction,
}

/// A batch on its way to Bitcoin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// Which batch.
    pub batch: BatchRef,
    /// The commit transaction: output `i` is chunk `i`'s envelope output.
    pub commit: Transaction,
    /// The reveals, by chunk index.
    pub reveals: Vec<Reveal>,
    /// The fee rate the reveals pay.
    pub fee_rate: FeeRate,
    /// The L1 tip height when the transactions were (re)signed: fee bumps count from here.
    pub signed_at: u32,
}

impl Posting {
    /// The commit's txid.
    pub fn commit_txid(&self) -> Txid {
        self.commit.compute_txid()
    }

    /// The reveals' txids, by chunk index.
    pub fn reveal_txids(&self) -> Vec<Txid> {
        self.reveals.iter().map(|r| r.tx.compute_txid()).collect()
    }
}

/// The outbox: what has been signed, and the last batch ever signed.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    /// The last batch signed (kept after its posting is final and removed).
    last: Option<BatchRef>,
    /// Postings not yet final, in batch order.
    pending: Vec<Posting>,
}

impl Outbox {
    /// Opens (or starts) the outbox in `dir`.
    pub fn open(dir: &Path) -> Result<Self, OutboxError> {
        let path = dir.join(OUTBOX_FILE);
        let io = |source| OutboxError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path,
                    last: None,
                    pending: Vec::new(),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let corrupt = |reason: String| OutboxError::Corrupt {
            path: path.clone(),
            reason,
        };
        let file: File = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!(
                "format version {} is not {VERSION}, the one this build reads",
                file.version
            )));
        }
        let pending = file
            .pending
            .into_iter()
            .map(|p| p.decode())
            .collect::<Result<Vec<_>, String>>()
            .map_err(corrupt)?;
        Ok(Self {
            path,
            last: file.last,
            pending,
        })
    }

    /// The last batch signed.
    pub fn last(&self) -> Option<BatchRef> {
        self.last
    }

    /// Drops the postings covering L2 block `from` or later (the sequencer undid those
    /// blocks) and writes the outbox; how many were dropped.
    pub fn forget_from(&mut self, from: u64) -> Result<usize, OutboxError> {
        let before = self.pending.len();
        self.pending.retain(|p| p.batch.last_block < from);
        if self.last.is_some_and(|b| b.last_block >= from) {
            self.last = self.pending.last().map(|p| p.batch);
        }
        self.save()?;
        Ok(before - self.pending.len())
    }

    /// Postings not yet final, in batch order.
    pub fn pending(&self) -> &[Posting] {
        &self.pending
    }

    /// Adds a new posting (the next batch) and writes the outbox.
    pub fn push(&mut self, posting: Posting) -> Result<(), OutboxError> {
        self.last = Some(posting.batch);
        self.pending.push(posting);
        self.save()
    }

    /// Replaces the posting of the same batch (new transactions for it) and writes.
    pub fn replace(&mut self, posting: Posting) -> Result<(), OutboxError> {
        if let Some(slot) = self
            .pending
            .iter_mut()
            .find(|p| p.batch.number == posting.batch.number)
        {
            *slot = posting;
        }
        self.save()
    }

    /// Drops the postings `done` says are finished and writes if any went.
    pub fn retain(&mut self, mut keep: impl FnMut(&Posting) -> bool) -> Result<usize, OutboxError> {
        let before = self.pending.len();
        self.pending.retain(|p| keep(p));
        let removed = before - self.pending.len();
        if removed > 0 {
            self.save()?;
        }
        Ok(removed)
    }

    fn save(&self) -> Result<(), OutboxError> {
        let file = File {
            version: VERSION,
            last: self.last,
            pending: self.pending.iter().map(FilePosting::encode).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| OutboxError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        crate::fsutil::write_atomically(&self.path, &bytes).map_err(|source| OutboxError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    last: Option<BatchRef>,
    pending: Vec<FilePosting>,
}

/// A posting as stored: transactions and leaves in consensus hex.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilePosting {
    batch: BatchRef,
    commit: String,
    reveals: Vec<FileReveal>,
    fee_rate_sat_per_kwu: u64,
    signed_at: u32,
}

#[derive(Serialize, Deserialize)]
struct FileReveal {
    leaf: String,
    tx: String,
}

impl FilePosting {
    fn encode(posting: &Posting) -> Self {
        Self {
            batch: posting.batch,
            commit: serialize_hex(&posting.commit),
            reveals: posting
                .reveals
                .iter()
                .map(|r| FileReveal {
                    leaf: r.leaf.to_hex_string(),
                    tx: serialize_hex(&r.tx),
                })
                .collect(),
            fee_rate_sat_per_kwu: posting.fee_rate.to_sat_per_kwu(),
            signed_at: posting.signed_at,
        }
    }

    fn decode(self) -> Result<Posting, String> {
        let batch = self.batch.number;
        let commit = deserialize_hex(&self.commit)
            .map_err(|e| format!("batch {batch}: commit transaction: {e}"))?;
        let reveals = self
            .reveals
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let leaf = ScriptBuf::from_hex(&r.leaf)
                    .map_err(|e| format!("batch {batch}: leaf {i}: {e}"))?;
                let tx = deserialize_hex(&r.tx)
                    .map_err(|e| format!("batch {batch}: reveal {i}: {e}"))?;
                Ok(Reveal { leaf, tx })
            })
            .collect::<Result<_, String>>()?;
        Ok(Posting {
            batch: self.batch,
            commit,
            reveals,
            fee_rate: FeeRate::from_sat_per_kwu(self.fee_rate_sat_per_kwu),
            signed_at: self.signed_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash as _;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, Sequence, TxIn, TxOut, Witness, absolute};

    fn tx(tag: u8) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([tag; 32]), 1),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[vec![tag; 64]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(10_000 + u64::from(tag)),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        }
    }

    fn posting(number: u64) -> Posting {
        Posting {
            batch: BatchRef {
                number,
                hash: B256::repeat_byte(number as u8 + 1),
                first_block: number * 10 + 1,
                last_block: number * 10 + 10,
            },
            commit: tx(1),
            reveals: vec![
                Reveal {
                    leaf: ScriptBuf::from_bytes(vec![0x00, 0x63, 0x68]),
                    tx: tx(2),
                },
                Reveal {
                    leaf: ScriptBuf::from_bytes(vec![0x01]),
                    tx: tx(3),
                },
            ],
            fee_rate: FeeRate::from_sat_per_vb_u32(7),
            signed_at: 120,
        }
    }

    #[test]
    fn survives_reopen_and_keeps_the_last_batch_after_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(dir.path()).unwrap();
        assert_eq!(outbox.last(), None);
        outbox.push(posting(0)).unwrap();
        outbox.push(posting(1)).unwrap();
        let reopened = Outbox::open(dir.path()).unwrap();
        assert_eq!(reopened.pending(), &[posting(0), posting(1)]);
        assert_eq!(reopened.last(), Some(posting(1).batch));

        let mut outbox = reopened;
        assert_eq!(outbox.retain(|p| p.batch.number > 0).unwrap(), 1);
        let mut replaced = posting(1);
        replaced.fee_rate = FeeRate::from_sat_per_vb_u32(9);
        outbox.replace(replaced.clone()).unwrap();
        let reopened = Outbox::open(dir.path()).unwrap();
        assert_eq!(reopened.pending(), &[replaced]);
        outbox.retain(|_| false).unwrap();
        let reopened = Outbox::open(dir.path()).unwrap();
        assert!(reopened.pending().is_empty());
        assert_eq!(
            reopened.last(),
            Some(posting(1).batch),
            "the last batch is never forgotten"
        );
    }

    #[test]
    fn refuses_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(OUTBOX_FILE), b"{\"version\":1,").unwrap();
        let err = Outbox::open(dir.path()).unwrap_err();
        assert!(matches!(err, OutboxError::Corrupt { .. }), "{err}");
        std::fs::write(
            dir.path().join(OUTBOX_FILE),
            br#"{"version":9,"last":null,"pending":[]}"#,
        )
        .unwrap();
        let err = Outbox::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("format version 9"), "{err}");
    }
}
