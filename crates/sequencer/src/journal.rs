//! The mempool journal: every accepted transaction is appended (length-prefixed
//! EIP-2718 bytes) before its hash is returned, so a transaction acknowledged to
//! a client survives kill -9. Replayed at start-up, compacted as blocks include
//! transactions.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Largest entry the reader accepts: a torn or corrupt tail ends the replay.
const MAX_ENTRY: usize = cairn_primitives::MAX_TX_SIZE;

pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    pub(crate) bytes: u64,
}

impl Journal {
    pub(crate) fn open(path: &Path) -> io::Result<(Self, Vec<Vec<u8>>)> {
        let entries = read_all(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let bytes = file.metadata()?.len();
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                bytes,
            },
            entries,
        ))
    }

    pub(crate) fn append(&mut self, raw: &[u8]) -> io::Result<()> {
        let mut entry = Vec::with_capacity(4 + raw.len());
        entry.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        entry.extend_from_slice(raw);
        self.file.write_all(&entry)?;
        self.bytes += entry.len() as u64;
        Ok(())
    }

    /// Replace the journal with exactly `live` (write aside, then rename).
    pub(crate) fn rewrite<'a>(&mut self, live: impl Iterator<Item = &'a [u8]>) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        let mut bytes = 0u64;
        for raw in live {
            out.write_all(&(raw.len() as u32).to_be_bytes())?;
            out.write_all(raw)?;
            bytes += 4 + raw.len() as u64;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.bytes = bytes;
        Ok(())
    }
}

fn read_all(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if reader.read_exact(&mut len).is_err() {
            break;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_ENTRY {
            tracing::warn!(target: "cairn::sequencer::journal", len, "corrupt journal entry; ignoring the rest");
            break;
        }
        let mut raw = vec![0u8; len];
        if reader.read_exact(&mut raw).is_err() {
            break; // torn write at the tail
        }
        entries.push(raw);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_torn_tails_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pool.journal");
        let (mut j, entries) = Journal::open(&path).expect("open");
        assert!(entries.is_empty());
        j.append(b"one").expect("append");
        j.append(b"two").expect("append");
        drop(j);
        // A torn write: a length prefix promising more than is there.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open")
            .write_all(&[0, 0, 0, 9, 1])
            .expect("write");
        let (mut j, entries) = Journal::open(&path).expect("reopen");
        assert_eq!(entries, vec![b"one".to_vec(), b"two".to_vec()]);
        j.rewrite([&b"two"[..]].into_iter()).expect("rewrite");
        let (_, entries) = Journal::open(&path).expect("reopen");
        assert_eq!(entries, vec![b"two".to_vec()]);
    }
}
