//! The wallet's errors. Messages name amounts, heights and hashes, never key material.

use std::path::PathBuf;

use bitcoin::{Amount, BlockHash, Txid};

/// The wallet's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the wallet file (or its directory) failed.
    #[error("batcher wallet file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The wallet file exists but cannot be used: not JSON, an unknown format version, or
    /// contents BDK refuses to load.
    #[error("batcher wallet file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The wallet file was written for another key or another network.
    #[error("batcher wallet file {path} does not belong to this key and network: {reason}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Which of network, genesis block or descriptor differs.
        reason: String,
    },
    /// The descriptors could not be built from the seed.
    #[error("batcher wallet keys: {0}")]
    Keys(String),
    /// A chain update does not fit the wallet's chain: a disconnected block it does not
    /// have, or a connected block whose parent is not its tip.
    #[error("chain update does not fit the batcher wallet's chain: {0}")]
    Inconsistent(String),
    /// The wallet's coins do not cover the outputs and the fee.
    #[error("insufficient funds in the batcher wallet: {needed} needed, {available} available")]
    InsufficientFunds {
        /// Outputs plus fee.
        needed: Amount,
        /// What the spendable coins add up to.
        available: Amount,
    },
    /// The transaction could not be built (dust output, no outputs, fee too low, ...).
    #[error("building the transaction: {0}")]
    Build(String),
    /// The transaction to bump is not the wallet's, is confirmed or is not replaceable.
    #[error("fee bump of {txid}: {reason}")]
    FeeBump {
        /// The transaction to replace.
        txid: Txid,
        /// Why it cannot be replaced.
        reason: String,
    },
    /// The wallet does not know this transaction.
    #[error("transaction {0} is not in the batcher wallet")]
    UnknownTransaction(Txid),
    /// Signing or finalizing an input failed.
    #[error("signing: {0}")]
    Sign(String),
    /// The fee of a transaction cannot be computed (an input the wallet does not know).
    #[error("fee of {txid}: {reason}")]
    Fee {
        /// The transaction.
        txid: Txid,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn does_not_connect(
        height: u32,
        hash: BlockHash,
        parent: BlockHash,
        tip: (u32, BlockHash),
    ) -> Self {
        Self::Inconsistent(format!(
            "block {hash} at height {height} has parent {parent}, which is not the wallet's \
             block at height {}; the wallet's tip is {} at height {}",
            height.saturating_sub(1),
            tip.1,
            tip.0
        ))
    }
}
