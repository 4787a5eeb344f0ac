//! The embedded Bitcoin regtest devnet's chain core: an in-process chain built on
//! rust-bitcoin whose acceptance rules follow Bitcoin Core's (scripts are verified by
//! Core's own interpreter, libbitcoinconsensus 26), with a UTXO set, undo data, chain
//! selection by most work, `invalidateblock`/`reconsiderblock`, a fee-rate mempool with
//! replacement and CPFP selection, mining, and persistence in a data dir.
//!
//! It owns the regtest chain only. It must not talk to the network or to the L2 node:
//! the RPC server and the wallet are layered on top, and the node reaches the devnet
//! only through the bitcoind RPC dialect.
//!
//! Layout: [`validation`] and [`policy`] are pure rule functions; [`Chain`] is the
//! deterministic state machine (block index, UTXO set, mempool; submodules for mempool
//! admission, block checks and mining) that never touches the disk or the clock;
//! [`store`] is the on-disk format; [`Devnet`] joins the chain to its data dir and clock.
//! On top: [`wallet`] (the built-in BIP86 wallet), [`json`] (bitcoind's JSON renderings),
//! [`rpc`] (the bitcoind-compatible JSON-RPC server) and [`server`] (the running devnet:
//! cookie, RPC, interval miner), which is what `cairn dev` starts.

pub mod chain;
mod devnet;
pub mod error;
pub mod json;
pub mod mempool;
pub mod params;
pub mod policy;
pub mod rpc;
pub mod server;
pub mod state;
pub mod store;
pub mod validation;
pub mod wallet;

pub use chain::{Accepted, BlockEntry, Chain};
pub use devnet::Devnet;
pub use error::{Error, Reject, RejectKind, Result};
pub use mempool::{Mempool, MempoolEntry};
pub use server::{DevnetConfig, DevnetServer};
pub use state::{StartError, State};
pub use validation::Coin;
