//! Polled filters: `eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`,
//! `eth_getFilterLogs`, `eth_uninstallFilter`. Like geth, a filter not polled
//! for five minutes is removed.

use std::time::Instant;

use alloy_primitives::U128;
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, FilterBlockOption};
use jsonrpsee::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use tokio::sync::broadcast;

use crate::context::RpcContext;
use crate::convert;
use crate::error::RpcError;
use crate::filter_store::Kind;

fn not_found() -> RpcError {
    RpcError::Server("filter not found".into())
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

pub(crate) fn register(
    m: &mut RpcModule<RpcContext>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("eth_newFilter", |p, c, _| -> RpcResult<U128> {
        let filter: Filter = p.one()?;
        let head = c.storage.head_number();
        let next_block = match filter.block_option {
            FilterBlockOption::Range {
                from_block: Some(BlockNumberOrTag::Number(n)),
                ..
            } => n,
            _ => head + 1,
        };
        Ok(c.filters.install(Kind::Logs {
            filter: Box::new(filter),
            next_block,
        })?)
    })?;
    m.register_method("eth_newBlockFilter", |_, c, _| -> RpcResult<U128> {
        let next_block = c.storage.head_number() + 1;
        Ok(c.filters.install(Kind::Blocks { next_block })?)
    })?;
    m.register_method(
        "eth_newPendingTransactionFilter",
        |_, c, _| -> RpcResult<U128> {
            Ok(c.filters.install(Kind::PendingTx {
                rx: c.pool.subscribe_hashes(),
            })?)
        },
    )?;
    m.register_method("eth_uninstallFilter", |p, c, _| -> RpcResult<bool> {
        let id: U128 = p.one()?;
        Ok(c.filters.entries.lock().remove(&id).is_some())
    })?;
    m.register_blocking_method(
        "eth_getFilterChanges",
        |p, c, _| -> RpcResult<serde_json::Value> {
            let id: U128 = p.one()?;
            let head = c.storage.head_number();
            // Take what is needed out of the entry; query storage without the lock.
            let (filter, from) = {
                let mut entries = c.filters.entries.lock();
                let entry = entries.get_mut(&id).ok_or_else(not_found)?;
                entry.last_poll = Instant::now();
                match &mut entry.kind {
                    Kind::PendingTx { rx } => {
                        let mut hashes = Vec::new();
                        loop {
                            match rx.try_recv() {
                                Ok(h) => hashes.push(h),
                                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                                Err(_) => break,
                            }
                        }
                        return Ok(serde_json::to_value(hashes).unwrap_or_default());
                    }
                    Kind::Blocks { next_block } => {
                        let from = *next_block;
                        *next_block = head + 1;
                        (None, from)
                    }
                    Kind::Logs { filter, next_block } => {
                        let from = *next_block;
                        *next_block = head + 1;
                        (Some(filter.clone()), from)
                    }
                }
            };
            match filter {
                None => {
                    let mut hashes = Vec::new();
                    for n in from..=head {
                        if let Some(e) = c.storage.block_by_number(n).map_err(RpcError::from)? {
                            hashes.push(e.block.hash);
                        }
                    }
                    Ok(serde_json::to_value(hashes).unwrap_or_default())
                }
                Some(filter) => {
                    if from > head {
                        return Ok(serde_json::json!([]));
                    }
                    let to = match filter.block_option {
                        FilterBlockOption::Range {
                            to_block: Some(BlockNumberOrTag::Number(n)),
                            ..
                        } => n.min(head),
                        _ => head,
                    };
                    let ranged = (*filter).clone().from_block(from).to_block(to);
                    let logs = c.logs(&ranged)?;
                    Ok(serde_json::to_value(logs).unwrap_or_default())
                }
            }
        },
    )?;
    m.register_blocking_method(
        "eth_getFilterLogs",
        |p, c, _| -> RpcResult<Vec<alloy_rpc_types_eth::Log>> {
            let id: U128 = p.one()?;
            let filter = {
                let mut entries = c.filters.entries.lock();
                let entry = entries.get_mut(&id).ok_or_else(not_found)?;
                entry.last_poll = Instant::now();
                match &entry.kind {
                    Kind::Logs { filter, .. } => filter.clone(),
                    _ => return Err(not_found().into()),
                }
            };
            Ok(c.logs(&filter)?)
        },
    )?;
    let _ = convert::hashes;
    Ok(())
}
