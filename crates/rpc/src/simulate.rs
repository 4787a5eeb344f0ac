//! `eth_simulateV1` as geth answers it: a sequence of simulated blocks on top of a
//! recorded one, each with block and state overrides and calls from any sender, run
//! through Cairn's block builder (the L1 data fee included), with `validation`
//! (transaction checks) and `traceTransfers` (ether moves as ERC-20-like logs from
//! `0xEeee…EEeE`). Numbers past a gap are filled with empty blocks. Simulated blocks have
//! no state root (zero): Cairn's commitment covers only real blocks.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_rpc_types_eth::BlockOverrides;
use alloy_rpc_types_eth::simulate::{SimCallResult, SimulateError as RpcSimError, SimulatePayload};
use cairn_execution::simulate::{SimulateError, SimulatedBlock, SimulatedStatus, Simulator};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use serde_json::Value;

use crate::context::RpcContext;
use crate::convert;
use crate::debug::{DEFAULT_TRACE_TIMEOUT, traced};
use crate::error::{EXECUTION_REVERTED, RpcError, revert_reason};

/// The most blocks one simulation may make (geth's limit), gaps included.
pub const MAX_SIMULATED_BLOCKS: u64 = 256;
/// The most calls one simulation may run.
pub const MAX_SIMULATED_CALLS: usize = 1_000;

/// `eth_simulateV1`.
#[rpc(server, client, namespace = "eth")]
pub trait SimulateApi {
    #[method(name = "simulateV1")]
    async fn simulate_v1(
        &self,
        payload: SimulatePayload,
        block: Option<BlockId>,
    ) -> RpcResult<Vec<Value>>;
}

pub(crate) struct SimulateRpc(pub(crate) Arc<RpcContext>);

#[async_trait]
impl SimulateApiServer for SimulateRpc {
    async fn simulate_v1(
        &self,
        payload: SimulatePayload,
        block: Option<BlockId>,
    ) -> RpcResult<Vec<Value>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            simulate(ctx, &payload, block)
        })
        .await
    }
}

fn coded(code: i32, message: String) -> RpcError {
    RpcError::Coded(code, message)
}

fn simulate(
    ctx: &RpcContext,
    payload: &SimulatePayload,
    block: Option<BlockId>,
) -> Result<Vec<Value>, RpcError> {
    let base = ctx
        .block_for(block.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)))?
        .ok_or_else(|| RpcError::Server("header not found".into()))?;
    let calls: usize = payload
        .block_state_calls
        .iter()
        .map(|b| b.calls.len())
        .sum();
    if calls > MAX_SIMULATED_CALLS {
        return Err(coded(
            -38026,
            format!("too many calls: {calls} (at most {MAX_SIMULATED_CALLS})"),
        ));
    }
    let mut simulator = Simulator::new(
        &ctx.storage,
        &ctx.spec,
        &base.block,
        ctx.l1_fee_rate(),
        payload.validation,
        payload.trace_transfers,
    )
    .map_err(error)?;
    let first = base.block.number() + 1;
    let mut out = Vec::new();
    for sim in &payload.block_state_calls {
        let mut header = simulator.next_header();
        let overrides = sim.block_overrides.as_ref();
        // A number past the next one: the blocks between are simulated empty.
        if let Some(number) = overrides.and_then(|o| o.number) {
            let number = u64::try_from(number).map_err(|_| {
                RpcError::InvalidParams(format!("block number {number} is out of range"))
            })?;
            if number < header.number {
                return Err(coded(
                    -38020,
                    format!(
                        "block numbers must be in order: {number} <= {}",
                        header.number - 1
                    ),
                ));
            }
            if number - first >= MAX_SIMULATED_BLOCKS {
                return Err(coded(
                    -38026,
                    format!("too many blocks: at most {MAX_SIMULATED_BLOCKS}"),
                ));
            }
            while header.number < number {
                let empty = simulator.block(header, None, &[]).map_err(error)?;
                out.push(block_json(&empty, payload.return_full_transactions)?);
                header = simulator.next_header();
            }
        }
        if header.number - first >= MAX_SIMULATED_BLOCKS {
            return Err(coded(
                -38026,
                format!("too many blocks: at most {MAX_SIMULATED_BLOCKS}"),
            ));
        }
        if let Some(o) = overrides {
            apply_block_overrides(&mut header, o, simulator.next_header().timestamp - 1)?;
        }
        let simulated = simulator
            .block(header, sim.state_overrides.as_ref(), &sim.calls)
            .map_err(error)?;
        out.push(block_json(&simulated, payload.return_full_transactions)?);
    }
    Ok(out)
}

/// The header fields a block override sets (`parent_time`: the previous block's time).
fn apply_block_overrides(
    header: &mut cairn_primitives::Header,
    o: &BlockOverrides,
    parent_time: u64,
) -> Result<(), RpcError> {
    if let Some(time) = o.time {
        if time <= parent_time {
            return Err(coded(
                -38021,
                format!("block timestamps must be in order: {time} <= {parent_time}"),
            ));
        }
        header.timestamp = time;
    }
    if let Some(gas_limit) = o.gas_limit {
        header.gas_limit = gas_limit;
    }
    if let Some(coinbase) = o.coinbase {
        header.beneficiary = coinbase;
    }
    if let Some(random) = o.random {
        header.mix_hash = random;
    }
    if let Some(base_fee) = o.base_fee {
        header.base_fee_per_gas = Some(base_fee.saturating_to());
    }
    Ok(())
}

fn error(e: SimulateError) -> RpcError {
    match e {
        SimulateError::Invalid { code, message } => coded(code, message),
        SimulateError::Call(e) => e.into(),
        SimulateError::Execution(e) => e.into(),
    }
}

/// A simulated block as `eth_getBlockByNumber` shows a block, with its `calls`.
fn block_json(sim: &SimulatedBlock, full: bool) -> Result<Value, RpcError> {
    let block = &sim.block;
    let mut log_index = 0u64;
    let calls: Vec<SimCallResult> = sim
        .calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let tx = &block.transactions[i];
            let logs = call
                .logs
                .iter()
                .map(|log| {
                    log_index += 1;
                    convert::rpc_log(block, tx, i, log_index - 1, log)
                })
                .collect();
            let error = match &call.status {
                SimulatedStatus::Success => None,
                SimulatedStatus::Revert => Some(RpcSimError {
                    code: EXECUTION_REVERTED,
                    message: match revert_reason(&call.output) {
                        Some(reason) => format!("execution reverted: {reason}"),
                        None => "execution reverted".into(),
                    },
                    data: Some(call.output.clone()),
                }),
                SimulatedStatus::Halt(message) => Some(RpcSimError {
                    code: -32015,
                    message: message.clone(),
                    data: None,
                }),
            };
            SimCallResult {
                return_data: call.output.clone(),
                logs,
                gas_used: call.gas_used,
                max_used_gas: None,
                status: call.status == SimulatedStatus::Success,
                error,
            }
        })
        .collect();
    let mut value = serde_json::to_value(convert::block(block, full))
        .map_err(|e| RpcError::Internal(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "calls".into(),
            serde_json::to_value(calls).map_err(|e| RpcError::Internal(e.to_string()))?,
        );
    }
    Ok(value)
}
