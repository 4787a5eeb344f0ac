//! `cairn force-send`: posts a signed L2 transaction to Bitcoin in a forced-transaction
//! envelope (`cairn_da::envelope::forced`), so that it reaches the chain without the
//! sequencer. A bitcoind wallet pays a one-leaf taproot commit output; a reveal spending
//! it through the envelope leaf (signed by a one-time key) puts the transaction in its
//! witness and returns the rest to the wallet.
//!
//! ```text
//! cairn force-send --raw 0x02f8… --chain-id 4242 \
//!     --l1-rpc-url http://127.0.0.1:18443 --l1-rpc-cookie DATA/bitcoin/.cookie
//! ```

use alloy_primitives::{B256, Bytes};
use anyhow::Context as _;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, FeeRate, OutPoint, Txid};
use cairn_da::envelope::{build_reveal, commit_output, forced_leaf, reveal_weight};
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

/// What a forced send put on Bitcoin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedSend {
    /// The L2 transaction's hash.
    pub l2_hash: B256,
    /// The wallet's payment to the envelope's commit output.
    pub commit: Txid,
    /// The reveal carrying the transaction.
    pub reveal: Txid,
}

/// Checks `raw` is a signed transaction for `chain_id`, then commits and reveals it
/// through `bitcoin`'s wallet at `fee_rate`.
pub async fn force_send(
    bitcoin: &cairn_l1::Client,
    network: bitcoin::Network,
    chain_id: u64,
    raw: &[u8],
    fee_rate: FeeRate,
) -> anyhow::Result<ForcedSend> {
    let tx = cairn_primitives::decode_raw_transaction(raw)
        .map_err(|e| anyhow::anyhow!("--raw is not a signed L2 transaction: {e}"))?;
    use alloy_consensus::Transaction as _;
    match tx.envelope.chain_id() {
        Some(id) if id == chain_id => {}
        other => anyhow::bail!(
            "the transaction is for chain {other:?}, not --chain-id {chain_id}: the network would skip it"
        ),
    }
    let keypair = Keypair::from_seckey_slice(&Secp256k1::new(), &rand::random::<[u8; 32]>())
        .context("a one-time key")?;
    let key = keypair.x_only_public_key().0;
    let leaf = forced_leaf(&key, chain_id, raw)?;
    let (commit_script, spend_info) = commit_output(&leaf, key);
    let destination = bitcoin
        .get_new_address(Some("cairn-force"), None)
        .await
        .context("the Bitcoin wallet could not give a change address")?
        .script_pubkey();
    let reveal_fee = fee_rate
        .fee_wu(reveal_weight(&leaf, &destination))
        .context("reveal fee overflows")?;
    let amount = reveal_fee + destination.minimal_non_dust() + Amount::from_sat(1_000);
    let commit_address = bitcoin::Address::from_script(&commit_script, network)
        .context("the commit output has no address")?;
    let commit = bitcoin
        .send_to_address(&commit_address, amount)
        .await
        .context("the Bitcoin wallet could not pay the commit output")?;
    let commit_tx = bitcoin
        .get_raw_transaction(&commit)
        .await?
        .context("the wallet's commit transaction is not in the node")?;
    let vout = commit_tx
        .output
        .iter()
        .position(|o| o.script_pubkey == commit_script)
        .context("the commit transaction does not pay the commit output")?;
    let reveal = build_reveal(
        OutPoint::new(commit, vout as u32),
        &commit_tx.output[vout],
        &leaf,
        &spend_info,
        &keypair,
        destination,
        reveal_fee,
    )?;
    let reveal = bitcoin
        .send_raw_transaction(&reveal)
        .await
        .context("bitcoind refused the reveal")?;
    Ok(ForcedSend {
        l2_hash: tx.hash,
        commit,
        reveal,
    })
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
