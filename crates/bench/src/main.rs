//! `cairn-bench`: sustained end-to-end throughput and latency of an in-process
//! node, the way a wallet or exchange would load it
//! (`cargo run --release -p cairn-bench -- [flags]`).
//!
//! Each run starts a fresh node (chain id 31337, persistent storage in a fresh
//! directory, fsync every block unless `--no-fsync`, state root every block)
//! whose genesis funds `--accounts` bench accounts with deterministic keys. All
//! transactions are signed offline, in parallel, before anything is measured;
//! they are then submitted as `eth_sendRawTransaction` JSON-RPC batches over
//! several HTTP connections, either as fast as the node accepts them or at a
//! fixed rate. Inclusion is observed through the producer's sealed-block feed:
//! a transaction's latency is from the moment its batch was sent to the moment
//! the block holding it was committed, which is when its receipt becomes
//! readable over RPC.
//!
//! For ERC-20 transfers the bench token is deployed by a transaction and its
//! supply distributed to every bench account by `transfer` calls (not
//! measured) before the measured transfers between bench accounts.
//!
//! This crate only measures: it launches `cairn-node` as any embedder would and
//! loads it through JSON-RPC; it must not contain node logic of its own, nor
//! be a dependency of any other crate.

mod args;
mod erc20;
mod load;
mod report;
mod run;
mod sign;
mod token;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_target(true)
        .init();
    run::run(cli.bench).await
}
