//! The command line: one `Args` struct per subcommand.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{Address, address};
use clap::{Args, Parser, Subcommand};

use crate::LaunchConfig;
use crate::dev::{banner, dev_accounts, dev_spec};

/// Where fees go on a dev chain unless told otherwise (not a dev account, so
/// dev balances change only by what their own transactions cost).
pub const DEV_FEE_RECIPIENT: Address = address!("0x4200000000000000000000000000000000000011");

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: a Bitcoin Layer 2 with a fast EVM chain whose native currency is BTC"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter (also RUST_LOG), e.g. `info,cairn::rpc=debug`.
    #[arg(
        long,
        global = true,
        env = "RUST_LOG",
        default_value = "info,fjall=warn,lsm_tree=warn"
    )]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything locally in one process, with funded dev accounts.
    Dev(DevArgs),
    /// Measure sustained throughput and latency against an in-process node.
    Bench(crate::bench::BenchArgs),
}

/// Parse `250ms`, `2s`, or a bare number of seconds (Anvil's `--block-time`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(secs) = s.strip_suffix('s') {
        (secs, 1.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (try 250ms or 1s)"))?;
    if !value.is_finite() || value <= 0.0 || value * scale > 3600.0 {
        return Err(format!(
            "duration '{s}' must be positive and at most an hour"
        ));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Where chain data lives (kept across restarts).
    #[arg(long, env = "CAIRN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address the JSON-RPC server binds to.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub http_addr: IpAddr,
    /// JSON-RPC port (HTTP and WebSocket).
    #[arg(long, default_value_t = 8545)]
    pub http_port: u16,
    /// Time between blocks when transactions are waiting.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    pub block_time: Duration,
    /// Time between empty blocks when idle.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub empty_block_interval: Duration,
    /// EIP-155 chain id.
    #[arg(long, default_value_t = 31337)]
    pub chain_id: u64,
    /// RPC port of the embedded Bitcoin devnet (bitcoind's regtest default).
    #[arg(long, default_value_t = 18443)]
    pub l1_rpc_port: u16,
    /// How many dev accounts to fund and print.
    #[arg(long, default_value_t = 10)]
    pub accounts: u32,
    /// Balance of each dev account, in BTC.
    #[arg(long, default_value_t = 10_000)]
    pub balance: u64,
    /// Receives transaction fees.
    #[arg(long, default_value_t = DEV_FEE_RECIPIENT)]
    pub fee_recipient: Address,
    /// Block gas limit.
    #[arg(long, default_value_t = cairn_primitives::DEFAULT_BLOCK_GAS_LIMIT)]
    pub gas_limit: u64,
    /// Skip fsync on block commits (faster; a power loss may lose recent blocks,
    /// a process crash does not).
    #[arg(long)]
    pub no_fsync: bool,
}

impl DevArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_local_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("cairn")
                .join("dev")
        })
    }

    /// The node configuration and the banner to print.
    pub fn to_launch(&self) -> anyhow::Result<(LaunchConfig, String)> {
        let accounts = dev_accounts(self.accounts)?;
        let mut spec = dev_spec(self.chain_id, &accounts, self.balance);
        spec.block_gas_limit = self.gas_limit;
        spec.validate()?;
        let config = LaunchConfig {
            data_dir: self.data_dir(),
            spec,
            http_addr: SocketAddr::new(self.http_addr, self.http_port),
            block_time: self.block_time,
            empty_block_interval: self.empty_block_interval,
            fee_recipient: self.fee_recipient,
            sync_writes: !self.no_fsync,
            pool: Default::default(),
        };
        Ok((config, banner(&accounts, self.balance, self.chain_id)))
    }
}

/// `cairn dev`: run until Ctrl-C.
pub async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let (config, banner) = args.to_launch()?;
    let data_dir = config.data_dir.clone();
    let node = crate::launch(config).await?;
    println!("{banner}");
    println!("Data dir:          {}", data_dir.display());
    println!("Listening on {} (HTTP and WebSocket)\n", node.rpc_addr);
    tracing::warn!(
        target: "cairn::node",
        l1_rpc_port = args.l1_rpc_port,
        "the embedded Bitcoin devnet is not part of this build yet; --l1-rpc-port is reserved for it"
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!(target: "cairn::node", "shutting down");
    node.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_anvil_and_humans() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
