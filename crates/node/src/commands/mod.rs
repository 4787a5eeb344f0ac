//! The `cairn` command line: [`Cli`] and its [`Command`]s, the option groups several
//! subcommands share, and their parsers. Each subcommand's own options and its `run` live
//! in the module of its name; they turn options into the plain configurations of the
//! rest of the crate ([`crate::LaunchConfig`], [`crate::rollup::InitOptions`]), which
//! never see clap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::Address;
use clap::{Args, Parser, Subcommand};

use crate::dev::{DEV_FEE_RECIPIENT, banner, dev_accounts, dev_spec};
use crate::{L1Config, LaunchConfig};

pub mod deposit;
pub mod dev;
pub mod force_send;
pub mod init;
pub mod node;
pub mod signer;
pub mod withdraw;

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
    /// Run everything locally in one process: the embedded Bitcoin devnet and the L2 chain
    /// on it, with funded dev accounts.
    Dev(dev::DevArgs),
    /// Run the L2 node against an external `bitcoind`.
    Node(node::NodeArgs),
    /// Create a new network on a `bitcoind`: `rollup.json` and the sequencer key.
    Init(init::InitArgs),
    /// Get an L2 account's Bitcoin deposit address, and optionally pay it from a
    /// bitcoind wallet.
    Deposit(deposit::DepositArgs),
    /// Burn BTC on L2 to have the federation pay it to a Bitcoin address.
    Withdraw(withdraw::WithdrawArgs),
    /// Post a signed L2 transaction to Bitcoin in a forced-transaction envelope, paid by
    /// a bitcoind wallet: it reaches the chain without the sequencer.
    ForceSend(force_send::ForceSendArgs),
    /// Run a peg signer: a node that derives the network from `bitcoind` itself and signs
    /// the coordinator's payouts only when its own state justifies them
    /// (`cairn_signPayout`). Give the sequencer its URL with `--signer-url`.
    Signer(signer::SignerArgs),
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

/// The L2 chain's options, shared by `cairn dev` and `cairn node`.
#[derive(Debug, Clone, Args)]
pub struct L2Args {
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

impl L2Args {
    /// The data dir, defaulting to `<local data dir>/cairn/<name>`.
    pub fn data_dir_or(&self, name: &str) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_local_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("cairn")
                .join(name)
        })
    }

    /// The node configuration (without L1) and the accounts banner.
    pub fn to_launch(&self, data_dir: PathBuf) -> anyhow::Result<(LaunchConfig, String)> {
        let accounts = dev_accounts(self.accounts)?;
        let mut spec = dev_spec(self.chain_id, &accounts, self.balance);
        spec.block_gas_limit = self.gas_limit;
        spec.validate()?;
        let config = LaunchConfig {
            data_dir,
            spec,
            http_addr: SocketAddr::new(self.http_addr, self.http_port),
            block_time: self.block_time,
            empty_block_interval: self.empty_block_interval,
            fee_recipient: self.fee_recipient,
            sync_writes: !self.no_fsync,
            pool: Default::default(),
            l1: None,
            settlement: None,
            peg: Default::default(),
            dev: None,
        };
        Ok((config, banner(&accounts, self.balance, self.chain_id)))
    }
}

/// A duration that may be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalDuration(pub Option<Duration>);

/// `parse_duration`, plus `0`/`off` for none.
pub fn parse_optional_duration(s: &str) -> Result<OptionalDuration, String> {
    match s.trim() {
        "0" | "off" | "none" => Ok(OptionalDuration(None)),
        other => parse_duration(other).map(|d| OptionalDuration(Some(d))),
    }
}

/// How to reach a `bitcoind` (shared by `cairn node` and `cairn init`).
#[derive(Debug, Clone, Args)]
pub struct L1RpcArgs {
    /// bitcoind's JSON-RPC URL, e.g. `http://127.0.0.1:8332`.
    #[arg(long)]
    pub l1_rpc_url: String,
    /// bitcoind's cookie file (e.g. `~/.bitcoin/regtest/.cookie`); re-read when bitcoind
    /// restarts.
    #[arg(long, conflicts_with_all = ["l1_rpc_user", "l1_rpc_password"])]
    pub l1_rpc_cookie: Option<PathBuf>,
    /// bitcoind's `-rpcuser` (with `--l1-rpc-password`), instead of the cookie.
    #[arg(long, requires = "l1_rpc_password")]
    pub l1_rpc_user: Option<String>,
    /// bitcoind's `-rpcpassword`.
    #[arg(long, env = "CAIRN_L1_RPC_PASSWORD", requires = "l1_rpc_user")]
    pub l1_rpc_password: Option<String>,
    /// The Bitcoin network: `regtest`, `signet`, `testnet`, `testnet4` or `mainnet`. A
    /// bitcoind on another network is refused.
    #[arg(long, default_value = "regtest", value_parser = parse_network)]
    pub l1_network: bitcoin::Network,
}

impl L1RpcArgs {
    /// How to reach bitcoind.
    pub fn l1_config(&self) -> anyhow::Result<L1Config> {
        let auth = match (
            &self.l1_rpc_cookie,
            &self.l1_rpc_user,
            &self.l1_rpc_password,
        ) {
            (Some(path), _, _) => cairn_l1::Auth::CookieFile(path.clone()),
            (None, Some(user), Some(password)) => cairn_l1::Auth::UserPass {
                user: user.clone(),
                password: password.clone(),
            },
            _ => anyhow::bail!(
                "bitcoind needs credentials: pass --l1-rpc-cookie PATH, or --l1-rpc-user and --l1-rpc-password"
            ),
        };
        Ok(L1Config {
            rpc: cairn_l1::Config::new(self.l1_rpc_url.clone(), auth),
            network: self.l1_network,
            poll_interval: Duration::from_secs(1),
        })
    }
}

/// How the sequencer's batcher pays for and sizes its batches.
#[derive(Debug, Clone, Args)]
pub struct BatcherArgs {
    /// Never pay more than this fee rate (sat/vB) for batches, whatever bitcoind
    /// estimates.
    #[arg(long, default_value_t = 100)]
    pub batcher_max_fee_rate: u32,
    /// Fee rate (sat/vB) while bitcoind has no estimate (`estimatesmartfee` without data).
    #[arg(long, default_value_t = 2)]
    pub batcher_fallback_fee_rate: u32,
    /// Post a batch before the next Bitcoin block once this many bytes of L2
    /// transactions wait.
    #[arg(long, default_value_t = 300_000)]
    pub batch_size_threshold: usize,
}

impl BatcherArgs {
    /// The batcher's configuration.
    pub fn config(&self) -> anyhow::Result<cairn_settlement::batcher::BatcherConfig> {
        anyhow::ensure!(
            self.batcher_fallback_fee_rate <= self.batcher_max_fee_rate,
            "--batcher-fallback-fee-rate {} is above --batcher-max-fee-rate {}",
            self.batcher_fallback_fee_rate,
            self.batcher_max_fee_rate
        );
        anyhow::ensure!(
            self.batcher_fallback_fee_rate >= 1,
            "--batcher-fallback-fee-rate must be at least 1 sat/vB (the minimum relay fee)"
        );
        Ok(cairn_settlement::batcher::BatcherConfig {
            max_fee_rate: bitcoin::FeeRate::from_sat_per_vb_u32(self.batcher_max_fee_rate),
            fallback_fee_rate: bitcoin::FeeRate::from_sat_per_vb_u32(
                self.batcher_fallback_fee_rate,
            ),
            size_threshold: self.batch_size_threshold,
            ..Default::default()
        })
    }
}

/// The peg's federation for `cairn init` (without `--peg-signers` the network has no
/// peg).
#[derive(Debug, Clone, Args)]
pub struct PegArgs {
    /// The signers' BIP340 x-only public keys (hex), comma-separated, in leaf order.
    #[arg(long, value_delimiter = ',', requires_all = ["peg_threshold", "peg_recovery_keys", "peg_recovery_threshold"])]
    pub peg_signers: Vec<String>,
    /// Signatures needed to move peg coins (M of the N signers).
    #[arg(long)]
    pub peg_threshold: Option<u8>,
    /// The recovery set's x-only public keys (hex), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub peg_recovery_keys: Vec<String>,
    /// Signatures the recovery set needs.
    #[arg(long)]
    pub peg_recovery_threshold: Option<u8>,
    /// Blocks before the recovery set may move peg coins (default ~90 days).
    #[arg(long, default_value_t = 12_960)]
    pub peg_recovery_delay: u16,
    /// Blocks before a depositor may reclaim an uncredited deposit (default ~30 days).
    #[arg(long, default_value_t = 4_320)]
    pub peg_reclaim_delay: u16,
    /// Confirmations before a deposit is credited (default: 6 on mainnet, 3 on test
    /// networks, 1 on regtest).
    #[arg(long)]
    pub deposit_confirmations: Option<u32>,
    /// Smallest deposit credited, in satoshis.
    #[arg(long, default_value_t = 10_000)]
    pub min_deposit_sat: u64,
    /// Smallest withdrawal, in satoshis.
    #[arg(long, default_value_t = 10_000)]
    pub min_withdrawal_sat: u64,
}

impl PegArgs {
    /// The `peg` section, if signers were given.
    pub fn spec(&self, network: bitcoin::Network) -> Option<cairn_primitives::PegSpec> {
        if self.peg_signers.is_empty() {
            return None;
        }
        let confirmations = self.deposit_confirmations.unwrap_or(match network {
            bitcoin::Network::Bitcoin => 6,
            bitcoin::Network::Regtest => 1,
            _ => 3,
        });
        Some(cairn_primitives::PegSpec {
            signers: self.peg_signers.clone(),
            threshold: self.peg_threshold.unwrap_or_default(),
            recovery: cairn_primitives::RecoverySpec {
                keys: self.peg_recovery_keys.clone(),
                threshold: self.peg_recovery_threshold.unwrap_or_default(),
                delay: self.peg_recovery_delay,
            },
            reclaim_delay: self.peg_reclaim_delay,
            deposit_confirmations: confirmations,
            min_deposit_sat: self.min_deposit_sat,
            rotations: Vec::new(),
        })
    }
}

/// `0.5` (BTC, up to 8 decimals) as an amount.
pub fn parse_btc(s: &str) -> Result<bitcoin::Amount, String> {
    bitcoin::Amount::from_str_in(s.trim(), bitcoin::Denomination::Bitcoin)
        .map_err(|e| format!("invalid amount '{s}' in BTC: {e}"))
}

/// Parses a Bitcoin network name as bitcoind's `-chain=` and rust-bitcoin spell them.
pub fn parse_network(s: &str) -> Result<bitcoin::Network, String> {
    use bitcoin::Network;
    match s {
        "main" | "mainnet" | "bitcoin" => Ok(Network::Bitcoin),
        "test" | "testnet" | "testnet3" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(format!(
            "unknown network '{other}' (regtest, signet, testnet, testnet4 or mainnet)"
        )),
    }
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
