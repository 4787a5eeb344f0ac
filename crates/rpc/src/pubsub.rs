//! WebSocket subscriptions: `eth_subscribe` with `newHeads`, `logs` and
//! `newPendingTransactions`, and `eth_unsubscribe`.

use alloy_rpc_types_eth::Filter;
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage, SubscriptionSink};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::context::RpcContext;
use crate::convert;

fn message(value: &impl Serialize) -> Option<SubscriptionMessage> {
    serde_json::value::to_raw_value(value).ok().map(Into::into)
}

async fn forward<T: Clone, F>(sink: SubscriptionSink, mut rx: broadcast::Receiver<T>, mut f: F)
where
    F: FnMut(T) -> Vec<SubscriptionMessage>,
{
    loop {
        tokio::select! {
            item = rx.recv() => match item {
                Ok(item) => {
                    for msg in f(item) {
                        if sink.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = sink.closed() => return,
        }
    }
}

pub(crate) fn register(
    m: &mut RpcModule<RpcContext>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params, pending: PendingSubscriptionSink, ctx, _| async move {
            let mut seq = params.sequence();
            let kind: String = match seq.next() {
                Ok(k) => k,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            match kind.as_str() {
                "newHeads" => {
                    let rx = ctx.blocks.subscribe();
                    let sink = pending.accept().await?;
                    forward(sink, rx, |entry| {
                        message(&convert::header(&entry.block))
                            .into_iter()
                            .collect()
                    })
                    .await;
                }
                "logs" => {
                    let filter: Filter = match seq.optional_next() {
                        Ok(f) => f.unwrap_or_default(),
                        Err(e) => {
                            pending.reject(e).await;
                            return Ok(());
                        }
                    };
                    let rx = ctx.blocks.subscribe();
                    let sink = pending.accept().await?;
                    forward(sink, rx, move |entry| {
                        if !filter.matches_bloom(entry.block.header.logs_bloom) {
                            return Vec::new();
                        }
                        convert::block_logs(&entry)
                            .filter(|log| filter.matches(&log.inner))
                            .filter_map(|log| message(&log))
                            .collect()
                    })
                    .await;
                }
                "newPendingTransactions" => {
                    let full: bool = seq.optional_next().ok().flatten().unwrap_or(false);
                    let rx = ctx.pool.subscribe_hashes();
                    let sink = pending.accept().await?;
                    let pool = ctx.pool.clone();
                    forward(sink, rx, move |hash| {
                        if full {
                            pool.get(&hash)
                                .and_then(|tx| message(&convert::transaction(&tx, None)))
                                .into_iter()
                                .collect()
                        } else {
                            message(&hash).into_iter().collect()
                        }
                    })
                    .await;
                }
                "syncing" => {
                    let sink = pending.accept().await?;
                    if let Some(msg) = message(&false) {
                        let _ = sink.send(msg).await;
                    }
                    sink.closed().await;
                }
                other => {
                    pending
                        .reject(jsonrpsee::types::ErrorObjectOwned::owned(
                            -32602,
                            format!("invalid subscription type: {other}"),
                            None::<()>,
                        ))
                        .await;
                }
            }
            Ok(())
        },
    )?;
    Ok(())
}
