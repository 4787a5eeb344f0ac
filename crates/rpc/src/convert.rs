//! Cairn's blocks, transactions and receipts in the shapes of Ethereum JSON-RPC.

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{ReceiptEnvelope, Transaction as _, TxReceipt as _};
use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockTransactions, Header as RpcHeader, Log as RpcLog, Transaction as RpcTx,
    TransactionReceipt, Withdrawals,
};
use cairn_execution::l1fee::{l1_fee_rate_of, l1_gas};
use cairn_primitives::{Block, Receipt, RecoveredTx};
use cairn_storage::BlockWithReceipts;

use crate::RpcError;

/// A transaction as `eth_getTransactionByHash` shows it; `block` is `None`
/// while it waits in the mempool.
pub fn transaction(tx: &RecoveredTx, block: Option<(&Block, usize)>) -> RpcTx {
    let inner = Recovered::new_unchecked(tx.envelope.clone(), tx.sender);
    match block {
        Some((block, index)) => {
            let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
            RpcTx {
                inner,
                block_hash: Some(block.hash),
                block_number: Some(block.header.number),
                transaction_index: Some(index as u64),
                effective_gas_price: Some(tx.effective_gas_price(base_fee)),
                block_timestamp: Some(block.header.timestamp),
            }
        }
        None => RpcTx {
            inner,
            block_hash: None,
            block_number: None,
            transaction_index: None,
            effective_gas_price: None,
            block_timestamp: None,
        },
    }
}

pub fn header(block: &Block) -> RpcHeader {
    RpcHeader {
        hash: block.hash,
        inner: block.header.clone(),
        total_difficulty: Some(U256::ZERO),
        size: Some(U256::from(block_size(block))),
    }
}

fn block_size(block: &Block) -> usize {
    // Header plus transactions, RLP-framed: close to what geth reports.
    alloy_rlp::Encodable::length(&block.header)
        + block
            .transactions
            .iter()
            .map(|t| t.encoded.len() + 3)
            .sum::<usize>()
        + 4
}

pub fn block(block: &Block, full: bool) -> RpcBlock {
    let transactions = if full {
        BlockTransactions::Full(
            block
                .transactions
                .iter()
                .enumerate()
                .map(|(i, tx)| transaction(tx, Some((block, i))))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(block.transactions.iter().map(|tx| tx.hash).collect())
    };
    RpcBlock {
        header: header(block),
        uncles: vec![],
        transactions,
        // Deposits from Bitcoin are credited as EIP-4895 withdrawals are (amounts in gwei).
        withdrawals: Some(Withdrawals::new(
            block
                .deposits
                .iter()
                .enumerate()
                .map(|(i, d)| d.as_withdrawal(block.header.number, i))
                .collect(),
        )),
    }
}

/// Logs of one block with their block-wide indices.
pub fn block_logs(entry: &BlockWithReceipts) -> impl Iterator<Item = RpcLog> + '_ {
    let block = &entry.block;
    let mut log_index = 0u64;
    entry
        .receipts
        .iter()
        .zip(block.transactions.iter())
        .enumerate()
        .flat_map(move |(i, (receipt, tx))| {
            let start = log_index;
            log_index += receipt.logs.len() as u64;
            receipt
                .logs
                .iter()
                .enumerate()
                .map(move |(j, log)| rpc_log(block, tx, i, start + j as u64, log))
        })
}

/// `log`, emitted by transaction `index` (`tx`) of `block`, as the RPC shows it.
pub fn rpc_log(
    block: &Block,
    tx: &RecoveredTx,
    index: usize,
    log_index: u64,
    log: &cairn_primitives::Log,
) -> RpcLog {
    RpcLog {
        inner: log.clone(),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        block_timestamp: Some(block.header.timestamp),
        transaction_hash: Some(tx.hash),
        transaction_index: Some(index as u64),
        log_index: Some(log_index),
        removed: false,
    }
}

/// An Ethereum receipt plus what the transaction paid for its bytes on Bitcoin (the L1
/// data fee is part of `gasUsed`; these fields break it out, like OP Stack's `l1Fee`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CairnReceipt {
    #[serde(flatten)]
    pub inner: TransactionReceipt,
    /// The L1 data fee in wei: `l1GasUsed × effectiveGasPrice`.
    pub l1_fee: alloy_primitives::U256,
    /// The part of `gasUsed` that paid the L1 data fee.
    pub l1_gas_used: alloy_primitives::U64,
    /// The block's L1 fee rate, in sat per 1000 weight units (250 = 1 sat/vB).
    pub l1_fee_rate: alloy_primitives::U64,
}

/// The receipt of the `index`th transaction of `entry`.
pub fn receipt(entry: &BlockWithReceipts, index: usize) -> Result<Option<CairnReceipt>, RpcError> {
    let block = &entry.block;
    let (Some(tx), Some(receipt)) = (block.transactions.get(index), entry.receipts.get(index))
    else {
        return Ok(None);
    };
    let first_log_index: u64 = entry.receipts[..index]
        .iter()
        .map(|r| r.logs.len() as u64)
        .sum();
    let logs: Vec<RpcLog> = receipt
        .logs
        .iter()
        .enumerate()
        .map(|(j, log)| rpc_log(block, tx, index, first_log_index + j as u64, log))
        .collect();
    let inner = rpc_receipt_envelope(receipt, logs)?;
    let rate = l1_fee_rate_of(&block.header);
    let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
    let l1_gas = l1_gas(tx.encoded.len(), rate, base_fee);
    let inner = TransactionReceipt {
        inner,
        transaction_hash: tx.hash,
        transaction_index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used: receipt.gas_used,
        effective_gas_price: receipt.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.sender,
        to: tx.envelope.to(),
        contract_address: receipt.contract_address(),
    };
    Ok(Some(CairnReceipt {
        inner,
        l1_fee: U256::from(l1_gas) * U256::from(receipt.effective_gas_price),
        l1_gas_used: alloy_primitives::U64::from(l1_gas),
        l1_fee_rate: alloy_primitives::U64::from(rate),
    }))
}

fn rpc_receipt_envelope(
    receipt: &Receipt,
    logs: Vec<RpcLog>,
) -> Result<ReceiptEnvelope<RpcLog>, RpcError> {
    let consensus = receipt
        .to_envelope()
        .map_err(|e| RpcError::Internal(e.to_string()))?;
    let bloom = consensus.logs_bloom().to_owned();
    let inner = alloy_consensus::Receipt {
        status: consensus.status_or_post_state(),
        cumulative_gas_used: receipt.cumulative_gas_used,
        logs,
    };
    let with_bloom = alloy_consensus::ReceiptWithBloom {
        receipt: inner,
        logs_bloom: bloom,
    };
    Ok(match consensus {
        ReceiptEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(with_bloom),
        ReceiptEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(with_bloom),
        ReceiptEnvelope::Eip1559(_) => ReceiptEnvelope::Eip1559(with_bloom),
        ReceiptEnvelope::Eip4844(_) => ReceiptEnvelope::Eip4844(with_bloom),
        ReceiptEnvelope::Eip7702(_) => ReceiptEnvelope::Eip7702(with_bloom),
    })
}

/// Pool entries for `txpool_content`: `{ sender: { nonce: tx } }`.
pub fn pool_section(entries: &[(Address, Vec<std::sync::Arc<RecoveredTx>>)]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (sender, txs) in entries {
        let mut by_nonce = serde_json::Map::new();
        for tx in txs {
            let value = serde_json::to_value(transaction(tx, None)).unwrap_or_default();
            by_nonce.insert(tx.envelope.nonce().to_string(), value);
        }
        out.insert(
            sender.to_checksum(None),
            serde_json::Value::Object(by_nonce),
        );
    }
    serde_json::Value::Object(out)
}

pub fn hashes(block: &Block) -> Vec<B256> {
    block.transactions.iter().map(|t| t.hash).collect()
}
