//! The command line: what to load the node with, and how.

use std::path::PathBuf;
use std::time::Duration;

use cairn_node::commands::parse_duration;
use clap::{Args, Parser, ValueEnum};

/// Measure sustained throughput and latency against an in-process node.
#[derive(Debug, Parser)]
#[command(name = "cairn-bench", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) bench: BenchArgs,
    /// Log filter (also RUST_LOG), e.g. `info,cairn::rpc=debug`.
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = "info,fjall=warn,lsm_tree=warn"
    )]
    pub(crate) log: String,
}

/// What to transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchKind {
    /// Plain ETH (BTC) transfers, 21,000 gas each.
    Eth,
    /// ERC-20 `transfer` calls on a freshly deployed token.
    Erc20,
    /// ETH, then ERC-20.
    Both,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// What to transfer.
    #[arg(long, value_enum, default_value_t = BenchKind::Both)]
    pub(crate) kind: BenchKind,
    /// Bench accounts funded at genesis; each sends and receives transfers.
    #[arg(long, default_value_t = 2000)]
    pub(crate) accounts: usize,
    /// Measured transactions per run.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) txs: usize,
    /// Submission rate in transactions per second; 0 = as fast as the node
    /// accepts them, followed by a second run at half the throughput measured.
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    /// The node's block time.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    pub(crate) block_time: Duration,
    /// Transactions per JSON-RPC batch request.
    #[arg(long, default_value_t = 200)]
    pub(crate) batch: usize,
    /// Concurrent HTTP connections submitting batches.
    #[arg(long, default_value_t = 4)]
    pub(crate) connections: usize,
    /// Where the nodes keep their data (one fresh subdirectory per run, kept);
    /// by default a temporary directory deleted afterwards.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Skip fsync on block commits (by default every block is fsynced, as a
    /// real node does).
    #[arg(long)]
    pub(crate) no_fsync: bool,
    /// Max fee per gas of every transaction, as a multiple of the base-fee
    /// floor (the tip is a tenth of the floor). Loads above the EIP-1559 gas
    /// target raise the base fee by up to 12.5% a block; transactions whose
    /// cap it overtakes are refused, as on any EIP-1559 chain.
    #[arg(long, default_value_t = 1000)]
    pub(crate) fee_cap: u64,
    /// Charge the L1 data fee at this Bitcoin fee rate (sat/vB; 0: none), as a sequencer
    /// whose batcher reads that rate does. Transactions reserve the L1 gas in their limit.
    #[arg(long, default_value_t = 0)]
    pub(crate) l1_fee_rate: u64,
    /// Print the results as JSON (after the table).
    #[arg(long)]
    pub(crate) json: bool,
}
