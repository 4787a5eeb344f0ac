//! `cairn force-send`: posts a signed L2 transaction to Bitcoin in a forced-transaction
//! envelope, paid by a bitcoind wallet (`cairn_settlement::forced`), so that it reaches
//! the chain without the sequencer.
//!
//! ```text
//! cairn force-send --raw 0x02f8… --chain-id 4242 \
//!     --l1-rpc-url http://127.0.0.1:18443 --l1-rpc-cookie DATA/bitcoin/.cookie
//! ```

use alloy_primitives::Bytes;
use anyhow::Context as _;
use bitcoin::FeeRate;
use cairn_settlement::forced::force_send;
use clap::Args;

use super::L1RpcArgs;

/// `cairn force-send`'s options.
#[derive(Debug, Clone, Args)]
pub struct ForceSendArgs {
    /// The signed L2 transaction (EIP-2718 bytes, as `eth_sendRawTransaction` takes them).
    #[arg(long)]
    pub raw: Bytes,
    /// The L2 chain id the transaction must be for (the envelope commits to it).
    #[arg(long)]
    pub chain_id: u64,
    /// Fee rate for the commit and reveal, sat/vB (default: bitcoind's estimate, or 2).
    #[arg(long)]
    pub fee_rate: Option<u64>,
    #[command(flatten)]
    pub l1: L1RpcArgs,
}

/// Runs `cairn force-send`.
pub async fn run(args: ForceSendArgs) -> anyhow::Result<()> {
    let l1 = args.l1.l1_config()?;
    let bitcoin = cairn_l1::Client::connect(&l1.rpc, l1.network)
        .await
        .with_context(|| format!("cannot use the Bitcoin node at {}", args.l1.l1_rpc_url))?;
    let fee_rate = match args.fee_rate {
        Some(rate) => FeeRate::from_sat_per_vb(rate).context("--fee-rate is too high")?,
        None => bitcoin
            .estimate_smart_fee(6, None)
            .await
            .ok()
            .and_then(|e| e.fee_rate)
            .unwrap_or(FeeRate::from_sat_per_vb_u32(2)),
    };
    let sent = force_send(&bitcoin, l1.network, args.chain_id, &args.raw, fee_rate).await?;
    println!("Forced L2 transaction {}", sent.l2_hash);
    println!("  commit {}", sent.commit);
    println!("  reveal {} (carries the transaction)", sent.reveal);
    Ok(())
}
