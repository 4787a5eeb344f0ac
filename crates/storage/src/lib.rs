//! Cairn's storage: the embedded database (fjall) that keeps L2 blocks, receipts,
//! the transaction index and the flat state; the in-memory view of the latest
//! state with a short window of history; and the state commitment (Merkle
//! Patricia tries, updated incrementally per block).
//!
//! Every block is one atomic write batch (block, receipts, index entries, state
//! changes and the head pointer together), so a crash at any moment leaves the
//! database at the last committed block. At start-up the flat state is loaded,
//! the tries are rebuilt and their root is checked against the head header.
//!
//! This crate must not execute transactions or know about the mempool, RPC or
//! Bitcoin: it stores what it is given and answers reads.

mod commitment;
mod db;
mod history;
mod state;
mod store;

pub use commitment::{AccountProof, Commitment, ProvenAccount};
pub use history::Direction;
pub use state::{Account, ChangeSet, FlatState, StateChanges};
pub use store::{BlockWithReceipts, Finality, StateView, Storage, StorageOptions};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Db(#[from] fjall::Error),
    #[error("corrupt database entry in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("database belongs to another chain: {0}")]
    WrongChain(String),
    #[error(
        "state root mismatch at block {block}: header says {expected}, rebuilt state gives {actual}"
    )]
    RootMismatch {
        block: u64,
        expected: alloy_primitives::B256,
        actual: alloy_primitives::B256,
    },
    #[error(
        "historical state unavailable for block {requested}: this node keeps the last {kept} blocks"
    )]
    HistoryUnavailable { requested: u64, kept: u64 },
    #[error("block {0} not found")]
    BlockNotFound(u64),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
