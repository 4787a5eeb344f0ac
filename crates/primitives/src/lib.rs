//! Cairn's shared vocabulary: the chain configuration, L2 blocks and transactions
//! as they are sealed and stored, receipts, and the BTC/wei unit rules.
//!
//! This crate owns types and their versioned encodings only. It does no I/O, runs
//! no EVM and knows nothing about Bitcoin RPC: every other crate depends on it, so
//! it must stay small and dependency-light.

mod block;
mod config;
mod deposit;
mod payout;
mod receipt;
pub mod rollup;
pub mod units;

pub use block::{
    Block, MAX_TX_SIZE, RecoveredTx, TxDecodeError, decode_raw_transaction, encode_envelope,
    header_template,
};
pub use config::{
    ChainSpec, ConfigError, DEFAULT_BASE_FEE_FLOOR, DEFAULT_BLOCK_GAS_LIMIT, GenesisAccount,
    WithdrawalSpec,
};
pub use deposit::{DEPOSIT_ENCODED_LEN, DEPOSIT_V1_ENCODED_LEN, Deposit, deposits_root};
pub use payout::{MAX_PAYOUT_ITEMS, OutPointKey, Payout};
pub use receipt::{Receipt, ReceiptDecodeError};
pub use rollup::{
    L1Network, L1Start, PegSpec, ROLLUP_CONFIG_VERSION, RecoverySpec, RollupConfig, SignerRotation,
};

/// Re-exported so downstream crates name one version of each.
pub use alloy_consensus::{Header, TxEnvelope};
pub use alloy_primitives::{Address, B256, Bloom, Bytes, Log, U256};
