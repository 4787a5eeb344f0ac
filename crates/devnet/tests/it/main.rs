//! Integration tests for the devnet chain core: maturity, double spends, RBF, CPFP,
//! taproot key- and script-path spends checked by libbitcoinconsensus, reorgs and restart.

mod client;
mod golden;
mod harness;
mod mempool;
mod reorg;
mod rpc;
mod rpc_errors;
mod taproot;
mod wallet;
