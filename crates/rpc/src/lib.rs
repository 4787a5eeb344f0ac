//! Cairn's Ethereum JSON-RPC: geth-compatible `eth_`, `net_`, `web3_` and
//! `txpool_` methods over HTTP and WebSocket on one port, with filters,
//! subscriptions and batch requests, and geth's error codes and messages.
//!
//! The RPC reads from storage and submits to the mempool; it must never write
//! state itself or block the async runtime with execution (calls, estimates and
//! log queries run on blocking threads).

pub mod api;
pub mod cairn;
mod context;
mod convert;
pub mod debug;
pub mod dev;
mod error;
mod filter_store;
mod filters;
pub mod ots;
pub mod peg;
mod pubsub;
mod server;
pub mod simulate;
pub mod small;
pub mod trace;

pub use api::{EthApiClient, EthApiServer};
pub use cairn::{
    ActiveSequencer, BatchInfo, ForcedInfo, SettlementApiClient, SettlementApiServer,
    SettlementInfo, SettlementSource,
};
pub use context::RpcContext;
pub use error::RpcError;
pub use peg::{
    DepositAddressInfo, DepositInfo, PegApiClient, PegApiServer, PegCoins, PegServiceError,
    PegSource, SupplyView, WithdrawalView,
};
pub use server::{RpcConfig, start};
pub use small::{NetApiClient, TxpoolApiClient, Web3ApiClient};
