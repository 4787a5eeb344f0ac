//! The deposit address registry: `<data-dir>/peg/deposit-addresses.jsonl`, one line per
//! address handed out, appended and fsynced before `cairn_getDepositAddress` answers.
//!
//! **Format, version 1:** a first line `{"cairnDepositAddresses":1}`, then one JSON object
//! `{recipient, reclaimKey}` per line. Files written before the header existed (version 0)
//! are the same lines without it and are read as they are. A torn last line is an append
//! that crashed before its fsync: it was never answered, so it is skipped. Registrations
//! are never pruned: an address once handed out is watched for good.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const TARGET: &str = "cairn::peg";

/// The registry's file name in the peg directory.
pub const REGISTRY_FILE: &str = "deposit-addresses.jsonl";

/// The registry format this version writes.
pub const REGISTRY_VERSION: u32 = 1;

/// One registered deposit address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The L2 account it credits.
    pub recipient: Address,
    /// The depositor's reclaim key, if any.
    pub reclaim_key: Option<B256>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    cairn_deposit_addresses: u32,
}

/// The registry file.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
}

impl Registry {
    /// The registry in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(REGISTRY_FILE),
        }
    }

    /// Every registration in the file (none if there is no file yet). Refuses a file of a
    /// newer version than this one writes.
    pub fn load(&self) -> Result<Vec<Registration>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        let mut lines = text.lines().enumerate().peekable();
        if let Some((_, first)) = lines.peek()
            && let Ok(header) = serde_json::from_str::<Header>(first)
        {
            if header.cairn_deposit_addresses > REGISTRY_VERSION {
                return Err(Error::Format {
                    path: self.path.clone(),
                    reason: format!(
                        "version {} is newer than this node's {REGISTRY_VERSION}",
                        header.cairn_deposit_addresses
                    ),
                });
            }
            lines.next();
        }
        let mut registrations = Vec::new();
        for (i, line) in lines {
            match serde_json::from_str::<Registration>(line) {
                Ok(registration) => registrations.push(registration),
                Err(_) => {
                    tracing::warn!(target: TARGET, line = i + 1, path = %self.path.display(), "ignoring an unreadable deposit address registration");
                }
            }
        }
        Ok(registrations)
    }

    /// Appends `registration` and fsyncs (a new file starts with the version header).
    pub fn append(&self, registration: &Registration) -> Result<()> {
        let io = |e| Error::io("append to", &self.path, e);
        let mut bytes = Vec::new();
        let fresh = !self.path.exists();
        if fresh {
            serde_json::to_writer(
                &mut bytes,
                &Header {
                    cairn_deposit_addresses: REGISTRY_VERSION,
                },
            )
            .map_err(|e| io(std::io::Error::other(e)))?;
            bytes.push(b'\n');
        }
        serde_json::to_writer(&mut bytes, registration)
            .map_err(|e| io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_data().map_err(io)
    }
}
