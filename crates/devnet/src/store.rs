//! On-disk persistence: an append-only block file (every block ever accepted into the
//! index, length-prefixed consensus encoding behind a versioned header) and a small JSON
//! side file with the invalid-block marks. Decoding is defensive: bounded lengths, a torn
//! final record (crash mid-append) is cut off, anything else undecodable is an error.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::{Block, BlockHash, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const BLOCKS_FILE: &str = "blocks.dat";
const MARKS_FILE: &str = "chainstate.json";
const MAGIC: &[u8; 8] = b"CAIRNBLK";
const MEMPOOL_FILE: &str = "mempool.dat";
const MEMPOOL_MAGIC: &[u8; 8] = b"CAIRNMPL";
const FORMAT_VERSION: u8 = 1;
/// No valid block serializes to more than its weight limit in bytes.
const MAX_RECORD_LEN: u32 = 4_000_000;

/// The invalid-block marks side file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Marks {
    version: u8,
    invalid: Vec<BlockHash>,
}

/// The data dir's block file and marks file.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    blocks: File,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`; returns it with the stored blocks in
    /// the order they were appended and the invalid marks.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Block>, Vec<BlockHash>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(BLOCKS_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let blocks = if bytes.is_empty() {
            let mut header = MAGIC.to_vec();
            header.push(FORMAT_VERSION);
            file.write_all(&header)?;
            file.sync_data()?;
            Vec::new()
        } else {
            let (blocks, valid_len) = decode_blocks(&bytes)?;
            if valid_len < bytes.len() {
                tracing::warn!(target: "cairn::devnet::store", torn = bytes.len() - valid_len, "cutting off a torn final block record");
                file.set_len(valid_len as u64)?;
            }
            blocks
        };
        let marks_path = dir.join(MARKS_FILE);
        let invalid = match fs::read(&marks_path) {
            Ok(raw) => {
                let marks: Marks = serde_json::from_slice(&raw)
                    .map_err(|e| Error::Corrupt(format!("{}: {e}", marks_path.display())))?;
                if marks.version != FORMAT_VERSION {
                    return Err(Error::Corrupt(format!(
                        "{}: unknown version {}",
                        marks_path.display(),
                        marks.version
                    )));
                }
                marks.invalid
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok((
            Self {
                dir: dir.to_owned(),
                blocks: file,
            },
            blocks,
            invalid,
        ))
    }

    /// Appends one block.
    pub fn append_block(&mut self, block: &Block) -> Result<()> {
        self.blocks.write_all(&record(&serialize(block))?)?;
        self.blocks.flush()?;
        Ok(())
    }

    /// Replaces the invalid marks (write to a temporary file, then rename).
    pub fn save_marks(&self, invalid: &[BlockHash]) -> Result<()> {
        let marks = Marks {
            version: FORMAT_VERSION,
            invalid: invalid.to_vec(),
        };
        let json = serde_json::to_vec_pretty(&marks).map_err(|e| Error::Corrupt(e.to_string()))?;
        let tmp = self.dir.join(format!("{MARKS_FILE}.tmp"));
        fs::write(&tmp, json)?;
        fs::rename(&tmp, self.dir.join(MARKS_FILE))?;
        Ok(())
    }
}

/// The mempool journal: every transaction accepted into the mempool, appended before the
/// RPC answers (so a crash loses nothing acknowledged), replayed on start and compacted to
/// the current mempool as blocks confirm transactions. Like the block file it is written
/// without fsync: it survives a killed process, not a power cut (bitcoind's `mempool.dat`
/// survives neither).
#[derive(Debug)]
pub struct MempoolJournal {
    path: PathBuf,
    file: File,
    records: usize,
}

impl MempoolJournal {
    /// Opens (creating if needed) the journal in `dir`; returns it with the journaled
    /// transactions in order.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Transaction>)> {
        let path = dir.join(MEMPOOL_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let txs = if bytes.is_empty() {
            Vec::new()
        } else {
            decode_records::<Transaction>(&bytes, MEMPOOL_MAGIC, "mempool journal")?.0
        };
        let journal = Self {
            file: write_journal(&path, &txs)?,
            path,
            records: txs.len(),
        };
        Ok((journal, txs))
    }

    /// Appends one accepted transaction.
    pub fn append(&mut self, tx: &Transaction) -> Result<()> {
        self.file.write_all(&record(&serialize(tx))?)?;
        self.file.flush()?;
        self.records += 1;
        Ok(())
    }

    /// Journal records written since the last rewrite.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Replaces the journal with exactly `txs` (temporary file, then rename).
    pub fn rewrite(&mut self, txs: &[Transaction]) -> Result<()> {
        self.file = write_journal(&self.path, txs)?;
        self.records = txs.len();
        Ok(())
    }
}

/// Writes a journal holding `txs` in place of `path` and opens it for appending.
fn write_journal(path: &Path, txs: &[Transaction]) -> Result<File> {
    let tmp = path.with_extension("dat.tmp");
    let mut bytes = MEMPOOL_MAGIC.to_vec();
    bytes.push(FORMAT_VERSION);
    for tx in txs {
        bytes.extend_from_slice(&record(&serialize(tx))?);
    }
    fs::write(&tmp, &bytes)?;
    fs::rename(&tmp, path)?;
    Ok(OpenOptions::new().append(true).open(path)?)
}

/// A length-prefixed record.
fn record(bytes: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(bytes.len()).map_err(|_| Error::Corrupt("record too large".into()))?;
    let mut out = Vec::with_capacity(bytes.len() + 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Decodes the block file; returns the blocks and how many leading bytes were whole records.
fn decode_blocks(bytes: &[u8]) -> Result<(Vec<Block>, usize)> {
    decode_records(bytes, MAGIC, "block file")
}

/// Decodes a record file behind `magic`; a torn final record is left out (its offset is
/// where the whole records end).
fn decode_records<T: bitcoin::consensus::Decodable>(
    bytes: &[u8],
    magic: &[u8; 8],
    what: &str,
) -> Result<(Vec<T>, usize)> {
    let header_len = magic.len() + 1;
    if bytes.len() < header_len || &bytes[..magic.len()] != magic {
        return Err(Error::Corrupt(format!("{what}: bad magic")));
    }
    if bytes[magic.len()] != FORMAT_VERSION {
        return Err(Error::Corrupt(format!(
            "{what}: unknown version {}",
            bytes[magic.len()]
        )));
    }
    let mut pos = header_len;
    let mut blocks = Vec::new();
    while pos < bytes.len() {
        let Some(len_bytes) = bytes.get(pos..pos + 4) else {
            break;
        };
        let len = u32::from_le_bytes(len_bytes.try_into().expect("slice of 4"));
        if len == 0 || len > MAX_RECORD_LEN {
            return Err(Error::Corrupt(format!(
                "{what}: record length {len} at offset {pos}"
            )));
        }
        let Some(record) = bytes.get(pos + 4..pos + 4 + len as usize) else {
            break;
        };
        let item: T = deserialize(record)
            .map_err(|e| Error::Corrupt(format!("{what}: record at offset {pos}: {e}")))?;
        blocks.push(item);
        pos += 4 + len as usize;
    }
    Ok((blocks, pos))
}

#[cfg(test)]
mod tests {
    use bitcoin::Network;
    use bitcoin::blockdata::constants::genesis_block;

    use super::*;

    proptest::proptest! {
        #[test]
        fn decoding_hostile_bytes_never_panics(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut bytes = MAGIC.to_vec();
            bytes.push(FORMAT_VERSION);
            bytes.extend_from_slice(&tail);
            if let Ok((blocks, valid)) = decode_blocks(&bytes) {
                proptest::prop_assert!(valid <= bytes.len());
                proptest::prop_assert!(blocks.len() <= tail.len() / 4);
            }
            let _ = decode_blocks(&tail);
        }
    }

    #[test]
    fn torn_tail_is_cut_and_garbage_refused() {
        let dir = tempfile::tempdir().unwrap();
        let block = genesis_block(Network::Regtest);
        {
            let (mut store, blocks, _) = Store::open(dir.path()).unwrap();
            assert!(blocks.is_empty());
            store.append_block(&block).unwrap();
            store.append_block(&block).unwrap();
        }
        let path = dir.path().join(BLOCKS_FILE);
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 10]).unwrap();
        let (_, blocks, _) = Store::open(dir.path()).unwrap();
        assert_eq!(blocks, vec![block.clone()]);
        assert_eq!(
            fs::read(&path).unwrap().len(),
            9 + 4 + serialize(&block).len()
        );

        let mut bad = full[..9].to_vec();
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        fs::write(&path, &bad).unwrap();
        assert!(matches!(Store::open(dir.path()), Err(Error::Corrupt(_))));
        fs::write(&path, b"not a block file").unwrap();
        assert!(matches!(Store::open(dir.path()), Err(Error::Corrupt(_))));
    }
}
