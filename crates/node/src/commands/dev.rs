//! `cairn dev`: the embedded Bitcoin devnet and the L2 node on it, in one process.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{BatcherArgs, L2Args, OptionalDuration, parse_optional_duration};
use crate::L1Config;
use crate::settle::SettlementConfig;

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

/// `cairn dev`: the embedded Bitcoin devnet and the L2 node on it, until Ctrl-C.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
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
    // Anvil's and Hardhat's controls over the local chain (refused by `cairn node`), and
    // the dev accounts unlocked for `eth_sendTransaction`.
    config.dev = Some(crate::DevOptions {
        unlocked: crate::dev::dev_accounts(args.l2.accounts)?
            .into_iter()
            .map(|a| a.signer)
            .collect(),
    });
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
        ignore_forced: false,
    });
    let mut node = crate::launch(config).await?;
    println!("{banner}");
    println!(
        "Network config:    {} (sequencer {}, L1 start height {})",
        data_dir.join(crate::rollup::ROLLUP_FILE).display(),
        rollup.sequencer_key,
        rollup.l1.height
    );
    println!("{}", devnet_banner(&devnet, &args, node.l1.as_ref()).await);
    super::node::print_batcher(&node);
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
    let stopped = node.until_stopped().await;
    node.shutdown().await;
    devnet.stop().await;
    stopped
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
