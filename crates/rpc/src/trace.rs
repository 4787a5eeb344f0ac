//! OpenEthereum's (Parity's) `trace_` namespace, as reth and Erigon serve it: flat call
//! traces of recorded transactions and blocks, `trace`/`vmTrace`/`stateDiff` replays,
//! traced calls and raw transactions, and `trace_filter` over a block range. Cairn has
//! no block rewards, so no `reward` traces.

use std::collections::HashSet;
use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{B256, Bytes};
use alloy_rpc_types_eth::{TransactionInfo, TransactionRequest};
use alloy_rpc_types_trace::filter::TraceFilter;
use alloy_rpc_types_trace::parity::{
    LocalizedTransactionTrace, TraceResults, TraceResultsWithTransactionHash, TraceType,
};
use cairn_execution::{Inspected, Replay};
use cairn_storage::BlockWithReceipts;
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};

use crate::context::RpcContext;
use crate::debug::{DEFAULT_TRACE_TIMEOUT, traced};
use crate::error::RpcError;

/// The widest block range one `trace_filter` may re-execute.
pub const MAX_TRACE_FILTER_RANGE: u64 = 10_000;

/// `trace_`.
#[rpc(server, client, namespace = "trace")]
pub trait TraceApi {
    /// The call traces of a recorded transaction (`null` if unknown).
    #[method(name = "transaction")]
    async fn transaction(&self, hash: B256) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>>;

    /// The call traces of every transaction in a block (`null` if unknown).
    #[method(name = "block")]
    async fn block(&self, block: BlockId) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>>;

    /// Re-execute a recorded transaction, answering the trace types asked for.
    #[method(name = "replayTransaction")]
    async fn replay_transaction(
        &self,
        hash: B256,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
    ) -> RpcResult<TraceResults>;

    /// Re-execute every transaction of a block, answering the trace types asked for.
    #[method(name = "replayBlockTransactions")]
    async fn replay_block_transactions(
        &self,
        block: BlockId,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
    ) -> RpcResult<Option<Vec<TraceResultsWithTransactionHash>>>;

    /// Trace a call on the state after `block`.
    #[method(name = "call")]
    async fn call(
        &self,
        request: TransactionRequest,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
        block: Option<BlockId>,
    ) -> RpcResult<TraceResults>;

    /// Trace a signed transaction without sending it.
    #[method(name = "rawTransaction")]
    async fn raw_transaction(
        &self,
        raw: Bytes,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
        block: Option<BlockId>,
    ) -> RpcResult<TraceResults>;

    /// The call traces in a block range from or to the given addresses.
    #[method(name = "filter")]
    async fn filter(&self, filter: TraceFilter) -> RpcResult<Vec<LocalizedTransactionTrace>>;
}

/// Serves `trace_` from the node's context.
pub(crate) struct TraceRpc(pub(crate) Arc<RpcContext>);

#[async_trait]
impl TraceApiServer for TraceRpc {
    async fn transaction(&self, hash: B256) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let Some((entry, index)) = ctx.recorded_transaction(&hash)? else {
                return Ok(None);
            };
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            replay.skip_to(index)?;
            flat_traces(&mut replay, &entry)
        })
        .await
    }

    async fn block(&self, block: BlockId) -> RpcResult<Option<Vec<LocalizedTransactionTrace>>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let Some(entry) = ctx.block_for(block)? else {
                return Ok(None);
            };
            Ok(Some(block_traces(ctx, &entry)?))
        })
        .await
    }

    async fn replay_transaction(
        &self,
        hash: B256,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
    ) -> RpcResult<TraceResults> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let (entry, index) = ctx.known_transaction(&hash)?;
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            replay.skip_to(index)?;
            let mut inspector =
                TracingInspector::new(TracingInspectorConfig::from_parity_config(&trace_types));
            replay
                .inspect_next(&mut inspector, |inspector, seen| {
                    results(std::mem::take(inspector), seen, &trace_types)
                })?
                .ok_or_else(|| RpcError::Internal("the block lost a transaction".into()))?
        })
        .await
    }

    async fn replay_block_transactions(
        &self,
        block: BlockId,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
    ) -> RpcResult<Option<Vec<TraceResultsWithTransactionHash>>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let Some(entry) = ctx.block_for(block)? else {
                return Ok(None);
            };
            if entry.block.number() == 0 {
                return Ok(Some(Vec::new()));
            }
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            let mut out = Vec::new();
            loop {
                let mut inspector =
                    TracingInspector::new(TracingInspectorConfig::from_parity_config(&trace_types));
                let Some(transaction_hash) = entry
                    .block
                    .transactions
                    .get(replay.position())
                    .map(|tx| tx.hash)
                else {
                    break;
                };
                let Some(full_trace) = replay.inspect_next(&mut inspector, |inspector, seen| {
                    results(std::mem::take(inspector), seen, &trace_types)
                })?
                else {
                    break;
                };
                out.push(TraceResultsWithTransactionHash {
                    full_trace: full_trace?,
                    transaction_hash,
                });
            }
            Ok(Some(out))
        })
        .await
    }

    async fn call(
        &self,
        request: TransactionRequest,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
        block: Option<BlockId>,
    ) -> RpcResult<TraceResults> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            traced_call(ctx, &request, &trace_types, block)
        })
        .await
    }

    async fn raw_transaction(
        &self,
        raw: Bytes,
        trace_types: HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
        block: Option<BlockId>,
    ) -> RpcResult<TraceResults> {
        let tx = cairn_primitives::decode_raw_transaction(&raw)
            .map_err(|e| RpcError::InvalidParams(format!("invalid transaction: {e}")))?;
        // Traced as the sequencer would run it: with its own nonce, gas and fees.
        let request = TransactionRequest::from_transaction_with_sender(tx.envelope, tx.sender);
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            traced_call(ctx, &request, &trace_types, block)
        })
        .await
    }

    async fn filter(&self, filter: TraceFilter) -> RpcResult<Vec<LocalizedTransactionTrace>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT * 6, move |ctx| {
            let head = ctx.storage.head_number();
            let from = filter.from_block.unwrap_or(0).max(1);
            let to = filter.to_block.unwrap_or(head).min(head);
            if filter.to_block.is_some_and(|to| to < from) && filter.from_block.is_some() {
                return Err(RpcError::InvalidParams("invalid block range params".into()));
            }
            if to.saturating_sub(from) >= MAX_TRACE_FILTER_RANGE {
                return Err(RpcError::InvalidParams(format!(
                    "query exceeds max block range {MAX_TRACE_FILTER_RANGE}"
                )));
            }
            let matcher = filter.matcher();
            let skip = filter.after.unwrap_or(0) as usize;
            let take = filter.count.map_or(usize::MAX, |c| c as usize);
            let mut out = Vec::new();
            for n in from..=to {
                let Some(entry) = ctx.storage.block_by_number(n)? else {
                    break;
                };
                if entry.block.transactions.is_empty() {
                    continue;
                }
                out.extend(
                    block_traces(ctx, &entry)?
                        .into_iter()
                        .filter(|t| matcher.matches(&t.trace)),
                );
                if out.len() >= skip.saturating_add(take) {
                    break;
                }
            }
            Ok(out.into_iter().skip(skip).take(take).collect())
        })
        .await
    }
}

/// Every transaction's flat call traces in a recorded block, in order.
fn block_traces(
    ctx: &RpcContext,
    entry: &BlockWithReceipts,
) -> Result<Vec<LocalizedTransactionTrace>, RpcError> {
    if entry.block.number() == 0 || entry.block.transactions.is_empty() {
        return Ok(Vec::new());
    }
    let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
    let mut out = Vec::new();
    while let Some(traces) = flat_traces(&mut replay, entry)? {
        out.extend(traces);
    }
    Ok(out)
}

/// The next transaction's flat call traces (`None` at the block's end).
fn flat_traces(
    replay: &mut Replay<'_>,
    entry: &BlockWithReceipts,
) -> Result<Option<Vec<LocalizedTransactionTrace>>, RpcError> {
    let index = replay.position();
    let info = tx_info(entry, index);
    let mut inspector = TracingInspector::new(TracingInspectorConfig::default_parity());
    let traces = replay.inspect_next(&mut inspector, |inspector, seen| {
        let gas_used = seen.outcome.result.tx_gas_used();
        std::mem::take(inspector)
            .into_parity_builder()
            .with_transaction_gas_used(gas_used)
            .into_localized_transaction_traces(info)
    })?;
    Ok(traces)
}

/// Where a recorded transaction sits, for localized traces.
fn tx_info(entry: &BlockWithReceipts, index: usize) -> TransactionInfo {
    TransactionInfo {
        hash: entry.block.transactions.get(index).map(|tx| tx.hash),
        index: Some(index as u64),
        block_hash: Some(entry.block.hash),
        block_number: Some(entry.block.number()),
        base_fee: entry.block.header.base_fee_per_gas,
        block_timestamp: Some(entry.block.header.timestamp),
    }
}

/// `trace_call`'s answer for `request` on the state after `block`.
fn traced_call(
    ctx: &RpcContext,
    request: &TransactionRequest,
    trace_types: &HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
    block: Option<BlockId>,
) -> Result<TraceResults, RpcError> {
    let entry = ctx.state_block(block.or(Some(BlockId::Number(BlockNumberOrTag::Latest))))?;
    let mut inspector =
        TracingInspector::new(TracingInspectorConfig::from_parity_config(trace_types));
    ctx.caller().inspect(
        &entry.block,
        request,
        None,
        None,
        &mut inspector,
        |inspector, seen| results(std::mem::take(inspector), seen, trace_types),
    )?
}

/// The `trace`/`vmTrace`/`stateDiff` answer for the transaction just watched.
fn results(
    inspector: TracingInspector,
    seen: Inspected<'_>,
    trace_types: &HashSet<TraceType, alloy_primitives::map::DefaultHashBuilder>,
) -> Result<TraceResults, RpcError> {
    inspector
        .into_parity_builder()
        .with_transaction_gas_used(seen.outcome.result.tx_gas_used())
        .into_trace_results_with_state(seen.outcome, trace_types, seen.db)
        .map_err(|e| RpcError::Internal(e.to_string()))
}
