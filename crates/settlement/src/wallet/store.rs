//! The wallet file: BDK's aggregate [`ChangeSet`] as JSON under a format version,
//! replaced atomically (temporary file, fsync, rename, fsync of the directory) on every
//! change.
//!
//! Why not `bdk_file_store`: it appends bincode records without an fsync, and a torn last
//! record is left for the caller to repair; a whole-file atomic replace is simpler to
//! reason about (the file is always the old or the new state) and costs little for a
//! wallet that changes a few times per block. The file holds public descriptors,
//! block hashes and the wallet's transactions: no key material.

use std::path::Path;

use bdk_wallet::ChangeSet;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// The file's name in the wallet's directory.
pub const FILE_NAME: &str = "batcher-wallet.json";

/// The format written today.
const VERSION: u8 = 1;

#[derive(Serialize)]
struct FileRef<'a> {
    version: u8,
    changeset: &'a ChangeSet,
}

#[derive(Deserialize)]
struct Header {
    version: u8,
}

#[derive(Deserialize)]
struct FileOwned {
    changeset: ChangeSet,
}

/// The changeset in `path`, or `None` if there is no file.
pub(crate) fn load(path: &Path) -> Result<Option<ChangeSet>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if header.version != VERSION {
        return Err(corrupt(format!(
            "format version {} is not {VERSION}, the one this build reads",
            header.version
        )));
    }
    let file: FileOwned = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some(file.changeset))
}

/// Replaces `path` with `changeset`: either the old or the new file survives a crash.
pub(crate) fn save(path: &Path, changeset: &ChangeSet) -> Result<()> {
    let bytes = serde_json::to_vec(&FileRef {
        version: VERSION,
        changeset,
    })
    .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    crate::fsutil::write_atomically(path, &bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bdk_wallet::chain::local_chain;
    use bitcoin::hashes::Hash;

    fn changeset() -> ChangeSet {
        let mut blocks = std::collections::BTreeMap::new();
        blocks.insert(0, Some(bitcoin::BlockHash::all_zeros()));
        blocks.insert(7, None);
        ChangeSet {
            network: Some(bitcoin::Network::Regtest),
            local_chain: local_chain::ChangeSet { blocks },
            ..ChangeSet::default()
        }
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        assert_eq!(load(&path).expect("load"), None);
        save(&path, &changeset()).expect("save");
        assert_eq!(load(&path).expect("load"), Some(changeset()));
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn corrupt_and_unknown_versions_are_clear_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(FILE_NAME);
        for (bytes, expected) in [
            (&b"{\"version\":1,\"changeset\":{\"netw"[..], "EOF"),
            (b"\x00\xff garbage", "expected value"),
            (b"{\"version\":2,\"changeset\":{}}", "format version 2"),
            (b"{\"version\":1}", "missing field `changeset`"),
            (
                b"{\"version\":1,\"changeset\":{\"network\":\"moon\"}}",
                "moon",
            ),
        ] {
            std::fs::write(&path, bytes).expect("write");
            let err = load(&path).expect_err("corrupt");
            let text = err.to_string();
            assert!(matches!(err, Error::Corrupt { .. }), "{text}");
            assert!(
                text.contains("is corrupt") && text.contains(expected),
                "{text}"
            );
        }
    }
}
