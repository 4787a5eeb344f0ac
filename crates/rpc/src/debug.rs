//! geth's `debug_trace*`: recorded transactions re-executed from the history window,
//! and calls, with revm-inspectors' tracers (`callTracer`, `prestateTracer`,
//! `4byteTracer`, `noopTracer`, `flatCallTracer`, `muxTracer` and the default struct
//! logger) watching. Blocks older than the window get the storage's error naming it.

use std::sync::Arc;
use std::time::Duration;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_trace::geth::{
    GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult,
};
use cairn_execution::{Inspected, Replay};
use cairn_storage::BlockWithReceipts;
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use revm_inspectors::tracing::{DebugInspector, TransactionContext};

use crate::context::RpcContext;
use crate::error::RpcError;

/// How long one trace may run unless the request's `timeout` says otherwise (geth's).
pub const DEFAULT_TRACE_TIMEOUT: Duration = Duration::from_secs(5);

/// `debug_`.
#[rpc(server, client, namespace = "debug")]
pub trait DebugApi {
    /// Re-execute a recorded transaction with a tracer watching.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(
        &self,
        hash: B256,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace>;

    /// Run a call on the state after `block` with a tracer watching.
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace>;

    /// Trace every transaction of a block.
    #[method(name = "traceBlockByNumber")]
    async fn trace_block_by_number(
        &self,
        block: BlockNumberOrTag,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>>;

    /// Trace every transaction of a block.
    #[method(name = "traceBlockByHash")]
    async fn trace_block_by_hash(
        &self,
        hash: B256,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>>;
}

/// Serves `debug_` from the node's context.
pub(crate) struct DebugRpc(pub(crate) Arc<RpcContext>);

#[async_trait]
impl DebugApiServer for DebugRpc {
    async fn trace_transaction(
        &self,
        hash: B256,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace> {
        let options = options.unwrap_or_default();
        let timeout = trace_timeout(options.timeout.as_deref())?;
        traced(self.0.clone(), timeout, move |ctx| {
            let (entry, index) = ctx.known_transaction(&hash)?;
            let number = entry.block.number();
            let mut inspector = debug_inspector(options)?;
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            replay.skip_to(index)?;
            let context = tx_context(&entry, index);
            let gas_limit = entry.block.transactions.get(index).map(|tx| tx.gas_limit());
            replay
                .inspect_next(&mut inspector, |inspector, seen| {
                    geth_result(inspector, Some(context), gas_limit, seen)
                })?
                .ok_or_else(|| RpcError::Internal(format!("block {number} lost a transaction")))?
        })
        .await
    }

    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace> {
        let options = options.unwrap_or_default();
        let timeout = trace_timeout(options.tracing_options.timeout.as_deref())?;
        if options.tx_index.is_some() {
            return Err(RpcError::InvalidParams(
                "txIndex is not supported: trace the call on the state after a block".into(),
            )
            .into());
        }
        traced(self.0.clone(), timeout, move |ctx| {
            let entry = ctx.state_block(block)?;
            let mut inspector = debug_inspector(options.tracing_options)?;
            ctx.caller().inspect(
                &entry.block,
                &request,
                options.state_overrides.as_ref(),
                options.block_overrides.as_ref(),
                &mut inspector,
                |inspector, seen| geth_result(inspector, None, None, seen),
            )?
        })
        .await
    }

    async fn trace_block_by_number(
        &self,
        block: BlockNumberOrTag,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        self.trace_block(BlockId::Number(block), options).await
    }

    async fn trace_block_by_hash(
        &self,
        hash: B256,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        self.trace_block(BlockId::from(hash), options).await
    }
}

impl DebugRpc {
    async fn trace_block(
        &self,
        id: BlockId,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        let options = options.unwrap_or_default();
        let timeout = trace_timeout(options.timeout.as_deref())?;
        traced(self.0.clone(), timeout, move |ctx| {
            let entry = ctx
                .block_for(id)?
                .ok_or_else(|| RpcError::Server(format!("block {id} not found")))?;
            if entry.block.number() == 0 {
                return Err(RpcError::Server("genesis is not traceable".into()));
            }
            let mut inspector = debug_inspector(options)?;
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            let mut out = Vec::with_capacity(replay.transactions().len());
            loop {
                let index = replay.position();
                let context = tx_context(&entry, index);
                let gas_limit = entry.block.transactions.get(index).map(|tx| tx.gas_limit());
                let Some(result) = replay.inspect_next(&mut inspector, |inspector, seen| {
                    geth_result(inspector, Some(context), gas_limit, seen)
                })?
                else {
                    break;
                };
                let tx_hash = context.tx_hash;
                out.push(match result {
                    Ok(result) => TraceResult::Success { result, tx_hash },
                    Err(e) => TraceResult::Error {
                        error: e.to_string(),
                        tx_hash,
                    },
                });
                inspector
                    .fuse()
                    .map_err(|e| RpcError::Internal(e.to_string()))?;
            }
            Ok(out)
        })
        .await
    }
}

/// The tracer `options` ask for; geth's errors for unknown tracers and bad configs.
fn debug_inspector(options: GethDebugTracingOptions) -> Result<DebugInspector, RpcError> {
    DebugInspector::new(options).map_err(|e| RpcError::InvalidParams(e.to_string()))
}

/// Which recorded transaction a trace is of.
pub(crate) fn tx_context(entry: &BlockWithReceipts, index: usize) -> TransactionContext {
    TransactionContext {
        block_hash: Some(entry.block.hash),
        tx_index: Some(index),
        tx_hash: entry.block.transactions.get(index).map(|tx| tx.hash),
    }
}

/// The tracer's answer for the transaction it just watched. A recorded transaction's
/// top frame shows its whole gas limit (`gas_limit`), as geth shows it, not the part left
/// to the EVM after the L1 data fee.
fn geth_result(
    inspector: &mut DebugInspector,
    context: Option<TransactionContext>,
    gas_limit: Option<u64>,
    seen: Inspected<'_>,
) -> Result<GethTrace, RpcError> {
    let mut db = seen.db;
    let mut tx = seen.tx.clone();
    if let Some(limit) = gas_limit {
        tx.gas_limit = limit;
    }
    inspector
        .get_result(context, &tx, seen.block, seen.outcome, &mut db)
        .map_err(|e| RpcError::Internal(e.to_string()))
}

/// Run a trace on a blocking thread, giving up after `timeout` with geth's error. The
/// abandoned worker runs on to the end of its (gas-capped) execution and is dropped.
pub(crate) async fn traced<T: Send + 'static>(
    ctx: Arc<RpcContext>,
    timeout: Duration,
    work: impl FnOnce(&RpcContext) -> Result<T, RpcError> + Send + 'static,
) -> RpcResult<T> {
    let task = tokio::task::spawn_blocking(move || work(&ctx));
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result.map_err(Into::into),
        Ok(Err(join)) => Err(RpcError::Internal(join.to_string()).into()),
        Err(_) => Err(RpcError::Server("execution timeout".into()).into()),
    }
}

/// geth's `timeout` option: a Go duration such as `"10s"`, `"500ms"` or `"1m30s"`.
pub(crate) fn trace_timeout(text: Option<&str>) -> Result<Duration, RpcError> {
    let Some(text) = text else {
        return Ok(DEFAULT_TRACE_TIMEOUT);
    };
    parse_go_duration(text)
        .ok_or_else(|| RpcError::InvalidParams(format!("time: invalid duration \"{text}\"")))
}

fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(value * seconds).ok()?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_durations_and_refuses_others() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("5 days"), None);
        let err = trace_timeout(Some("soon")).expect_err("refused");
        assert_eq!(err.to_string(), "time: invalid duration \"soon\"");
        assert_eq!(trace_timeout(None).expect("default"), DEFAULT_TRACE_TIMEOUT);
    }
}
