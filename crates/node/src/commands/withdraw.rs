//! `cairn withdraw`: burns BTC on L2 through the withdrawal contract, to be paid to a
//! Bitcoin address by the federation.
//!
//! ```text
//! cairn withdraw --private-key 0x… --to bcrt1q… --amount 0.1 [--rpc-url http://127.0.0.1:8545]
//! ```

use alloy_consensus::{SignableTransaction as _, TxEip1559, TxEnvelope};
use alloy_eips::BlockId;
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::{B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync as _;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall as _;
use anyhow::Context as _;
use bitcoin::Amount;
use cairn_execution::withdraw::{WITHDRAWAL_CONTRACT, withdrawCall};
use cairn_rpc::{EthApiClient as _, PegApiClient as _};
use clap::Args;
use jsonrpsee::http_client::HttpClientBuilder;

/// `cairn withdraw`'s options.
#[derive(Debug, Clone, Args)]
pub struct WithdrawArgs {
    /// The L2 account's private key (hex); also `CAIRN_PRIVATE_KEY`.
    #[arg(long, env = "CAIRN_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: PrivateKeySigner,
    /// The Bitcoin address to pay (P2PKH, P2SH, P2WPKH, P2WSH or P2TR, on the network's
    /// Bitcoin network).
    #[arg(long)]
    pub to: String,
    /// How many BTC to withdraw (a whole number of satoshis).
    #[arg(long, value_parser = super::parse_btc)]
    pub amount: Amount,
    /// The Cairn node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// After the burn, follow the withdrawal (finalized, then paid on Bitcoin) and print
    /// the Bitcoin transaction that pays it.
    #[arg(long)]
    pub wait: bool,
}

/// Runs `cairn withdraw`: signs and sends the burn, waits for its receipt.
pub async fn run(args: WithdrawArgs) -> anyhow::Result<()> {
    let client = HttpClientBuilder::default()
        .build(&args.rpc_url)
        .with_context(|| format!("bad --rpc-url {}", args.rpc_url))?;
    let from = args.private_key.address();
    let value = cairn_primitives::units::sats_to_wei(args.amount.to_sat());
    let input = Bytes::from(
        withdrawCall {
            bitcoinAddress: args.to.clone(),
        }
        .abi_encode(),
    );
    let request = alloy_rpc_types_eth::TransactionRequest {
        from: Some(from),
        to: Some(TxKind::Call(WITHDRAWAL_CONTRACT)),
        value: Some(value),
        input: input.clone().into(),
        ..Default::default()
    };
    // The estimate runs the contract: a bad address or amount fails here with its reason.
    let gas = client
        .estimate_gas(request, None, None)
        .await
        .context("the withdrawal would fail")?;
    let chain_id = client.chain_id().await?;
    let nonce = client
        .get_transaction_count(from, Some(BlockId::pending()))
        .await?;
    let gas_price = client.gas_price().await?;
    let tip = client.max_priority_fee_per_gas().await?;
    let max_fee = u128::try_from(gas_price.saturating_mul(U256::from(2)))?;
    let tx = TxEip1559 {
        chain_id: chain_id.to(),
        nonce: nonce.to(),
        gas_limit: gas.to(),
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: u128::try_from(tip)?.min(max_fee),
        to: TxKind::Call(WITHDRAWAL_CONTRACT),
        value,
        access_list: Default::default(),
        input,
    };
    let signature = args.private_key.sign_hash_sync(&tx.signature_hash())?;
    let raw = TxEnvelope::Eip1559(tx.into_signed(signature)).encoded_2718();
    let hash = client
        .send_raw_transaction(Bytes::from(raw))
        .await
        .context("the node refused the withdrawal")?;
    println!("Withdrawal of {} to {} sent: {hash}", args.amount, args.to);
    for _ in 0..120 {
        if let Some(receipt) = client.get_transaction_receipt(hash).await? {
            anyhow::ensure!(
                receipt.inner.status(),
                "the withdrawal reverted: {}",
                serde_json::to_string(&receipt).unwrap_or_default()
            );
            println!(
                "Burned in L2 block {}; follow it with cairn_getWithdrawalStatus(\"{hash}\")",
                receipt
                    .inner
                    .block_number
                    .map_or_else(|| "?".to_owned(), |n| n.to_string())
            );
            if args.wait {
                return follow(&client, hash).await;
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    anyhow::bail!("no receipt for {hash} after 30 s")
}

/// Prints each status change of the withdrawals `hash` requested until all are paid.
async fn follow(client: &jsonrpsee::http_client::HttpClient, hash: B256) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let statuses = client.get_withdrawal_status(hash).await?;
        let now: Vec<String> = statuses
            .iter()
            .map(|s| match &s.bitcoin_txid {
                Some(txid) => format!("paid by Bitcoin transaction {txid}"),
                None => s.status.clone(),
            })
            .collect();
        let line = now.join(", ");
        if line != last {
            println!("Withdrawal: {line}");
            last = line;
        }
        if !statuses.is_empty() && statuses.iter().all(|s| s.status == "paid") {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
