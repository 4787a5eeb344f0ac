//! WebSocket subscriptions on the same port as HTTP.

use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use futures::StreamExt;

use crate::harness::*;

#[tokio::test]
async fn new_heads_logs_and_pending_transactions_over_websocket() {
    let node = TestNode::start().await;
    let counter = deploy_counter(&node, 5).await;
    let ws = ProviderBuilder::new()
        .connect_ws(WsConnect::new(node.node.ws_url()))
        .await
        .expect("ws");
    let mut heads = ws.subscribe_blocks().await.expect("newHeads").into_stream();
    let mut logs = ws
        .subscribe_logs(
            &Filter::new()
                .address(counter)
                .event_signature(Counter::Incremented::SIGNATURE_HASH),
        )
        .await
        .expect("logs")
        .into_stream();
    let mut pending = ws
        .subscribe_pending_transactions()
        .await
        .expect("pending")
        .into_stream();

    let p = node.provider(5);
    let call = Counter::incCall { by: U256::from(3) }.abi_encode();
    let hash = send_call(&node, 5, counter, call, 100_000).await;

    let within = Duration::from_secs(10);
    let seen = tokio::time::timeout(within, pending.next())
        .await
        .expect("pending in time")
        .expect("hash");
    assert_eq!(seen, hash);
    let log = tokio::time::timeout(within, logs.next())
        .await
        .expect("log in time")
        .expect("log");
    assert_eq!(log.transaction_hash, Some(hash));
    let event = Counter::Incremented::decode_log_data(log.data()).expect("decodes");
    assert_eq!(event.newCount, U256::from(3));
    let r = receipt(&p, hash).await;
    let mut saw_block = false;
    while let Ok(Some(head)) = tokio::time::timeout(within, heads.next()).await {
        if head.number >= r.block_number.expect("mined") {
            saw_block = true;
            break;
        }
    }
    assert!(saw_block, "newHeads reached the block with the transaction");
    node.node.shutdown().await;
}
