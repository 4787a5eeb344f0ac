//! The bridge's errors.

use std::path::PathBuf;

use alloy_primitives::B256;
use bitcoin::OutPoint;
use bitcoin::secp256k1::XOnlyPublicKey;

/// What can go wrong in the peg's runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reclaim key that is not a BIP340 x-only public key.
    #[error("reclaim key {0} is not a valid BIP340 x-only public key")]
    InvalidReclaimKey(B256),
    /// A signer set the network does not have.
    #[error("there is no signer set {0}")]
    UnknownSignerSet(u16),
    /// A key that is none of the federation's.
    #[error("signer key {0} is not one of the federation's signers in rollup.json")]
    NotASigner(XOnlyPublicKey),
    /// A coin the ledger does not hold.
    #[error("input {0} is not a peg coin")]
    NotAPegCoin(OutPoint),
    /// A signer refuses a proposal (the reason is the policy's, for the coordinator's log).
    #[error("refused: {0}")]
    Refused(String),
    /// A proposal that does not decode.
    #[error("invalid proposal: {0}")]
    InvalidProposal(String),
    /// The coordinator's persisted state is inconsistent.
    #[error("payout state: {0}")]
    State(&'static str),
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are not what this version writes.
    #[error("cannot read {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The peg's scripts or configuration.
    #[error(transparent)]
    Peg(#[from] cairn_peg::Error),
    /// Building a payout.
    #[error(transparent)]
    Policy(#[from] cairn_peg::policy::PolicyError),
    /// This node's database.
    #[error(transparent)]
    Storage(#[from] cairn_storage::StorageError),
    /// The Bitcoin node.
    #[error(transparent)]
    L1(#[from] cairn_l1::Error),
    /// A Bitcoin transaction that does not decode.
    #[error("undecodable transaction: {0}")]
    Decode(#[from] bitcoin::consensus::encode::FromHexError),
}

impl Error {
    /// An I/O error on `path`.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// The bridge's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for cairn_rpc::PegServiceError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidReclaimKey(_) | Error::UnknownSignerSet(_) => {
                Self::InvalidParams(e.to_string())
            }
            other => Self::Unavailable(other.to_string()),
        }
    }
}
