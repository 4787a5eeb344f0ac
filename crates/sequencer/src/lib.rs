//! The sequencer: the mempool (geth's rules: per-sender nonce order, pending and
//! queued transactions, 10% replacement bump, limits, a crash-safe journal) and
//! the block producer that seals a block every block time when there is work,
//! and an empty one now and then when idle.
//!
//! It must not know about RPC or Bitcoin: the RPC submits through [`Pool`] and
//! reads blocks from storage; later the batcher reads sealed blocks from storage.

pub mod dev;
mod journal;
mod pool;
mod producer;

pub use dev::DevChain;
pub use pool::{Pool, PoolConfig, PoolError, PoolStatus};
pub use producer::{ChainSnapshot, Producer, ProducerConfig, RevertError};

/// Errors of the sequencer.
#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error(transparent)]
    Storage(#[from] cairn_storage::StorageError),
    #[error(transparent)]
    Execution(#[from] cairn_execution::ExecutionError),
    #[error("mempool journal: {0}")]
    Journal(#[from] std::io::Error),
}

pub type Result<T, E = SequencerError> = std::result::Result<T, E>;
