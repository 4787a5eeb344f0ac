//! The method table: every `eth_` method, merged with the typed namespaces
//! (`web3_`/`net_`/`txpool_` from [`crate::small`], `cairn_` from [`crate::cairn`] and
//! [`crate::peg`]).

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{FeeHistory, Filter, Log as RpcLog, SyncStatus};
use cairn_execution::{CallRequest, fees::next_base_fee};
use cairn_storage::BlockWithReceipts;
use jsonrpsee::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};

pub use crate::context::{MAX_FEE_HISTORY, RpcContext};
use crate::convert;
use crate::error::RpcError;

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn ok<T>(r: Result<T, RpcError>) -> RpcResult<T> {
    r.map_err(Into::into)
}

/// Build the method table.
pub fn module(
    ctx: Arc<RpcContext>,
) -> Result<RpcModule<RpcContext>, jsonrpsee::core::RegisterMethodError> {
    let m_ctx = ctx.clone();
    let mut m = RpcModule::from_arc(ctx);
    m.merge(crate::cairn::SettlementApiServer::into_rpc(
        crate::cairn::SettlementRpc(m_ctx.clone()),
    ))?;
    m.merge(crate::peg::PegApiServer::into_rpc(crate::peg::PegRpc(
        m_ctx.clone(),
    )))?;

    m.merge(crate::small::Web3ApiServer::into_rpc(
        crate::small::SmallRpc(m_ctx.clone()),
    ))?;
    m.merge(crate::small::NetApiServer::into_rpc(
        crate::small::SmallRpc(m_ctx.clone()),
    ))?;
    m.merge(crate::small::TxpoolApiServer::into_rpc(
        crate::small::SmallRpc(m_ctx.clone()),
    ))?;
    m.register_method("eth_chainId", |_, c, _| -> RpcResult<U64> {
        Ok(U64::from(c.spec.chain_id))
    })?;
    m.register_method("eth_blockNumber", |_, c, _| -> RpcResult<U64> {
        Ok(U64::from(c.storage.head_number()))
    })?;
    m.register_method("eth_syncing", |_, _, _| -> RpcResult<SyncStatus> {
        Ok(SyncStatus::None)
    })?;
    m.register_method("eth_accounts", |_, _, _| -> RpcResult<Vec<Address>> {
        Ok(vec![])
    })?;
    m.register_method("eth_mining", |_, _, _| -> RpcResult<bool> { Ok(false) })?;
    m.register_method("eth_hashrate", |_, _, _| -> RpcResult<U64> {
        Ok(U64::ZERO)
    })?;
    m.register_method("eth_coinbase", |_, _, _| -> RpcResult<Address> {
        Err(RpcError::Server("etherbase must be explicitly specified".into()).into())
    })?;

    m.register_method("eth_gasPrice", |_, c, _| -> RpcResult<U256> {
        let head = c.storage.head();
        let base = next_base_fee(&head.block.header, c.spec.base_fee_floor) as u128;
        Ok(U256::from(base + c.suggested_tip()))
    })?;
    m.register_method("eth_maxPriorityFeePerGas", |_, c, _| -> RpcResult<U256> {
        Ok(U256::from(c.suggested_tip()))
    })?;
    m.register_method("eth_blobBaseFee", |_, _, _| -> RpcResult<U256> {
        Ok(U256::from(1))
    })?;
    m.register_blocking_method("eth_feeHistory", |p, c, _| -> RpcResult<FeeHistory> {
        let mut seq = p.sequence();
        let count: U64 = seq.next()?;
        let newest: BlockNumberOrTag = seq.next()?;
        let percentiles: Option<Vec<f64>> = seq.optional_next()?;
        ok(fee_history(&c, count.to::<u64>(), newest, percentiles))
    })?;

    m.register_method("eth_getBalance", |p, c, _| -> RpcResult<U256> {
        let (address, id) = address_and_block(&p)?;
        let state = ok(c.state(id))?;
        Ok(state
            .account(&address)
            .map(|a| a.balance)
            .unwrap_or_default())
    })?;
    m.register_method("eth_getTransactionCount", |p, c, _| -> RpcResult<U64> {
        let (address, id) = address_and_block(&p)?;
        let state = ok(c.state(id))?;
        let nonce = state.account(&address).map(|a| a.nonce).unwrap_or_default();
        drop(state);
        if id == Some(BlockId::Number(BlockNumberOrTag::Pending)) {
            return Ok(U64::from(c.pool.pending_nonce(&address, nonce)));
        }
        Ok(U64::from(nonce))
    })?;
    m.register_method("eth_getCode", |p, c, _| -> RpcResult<Bytes> {
        let (address, id) = address_and_block(&p)?;
        let state = ok(c.state(id))?;
        Ok(state
            .account(&address)
            .filter(|a| a.has_code())
            .and_then(|a| state.code(&a.code_hash))
            .unwrap_or_default())
    })?;
    m.register_method("eth_getStorageAt", |p, c, _| -> RpcResult<B256> {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let slot: U256 = seq.next()?;
        let id: Option<BlockId> = seq.optional_next()?;
        let state = ok(c.state(id))?;
        Ok(B256::from(state.storage(&address, &slot)))
    })?;

    m.register_blocking_method("eth_call", |p, c, _| -> RpcResult<Bytes> {
        let (request, block, overrides) = call_params(&p, &c)?;
        let outcome = ok(c
            .caller()
            .call(&block.block, &request, overrides.as_ref())
            .map_err(Into::into))?;
        Ok(outcome.output)
    })?;
    m.register_blocking_method("eth_estimateGas", |p, c, _| -> RpcResult<U64> {
        let (request, block, overrides) = call_params(&p, &c)?;
        let gas = ok(c
            .caller()
            .estimate_gas(&block.block, &request, overrides.as_ref())
            .map_err(Into::into))?;
        Ok(U64::from(gas))
    })?;

    m.register_method("eth_sendRawTransaction", |p, c, _| -> RpcResult<B256> {
        let raw: Bytes = p.one()?;
        if !c.accepts_transactions {
            return Err(RpcError::Server(
                "this node derives the chain from Bitcoin and does not take transactions: send them to the sequencer".into(),
            )
            .into());
        }
        ok(c.pool.submit_raw(&raw).map_err(Into::into))
    })?;
    m.register_method("eth_sendTransaction", |_, _, _| -> RpcResult<B256> {
        Err(RpcError::Server("unknown account".into()).into())
    })?;
    m.register_method("eth_sign", |_, _, _| -> RpcResult<Bytes> {
        Err(RpcError::Server("unknown account".into()).into())
    })?;

    m.register_method(
        "eth_getTransactionByHash",
        |p, c, _| -> RpcResult<Option<alloy_rpc_types_eth::Transaction>> {
            let hash: B256 = p.one()?;
            if let Some((number, index)) =
                ok(c.storage.transaction_location(&hash).map_err(Into::into))?
                && let Some(entry) = ok(c.storage.block_by_number(number).map_err(Into::into))?
                && let Some(tx) = entry.block.transactions.get(index)
            {
                return Ok(Some(convert::transaction(tx, Some((&entry.block, index)))));
            }
            Ok(c.pool.get(&hash).map(|tx| convert::transaction(&tx, None)))
        },
    )?;
    m.register_method(
        "eth_getRawTransactionByHash",
        |p, c, _| -> RpcResult<Option<Bytes>> {
            let hash: B256 = p.one()?;
            if let Some((number, index)) =
                ok(c.storage.transaction_location(&hash).map_err(Into::into))?
                && let Some(entry) = ok(c.storage.block_by_number(number).map_err(Into::into))?
            {
                return Ok(entry
                    .block
                    .transactions
                    .get(index)
                    .map(|t| t.encoded.clone()));
            }
            Ok(c.pool.get(&hash).map(|tx| tx.encoded.clone()))
        },
    )?;
    m.register_method(
        "eth_getTransactionReceipt",
        |p, c, _| -> RpcResult<Option<convert::CairnReceipt>> {
            let hash: B256 = p.one()?;
            let Some((number, index)) =
                ok(c.storage.transaction_location(&hash).map_err(Into::into))?
            else {
                return Ok(None);
            };
            let Some(entry) = ok(c.storage.block_by_number(number).map_err(Into::into))? else {
                return Ok(None);
            };
            ok(convert::receipt(&entry, index))
        },
    )?;

    m.register_blocking_method(
        "eth_getBlockByNumber",
        |p, c, _| -> RpcResult<Option<alloy_rpc_types_eth::Block>> {
            let mut seq = p.sequence();
            let tag: BlockNumberOrTag = seq.next()?;
            let full: Option<bool> = seq.optional_next()?;
            let entry = ok(c.block_for(BlockId::Number(tag)))?;
            Ok(entry.map(|e| convert::block(&e.block, full.unwrap_or(false))))
        },
    )?;
    m.register_blocking_method(
        "eth_getBlockByHash",
        |p, c, _| -> RpcResult<Option<alloy_rpc_types_eth::Block>> {
            let mut seq = p.sequence();
            let hash: B256 = seq.next()?;
            let full: Option<bool> = seq.optional_next()?;
            let entry = ok(c.storage.block_by_hash(&hash).map_err(Into::into))?;
            Ok(entry.map(|e| convert::block(&e.block, full.unwrap_or(false))))
        },
    )?;
    m.register_method(
        "eth_getBlockTransactionCountByNumber",
        |p, c, _| -> RpcResult<Option<U64>> {
            let tag: BlockNumberOrTag = p.one()?;
            let entry = ok(c.block_for(BlockId::Number(tag)))?;
            Ok(entry.map(|e| U64::from(e.block.transactions.len())))
        },
    )?;
    m.register_method(
        "eth_getBlockTransactionCountByHash",
        |p, c, _| -> RpcResult<Option<U64>> {
            let hash: B256 = p.one()?;
            let entry = ok(c.storage.block_by_hash(&hash).map_err(Into::into))?;
            Ok(entry.map(|e| U64::from(e.block.transactions.len())))
        },
    )?;
    m.register_method(
        "eth_getTransactionByBlockNumberAndIndex",
        |p, c, _| -> RpcResult<Option<alloy_rpc_types_eth::Transaction>> {
            let mut seq = p.sequence();
            let tag: BlockNumberOrTag = seq.next()?;
            let index: U64 = seq.next()?;
            let entry = ok(c.block_for(BlockId::Number(tag)))?;
            Ok(entry.and_then(|e| {
                let i = index.to::<usize>();
                e.block
                    .transactions
                    .get(i)
                    .map(|tx| convert::transaction(tx, Some((&e.block, i))))
            }))
        },
    )?;
    m.register_method(
        "eth_getTransactionByBlockHashAndIndex",
        |p, c, _| -> RpcResult<Option<alloy_rpc_types_eth::Transaction>> {
            let mut seq = p.sequence();
            let hash: B256 = seq.next()?;
            let index: U64 = seq.next()?;
            let entry = ok(c.storage.block_by_hash(&hash).map_err(Into::into))?;
            Ok(entry.and_then(|e| {
                let i = index.to::<usize>();
                e.block
                    .transactions
                    .get(i)
                    .map(|tx| convert::transaction(tx, Some((&e.block, i))))
            }))
        },
    )?;
    m.register_blocking_method(
        "eth_getBlockReceipts",
        |p, c, _| -> RpcResult<Option<Vec<convert::CairnReceipt>>> {
            let id: BlockId = p.one()?;
            let Some(entry) = ok(c.block_for(id))? else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(entry.receipts.len());
            for i in 0..entry.receipts.len() {
                if let Some(r) = ok(convert::receipt(&entry, i))? {
                    out.push(r);
                }
            }
            Ok(Some(out))
        },
    )?;
    m.register_method(
        "eth_getUncleCountByBlockNumber",
        |_, _, _| -> RpcResult<U64> { Ok(U64::ZERO) },
    )?;
    m.register_method(
        "eth_getUncleCountByBlockHash",
        |_, _, _| -> RpcResult<U64> { Ok(U64::ZERO) },
    )?;

    m.register_blocking_method("eth_getLogs", |p, c, _| -> RpcResult<Vec<RpcLog>> {
        let filter: Filter = p.one()?;
        ok(c.logs(&filter))
    })?;

    crate::filters::register(&mut m)?;
    crate::pubsub::register(&mut m)?;
    Ok(m)
}

/// `[address, block?]` of the account state methods.
fn address_and_block(p: &Params<'_>) -> RpcResult<(Address, Option<BlockId>)> {
    let mut seq = p.sequence();
    let address: Address = seq.next()?;
    let id: Option<BlockId> = seq.optional_next()?;
    Ok((address, id))
}

/// `[request, block?, stateOverrides?]` of `eth_call` and `eth_estimateGas`.
fn call_params(
    p: &Params<'_>,
    c: &RpcContext,
) -> RpcResult<(CallRequest, BlockWithReceipts, Option<StateOverride>)> {
    let mut seq = p.sequence();
    let request: CallRequest = seq.next()?;
    let id: Option<BlockId> = seq.optional_next()?;
    let overrides: Option<StateOverride> = seq.optional_next()?;
    let block = ok(c.state_block(id))?;
    Ok((request, block, overrides))
}

fn fee_history(
    c: &RpcContext,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> Result<FeeHistory, RpcError> {
    if let Some(p) = &percentiles
        && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
    {
        return Err(RpcError::InvalidParams("invalid reward percentiles".into()));
    }
    let count = count.min(MAX_FEE_HISTORY);
    let newest = c
        .resolve_number(newest)
        .ok_or_else(|| RpcError::InvalidParams("request beyond head block".into()))?;
    if count == 0 {
        return Ok(FeeHistory {
            oldest_block: newest,
            ..Default::default()
        });
    }
    let oldest = newest.saturating_sub(count - 1);
    let mut history = FeeHistory {
        oldest_block: oldest,
        ..Default::default()
    };
    let mut rewards = Vec::new();
    let mut last = None;
    for n in oldest..=newest {
        let entry = c
            .storage
            .block_by_number(n)?
            .ok_or(cairn_storage::StorageError::BlockNotFound(n))?;
        let header = &entry.block.header;
        let base = header.base_fee_per_gas.unwrap_or_default();
        history.base_fee_per_gas.push(base as u128);
        history
            .gas_used_ratio
            .push(header.gas_used as f64 / header.gas_limit as f64);
        history.base_fee_per_blob_gas.push(1);
        history.blob_gas_used_ratio.push(0.0);
        if let Some(p) = &percentiles {
            rewards.push(block_rewards(&entry, base, p));
        }
        last = Some(entry);
    }
    if let Some(entry) = last {
        history
            .base_fee_per_gas
            .push(next_base_fee(&entry.block.header, c.spec.base_fee_floor) as u128);
        history.base_fee_per_blob_gas.push(1);
    }
    if percentiles.is_some() {
        history.reward = Some(rewards);
    }
    Ok(history)
}

/// Tips at the requested gas-weighted percentiles of one block (geth's method).
fn block_rewards(entry: &BlockWithReceipts, base_fee: u64, percentiles: &[f64]) -> Vec<u128> {
    let mut tips: Vec<(u128, u64)> = entry
        .block
        .transactions
        .iter()
        .zip(entry.receipts.iter())
        .map(|(tx, r)| (tx.effective_tip(base_fee).unwrap_or_default(), r.gas_used))
        .collect();
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    tips.sort_unstable();
    let total: u64 = entry.block.header.gas_used.max(1);
    let mut out = Vec::with_capacity(percentiles.len());
    let mut i = 0;
    let mut cumulative = tips[0].1;
    for p in percentiles {
        let threshold = (total as f64 * p / 100.0) as u64;
        while cumulative < threshold && i + 1 < tips.len() {
            i += 1;
            cumulative += tips[i].1;
        }
        out.push(tips[i].0);
    }
    out
}
