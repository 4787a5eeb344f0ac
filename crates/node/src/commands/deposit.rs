//! `cairn deposit`: asks a Cairn node for an L2 account's deposit address and, given a
//! Bitcoin node with a wallet, pays it.
//!
//! ```text
//! cairn deposit --to 0xRecipient                                    # print the address
//! cairn deposit --to 0xRecipient --amount 0.5 \
//!     --l1-rpc-url http://127.0.0.1:18443 --l1-rpc-cookie DATA/bitcoin/.cookie
//! ```

use std::path::PathBuf;

use alloy_primitives::{Address, B256};
use anyhow::Context as _;
use bitcoin::Amount;
use cairn_rpc::PegApiClient as _;
use clap::Args;
use jsonrpsee::http_client::HttpClientBuilder;

use super::{L1RpcArgs, parse_btc, parse_network};

/// `cairn deposit`'s options.
#[derive(Debug, Clone, Args)]
pub struct DepositArgs {
    /// The L2 account to credit.
    #[arg(long)]
    pub to: Address,
    /// The Cairn node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// A BIP340 x-only public key (64 hex characters) that may take the deposit back
    /// after the reclaim delay if it is never credited.
    #[arg(long)]
    pub reclaim_key: Option<B256>,
    /// Pay this many BTC to the address from the Bitcoin node's wallet (needs
    /// `--l1-rpc-url`).
    #[arg(long, requires = "l1_rpc_url", value_parser = parse_btc)]
    pub amount: Option<Amount>,
    /// bitcoind's JSON-RPC URL (its wallet pays the deposit).
    #[arg(long)]
    pub l1_rpc_url: Option<String>,
    /// bitcoind's cookie file.
    #[arg(long, conflicts_with_all = ["l1_rpc_user", "l1_rpc_password"])]
    pub l1_rpc_cookie: Option<PathBuf>,
    /// bitcoind's `-rpcuser`.
    #[arg(long, requires = "l1_rpc_password")]
    pub l1_rpc_user: Option<String>,
    /// bitcoind's `-rpcpassword`.
    #[arg(long, env = "CAIRN_L1_RPC_PASSWORD", requires = "l1_rpc_user")]
    pub l1_rpc_password: Option<String>,
    /// The Bitcoin network.
    #[arg(long, default_value = "regtest", value_parser = parse_network)]
    pub l1_network: bitcoin::Network,
}

/// Runs `cairn deposit`.
pub async fn run(args: DepositArgs) -> anyhow::Result<()> {
    let client = HttpClientBuilder::default()
        .build(&args.rpc_url)
        .with_context(|| format!("bad --rpc-url {}", args.rpc_url))?;
    let answer = client
        .get_deposit_address(args.to, args.reclaim_key)
        .await
        .with_context(|| format!("cairn_getDepositAddress at {}", args.rpc_url))?;
    let address = answer.address.as_str();
    println!("Deposit address for {}: {address}", args.to);
    println!(
        "  credited after {} confirmation(s); at least {} sat",
        answer.confirmations, answer.min_deposit_sat
    );
    let (Some(amount), Some(url)) = (args.amount, &args.l1_rpc_url) else {
        return Ok(());
    };
    let l1 = L1RpcArgs {
        l1_rpc_url: url.clone(),
        l1_rpc_cookie: args.l1_rpc_cookie.clone(),
        l1_rpc_user: args.l1_rpc_user.clone(),
        l1_rpc_password: args.l1_rpc_password.clone(),
        l1_network: args.l1_network,
    }
    .l1_config()?;
    let bitcoin = cairn_l1::Client::connect(&l1.rpc, l1.network)
        .await
        .with_context(|| format!("cannot use the Bitcoin node at {url}"))?;
    let to = address
        .parse::<bitcoin::Address<_>>()
        .context("the node returned an unparsable address")?
        .require_network(l1.network)
        .context("the node's network is not --l1-network")?;
    let txid = bitcoin
        .send_to_address(&to, amount)
        .await
        .context("the Bitcoin wallet could not pay the deposit")?;
    println!("Paid {amount} in {txid}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::commands::{Cli, Command};

    fn parse(args: &[&str]) -> Result<super::DepositArgs, clap::Error> {
        let cli = Cli::try_parse_from(["cairn", "deposit"].iter().chain(args))?;
        match cli.command {
            Command::Deposit(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    // The bitcoind options are spelled out here rather than flattening `L1RpcArgs`: as an
    // optional flattened group, clap requires its `--l1-rpc-url` as soon as its defaulted
    // `--l1-network` counts as present, i.e. always.
    #[test]
    fn the_bitcoin_node_is_optional_and_needed_to_pay() {
        let to = "--to=0x4242424242424242424242424242424242424242";
        let args = parse(&[to]).expect("address only");
        assert!(args.l1_rpc_url.is_none() && args.amount.is_none());
        let args = parse(&[
            to,
            "--amount=0.5",
            "--l1-rpc-url=http://127.0.0.1:18443",
            "--l1-rpc-cookie=/tmp/.cookie",
        ])
        .expect("pay");
        assert_eq!(args.amount, Some(bitcoin::Amount::from_sat(50_000_000)));
        assert_eq!(args.l1_rpc_url.as_deref(), Some("http://127.0.0.1:18443"));
        assert_eq!(args.l1_network, bitcoin::Network::Regtest);
        assert!(
            parse(&[to, "--amount=0.5"]).is_err(),
            "paying needs bitcoind"
        );
    }
}
