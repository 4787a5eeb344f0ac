//! The command line: one `Args` struct per subcommand.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{Address, address};
use clap::{Args, Parser, Subcommand};

use anyhow::Context as _;

use crate::dev::{banner, dev_accounts, dev_spec};
use crate::settle::SettlementConfig;
use crate::{L1Config, LaunchConfig};

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
    /// Run everything locally in one process: the embedded Bitcoin devnet and the L2 chain
    /// on it, with funded dev accounts.
    Dev(DevArgs),
    /// Run the L2 node against an external `bitcoind`.
    Node(NodeArgs),
    /// Create a new network on a `bitcoind`: `rollup.json` and the sequencer key.
    Init(InitArgs),
    /// Get an L2 account's Bitcoin deposit address, and optionally pay it from a
    /// bitcoind wallet.
    Deposit(crate::deposit::DepositArgs),
    /// Burn BTC on L2 to have the federation pay it to a Bitcoin address.
    Withdraw(crate::withdraw::WithdrawArgs),
    /// Run a peg signer: a node that derives the network from `bitcoind` itself and signs
    /// the coordinator's payouts only when its own state justifies them
    /// (`cairn_signPayout`). Give the sequencer its URL with `--signer-url`.
    Signer(SignerArgs),
}

/// `cairn signer`'s options: a following node plus the signer's key.
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The signer's secret key file (hex, as `cairn init` and `cairn dev` write them):
    /// one of the federation's keys in `rollup.json`.
    #[arg(long)]
    pub key: PathBuf,
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
        };
        Ok((config, banner(&accounts, self.balance, self.chain_id)))
    }
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub l2: L2Args,
    /// RPC port of the embedded Bitcoin devnet (bitcoind's regtest default).
    #[arg(long, default_value_t = 18443)]
    pub l1_rpc_port: u16,
    /// The devnet mines a block this often (`0` or `off`: only on demand, through
    /// `generatetoaddress`/`generateblock`).
    #[arg(long, default_value = "10s", value_parser = parse_optional_duration)]
    pub l1_block_time: OptionalDuration,
    /// Also accept this RPC user on the devnet (besides `<data-dir>/bitcoin/.cookie`).
    #[arg(long, requires = "l1_rpc_password")]
    pub l1_rpc_user: Option<String>,
    /// The password of `--l1-rpc-user`.
    #[arg(long, requires = "l1_rpc_user")]
    pub l1_rpc_password: Option<String>,
    #[command(flatten)]
    pub batcher: BatcherArgs,
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

/// `cairn node`'s options: the L2 chain plus the `bitcoind` it settles on.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub l2: L2Args,
    #[command(flatten)]
    pub l1: L1RpcArgs,
    /// The network's `rollup.json` (chain parameters, sequencer key, Bitcoin network and
    /// start height). Alone: follow that network, deriving its chain from Bitcoin.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The sequencer's key file (from `cairn init`): run the network's sequencer, which
    /// produces blocks and posts them to Bitcoin. Needs `--config`.
    #[arg(long, requires = "config")]
    pub sequencer_key: Option<PathBuf>,
    /// A `cairn signer`'s JSON-RPC URL (repeat for each): the sequencer coordinates payouts
    /// of finalized withdrawals with these signers.
    #[arg(long = "signer-url", requires = "sequencer_key")]
    pub signer_urls: Vec<String>,
    /// Highest fee rate (sat/vB) a payout may pay: the coordinator never proposes more and
    /// a signer never signs more.
    #[arg(long, default_value_t = crate::payout::DEFAULT_MAX_FEE_RATE)]
    pub peg_max_fee_rate: u64,
    #[command(flatten)]
    pub batcher: BatcherArgs,
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

/// `cairn init`'s options: a new network on a given `bitcoind`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub l1: L1RpcArgs,
    /// Where to write `rollup.json` and `sequencer.key`.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// EIP-155 chain id of the new network.
    #[arg(long)]
    pub chain_id: u64,
    /// Block gas limit.
    #[arg(long, default_value_t = cairn_primitives::DEFAULT_BLOCK_GAS_LIMIT)]
    pub gas_limit: u64,
    /// Bitcoin confirmations that make a batch final (default: 6 on mainnet, 3 on test
    /// networks, 2 on regtest).
    #[arg(long)]
    pub finality_depth: Option<u32>,
    #[command(flatten)]
    pub peg: PegArgs,
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

/// `cairn dev`: the embedded Bitcoin devnet and the L2 node on it, until Ctrl-C.
pub async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = args.l2.data_dir_or("dev");
    let devnet = cairn_devnet::DevnetServer::start(cairn_devnet::DevnetConfig {
        data_dir: data_dir.join("bitcoin"),
        rpc_addr: SocketAddr::new(args.l2.http_addr, args.l1_rpc_port),
        rpc_user: args.l1_rpc_user.clone().zip(args.l1_rpc_password.clone()),
        block_time: args.l1_block_time.0,
        initial_blocks: 101,
    })
    .await
    .with_context(|| {
        format!(
            "cannot start the Bitcoin devnet on port {}",
            args.l1_rpc_port
        )
    })?;
    let (mut config, banner) = args.l2.to_launch(data_dir.clone())?;
    // The node reaches the devnet exactly as it reaches bitcoind: over RPC, with the cookie.
    let l1 = L1Config {
        rpc: cairn_l1::Config::new(
            devnet.rpc_url(),
            cairn_l1::Auth::CookieFile(devnet.cookie_path().to_owned()),
        ),
        network: bitcoin::Network::Regtest,
        poll_interval: Duration::from_millis(500),
    };
    // The network's identity: rollup.json and the sequencer key, made on first start.
    let client = cairn_l1::Client::connect(&l1.rpc, l1.network).await?;
    let depth = cairn_primitives::L1Network::Regtest.default_finality_depth();
    // `cairn dev` always has a peg, so its chain has the withdrawal contract.
    config.spec.withdrawals = Some(cairn_primitives::WithdrawalSpec {
        network: cairn_primitives::L1Network::Regtest,
        min_sat: crate::rollup::DEV_MIN_WITHDRAWAL_SAT,
    });
    let (rollup, sequencer) =
        crate::rollup::dev_network(&data_dir, &config.spec, &client, depth).await?;
    config.l1 = Some(l1);
    // The dev federation's signers run in this process, on the sequencer's own state.
    config.peg.local_signers = crate::rollup::load_dev_signers(&data_dir)?;
    // The devnet's own wallet pays the batcher: 10 BTC whenever it runs below half.
    config.settlement = Some(SettlementConfig {
        rollup: rollup.clone(),
        sequencer: Some(sequencer),
        batcher: args.batcher.config()?,
        dev_funding: Some(bitcoin::Amount::from_int_btc(10)),
    });
    let node = crate::launch(config).await?;
    println!("{banner}");
    println!(
        "Network config:    {} (sequencer {}, L1 start height {})",
        data_dir.join(crate::rollup::ROLLUP_FILE).display(),
        rollup.sequencer_key,
        rollup.l1.height
    );
    println!("{}", devnet_banner(&devnet, &args, node.l1.as_ref()).await);
    print_batcher(&node);
    if let Some(peg) = &rollup.peg {
        println!(
            "Peg:               {}-of-{} federation (its signers run in this process), keys in {} (cairn_getBridgeInfo)",
            peg.threshold,
            peg.signers.len(),
            data_dir.join(crate::rollup::PEG_KEYS_DIR).display()
        );
        println!(
            "Deposit:           cairn deposit --rpc-url http://{} --to <L2 address> --amount 1 --l1-rpc-url {} --l1-rpc-cookie {}",
            node.rpc_addr,
            devnet.rpc_url(),
            devnet.cookie_path().display()
        );
        println!(
            "Withdraw:          cairn withdraw --rpc-url http://{} --private-key <dev key> --to <bcrt1 address> --amount 0.1 (paid on Bitcoin once final)",
            node.rpc_addr
        );
    }
    println!("Data dir:          {}", data_dir.display());
    println!("Listening on {} (HTTP and WebSocket)\n", node.rpc_addr);
    tokio::signal::ctrl_c().await?;
    tracing::info!(target: "cairn::node", "shutting down");
    node.shutdown().await;
    devnet.stop().await;
    Ok(())
}

/// How to reach the devnet, printed at start.
async fn devnet_banner(
    devnet: &cairn_devnet::DevnetServer,
    args: &DevArgs,
    l1: Option<&crate::L1>,
) -> String {
    let (height, balance) = match l1 {
        Some(l1) => (
            l1.client().get_block_count().await.ok(),
            l1.client().get_balance().await.ok(),
        ),
        None => (None, None),
    };
    let mining = match args.l1_block_time.0 {
        Some(d) => format!("a block every {d:?}"),
        None => "on demand only".to_owned(),
    };
    format!(
        "\nBitcoin devnet (regtest)\n==================\n\nRPC:               {} (bitcoind's dialect)\nCookie:            {}\nHeight:            {}\nWallet balance:    {} (BIP86 taproot wallet \"cairn\")\nMining:            {mining}\nTry:               bitcoin-cli -regtest -rpcport={} -rpccookiefile={} getblockchaininfo\n",
        devnet.rpc_url(),
        devnet.cookie_path().display(),
        height.map_or("?".to_owned(), |h| h.to_string()),
        balance.map_or("?".to_owned(), |b| b.to_string()),
        devnet.rpc_addr().port(),
        devnet.cookie_path().display(),
    )
}

/// `cairn signer`: a following node that signs payouts, until Ctrl-C.
pub async fn run_signer(args: SignerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.node.config.is_some(),
        "a signer needs the network's --config rollup.json"
    );
    anyhow::ensure!(
        args.node.sequencer_key.is_none(),
        "a signer is not the sequencer: drop --sequencer-key"
    );
    let key = crate::rollup::load_sequencer_key(&args.key)?;
    run_node_with(args.node, Some(key)).await
}

/// `cairn node`: the L2 node settling on an external `bitcoind`, until Ctrl-C.
pub async fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    run_node_with(args, None).await
}

async fn run_node_with(
    args: NodeArgs,
    signer_key: Option<bitcoin::key::Keypair>,
) -> anyhow::Result<()> {
    let data_dir = args.l2.data_dir_or("node");
    let (mut config, banner) = args.l2.to_launch(data_dir.clone())?;
    config.peg.signer_key = signer_key;
    config.peg.signer_urls = args.signer_urls.clone();
    config.peg.max_fee_rate = args.peg_max_fee_rate;
    let mut l1 = args.l1.l1_config()?;
    if let Some(path) = &args.config {
        let rollup = crate::rollup::load(path)?;
        config.spec = rollup.chain.clone();
        l1.network = crate::rollup::bitcoin_network(rollup.l1.network);
        let sequencer = match &args.sequencer_key {
            Some(key_path) => {
                let key = crate::rollup::load_sequencer_key(key_path)?;
                anyhow::ensure!(
                    crate::rollup::public_key_hex(&key) == rollup.sequencer_key,
                    "{} is not the sequencer key of {} (its sequencerKey is {})",
                    key_path.display(),
                    path.display(),
                    rollup.sequencer_key
                );
                Some(key)
            }
            None => None,
        };
        config.settlement = Some(SettlementConfig {
            rollup,
            sequencer,
            batcher: args.batcher.config()?,
            dev_funding: None,
        });
    }
    config.l1 = Some(l1);
    let follower = config.is_follower();
    let node = crate::launch(config).await?;
    let config_path = args
        .config
        .as_deref()
        .unwrap_or(std::path::Path::new("?"))
        .display()
        .to_string();
    if let Some(key) = signer_key {
        println!(
            "Peg signer {} of the network of {config_path}: deriving from Bitcoin, signing payouts through cairn_signPayout",
            key.x_only_public_key().0
        );
    } else if follower {
        println!(
            "Following the network of {config_path} from Bitcoin (no sequencer key: read-only)"
        );
    } else {
        println!("{banner}");
        match &args.config {
            Some(_) => println!("Sequencing the network of {config_path}"),
            None => println!(
                "No --config: blocks are produced but not posted to Bitcoin (no settlement)"
            ),
        }
    }
    print_batcher(&node);
    if let Some((height, hash)) = node.l1.as_ref().and_then(|l1| l1.status().tip) {
        println!(
            "Bitcoin:           {} ({}), tip {height} {hash}",
            args.l1.l1_rpc_url, args.l1.l1_network
        );
    }
    println!("Data dir:          {}", data_dir.display());
    println!("Listening on {} (HTTP and WebSocket)\n", node.rpc_addr);
    tokio::signal::ctrl_c().await?;
    tracing::info!(target: "cairn::node", "shutting down");
    node.shutdown().await;
    Ok(())
}

/// The batcher wallet's address and balance, for the operator to fund it.
fn print_batcher(node: &crate::Node) {
    if let Some(status) = &node.settlement {
        let s = status.read();
        if let (Some(address), Some(balance)) = (&s.batcher_address, s.batcher_balance) {
            println!(
                "Batcher wallet:    {address} (balance {balance}; pays for posting batches to Bitcoin)"
            );
        }
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

    #[test]
    fn signers_and_the_coordinator_parse_as_documented() {
        let cli = Cli::try_parse_from([
            "cairn",
            "signer",
            "--config",
            "rollup.json",
            "--key",
            "signer.key",
            "--l1-rpc-url",
            "http://127.0.0.1:8332",
            "--l1-rpc-cookie",
            ".cookie",
            "--http-port",
            "9000",
            "--peg-max-fee-rate",
            "50",
        ])
        .expect("parses");
        let Command::Signer(args) = cli.command else {
            panic!("not the signer command");
        };
        assert_eq!(args.key, PathBuf::from("signer.key"));
        assert_eq!(args.node.config, Some(PathBuf::from("rollup.json")));
        assert_eq!(args.node.peg_max_fee_rate, 50);
        assert_eq!(args.node.l2.http_port, 9000);

        let cli = Cli::try_parse_from([
            "cairn",
            "node",
            "--config",
            "rollup.json",
            "--sequencer-key",
            "sequencer.key",
            "--l1-rpc-url",
            "http://127.0.0.1:8332",
            "--l1-rpc-cookie",
            ".cookie",
            "--signer-url",
            "http://a:1",
            "--signer-url",
            "http://b:2",
        ])
        .expect("parses");
        let Command::Node(args) = cli.command else {
            panic!("not the node command");
        };
        assert_eq!(args.signer_urls, ["http://a:1", "http://b:2"]);
        assert_eq!(args.peg_max_fee_rate, crate::payout::DEFAULT_MAX_FEE_RATE);
        // A signer URL means coordinating payouts: only the sequencer does that.
        let err = Cli::try_parse_from([
            "cairn",
            "node",
            "--config",
            "rollup.json",
            "--l1-rpc-url",
            "http://127.0.0.1:8332",
            "--signer-url",
            "http://a:1",
        ])
        .expect_err("needs the sequencer key");
        assert!(err.to_string().contains("--sequencer-key"), "{err}");
    }
}
