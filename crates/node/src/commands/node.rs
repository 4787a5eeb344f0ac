//! `cairn node`: the L2 node against an external `bitcoind`, as the network's sequencer
//! or following it.

use std::path::PathBuf;

use clap::Args;

use super::{BatcherArgs, L1RpcArgs, L2Args};
use crate::settle::SettlementConfig;

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
    /// A `cairn signer`'s listener URL (repeat for each): the sequencer coordinates payouts
    /// of finalized withdrawals with these signers. The signer's secret goes in the URL
    /// (`http://__cookie__:SECRET@host:port`) or in `--signer-token`.
    #[arg(long = "signer-url", requires = "sequencer_key")]
    pub signer_urls: Vec<String>,
    /// The secret sent to signers whose URL carries none (their `--signer-rpc-token`).
    #[arg(long, env = "CAIRN_SIGNER_TOKEN", requires = "sequencer_key")]
    pub signer_token: Option<String>,
    /// Highest fee rate (sat/vB) a payout may pay: the coordinator never proposes more and
    /// a signer never signs more.
    #[arg(long, default_value_t = cairn_peg::policy::DEFAULT_MAX_FEE_RATE)]
    pub peg_max_fee_rate: u64,
    #[command(flatten)]
    pub batcher: BatcherArgs,
}

/// What makes a following node a signer (`cairn signer`).
pub(super) struct SignerRuntime {
    /// Its federation key.
    pub key: bitcoin::key::Keypair,
    /// Where its signer listener binds.
    pub rpc_addr: std::net::SocketAddr,
    /// The listener's secret (`None`: a fresh cookie).
    pub rpc_token: Option<String>,
}

/// `cairn node`: the L2 node settling on an external `bitcoind`, until Ctrl-C.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    run_with(args, None).await
}

/// The node, or with `signer_key` a peg signer (`cairn signer`).
pub(super) async fn run_with(args: NodeArgs, signer: Option<SignerRuntime>) -> anyhow::Result<()> {
    let signer_key = signer.as_ref().map(|s| s.key);
    let data_dir = args.l2.data_dir_or("node");
    let (mut config, banner) = args.l2.to_launch(data_dir.clone())?;
    config.peg.signer_key = signer_key;
    if let Some(signer) = &signer {
        config.peg.signer_rpc_addr = Some(signer.rpc_addr);
        config.peg.signer_rpc_token = signer.rpc_token.clone();
    }
    config.peg.signer_urls = args.signer_urls.clone();
    config.peg.signer_token = args.signer_token.clone();
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
                    rollup
                        .sequencer_set()
                        .contains(&crate::rollup::public_key_hex(&key)),
                    "{} is not a sequencer key of {} (its sequencer set is {})",
                    key_path.display(),
                    path.display(),
                    rollup.sequencer_set().join(", ")
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
            ignore_forced: false,
        });
    }
    config.l1 = Some(l1);
    let follower = config.is_follower();
    let mut node = crate::launch(config).await?;
    let config_path = args
        .config
        .as_deref()
        .unwrap_or(std::path::Path::new("?"))
        .display()
        .to_string();
    if let (Some(key), Some(listener)) = (signer_key, &node.signer) {
        println!(
            "Peg signer {} of the network of {config_path}: deriving from Bitcoin, signing payouts through cairn_signPayout",
            key.x_only_public_key().0
        );
        match &listener.cookie {
            Some(cookie) => println!(
                "Signer listener:   http://{} (secret in {}: give the coordinator http://__cookie__:<secret>@{})",
                listener.addr,
                cookie.display(),
                listener.addr
            ),
            None => println!(
                "Signer listener:   http://{} (secret: --signer-rpc-token)",
                listener.addr
            ),
        }
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
    let stopped = node.until_stopped().await;
    node.shutdown().await;
    stopped
}

/// The batcher wallet's address and balance, for the operator to fund it.
pub(super) fn print_batcher(node: &crate::Node) {
    if let Some(status) = &node.settlement {
        let s = status.read();
        if let (Some(address), Some(balance)) = (&s.batcher_address, s.batcher_balance) {
            println!(
                "Batcher wallet:    {address} (balance {balance}; pays for posting batches to Bitcoin)"
            );
        }
    }
}
