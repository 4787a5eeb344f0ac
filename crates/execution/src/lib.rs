//! Running L2 transactions with revm: the state view revm reads through, block
//! building (transactions from the mempool and system transactions such as
//! deposit mints), `eth_call`/`eth_estimateGas`, and the EIP-1559 fee rules.
//!
//! Execution is deterministic: the same parent state and transactions give the
//! same block. This crate does no I/O beyond reading the storage handle and
//! must not persist anything: the caller commits what a builder returns.

mod builder;
mod call;
mod db;
mod env;
pub mod fees;
mod import;
mod intrinsic;
pub mod l1fee;
mod replay;
pub mod simulate;
pub mod withdraw;

pub use builder::{
    BlockBuilder, BuiltBlock, InspectContext, Inspected, SkippedTx, SystemTx, invalid_tx_message,
};
pub use call::{CallError, CallOutcome, CallRequest, Caller, RPC_GAS_CAP};
pub use db::StateDb;
pub use env::{EVM_SPEC, tx_env};
pub use import::{BlockInput, ImportError, execute_input};
pub use intrinsic::intrinsic_gas;
pub use l1fee::L1FeeRate;
pub use replay::Replay;

/// Errors from execution.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error(transparent)]
    Storage(#[from] cairn_storage::StorageError),
    #[error("evm: {0}")]
    Evm(String),
}

impl revm::database_interface::DBErrorMarker for ExecutionError {}

pub type Result<T, E = ExecutionError> = std::result::Result<T, E>;
