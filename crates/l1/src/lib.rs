//! The node's only way to Bitcoin: a typed client for Bitcoin Core's JSON-RPC dialect,
//! used against a real `bitcoind` and against Cairn's embedded devnet (which serves the
//! same dialect), and a [`BlockSource`] that follows the best chain through it.
//!
//! This crate owns the conversation with the Bitcoin node: HTTP and Basic auth (cookie
//! or user/password), timeouts, retries that never repeat a non-idempotent call, the
//! network check at connect time, decoding answers into rust-bitcoin types, and noticing
//! reorganisations. It must not interpret what it fetches (no batch decoding, no L2
//! state) and must not hold funds or keys: the wallet calls drive bitcoind's wallet.
//!
//! Layout: [`Config`] says how to reach the node; `transport` speaks JSON-RPC 1.0 over
//! HTTP with retries; [`Client`] has one typed method per bitcoind call, whose verbose
//! answers are the structs in [`types`]; [`BlockSource`] turns polling into
//! [`ChainUpdate`]s through the small [`ChainReader`] trait.

mod client;
mod config;
mod error;
mod source;
mod transport;
pub mod types;

pub use client::Client;
pub use config::{Auth, Config, RetryPolicy};
pub use error::{Error, Result, code};
pub use source::{BlockSource, BlockSourceConfig, ChainReader, ChainUpdate};
pub use transport::is_idempotent;
