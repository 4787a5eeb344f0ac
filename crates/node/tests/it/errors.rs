//! Bad input gets geth's errors and the node keeps serving.

use alloy::consensus::{SignableTransaction, TxEip4844, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::Provider;
use serde_json::{Value, json};

use crate::harness::*;

async fn send_err(node: &TestNode, raw: &Bytes) -> (i64, String) {
    let err = node
        .provider(0)
        .send_raw_transaction(raw)
        .await
        .expect_err("refused");
    let payload = err
        .as_error_resp()
        .unwrap_or_else(|| panic!("not a JSON-RPC error: {err}"));
    (payload.code, payload.message.to_string())
}

async fn post(node: &TestNode, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(node.node.http_url())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("http");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn transaction_errors_use_geths_messages() {
    let node = TestNode::start().await;
    let s = node.signer(8);
    let to = node.address(9);
    let p = node.provider(8);
    let h = *p
        .send_raw_transaction(&transfer(&s, 0, to, 1))
        .await
        .expect("accepted")
        .tx_hash();

    let (code, msg) = send_err(&node, &transfer(&s, 0, to, 1)).await;
    assert_eq!((code, msg.as_str()), (-32000, "already known"));
    receipt(&p, h).await;
    let (code, msg) = send_err(&node, &transfer(&s, 0, to, 2)).await;
    assert_eq!(code, -32000);
    assert!(msg.starts_with("nonce too low"), "{msg}");

    let poor = alloy::signers::local::PrivateKeySigner::random();
    let (_, msg) = send_err(&node, &transfer(&poor, 0, to, 1)).await;
    assert!(
        msg.starts_with("insufficient funds for gas * price + value"),
        "{msg}"
    );

    let wrong_chain = sign_legacy(&s, 1, to, 1, Some(1), MAX_FEE);
    assert_eq!(send_err(&node, &wrong_chain).await.1, "invalid chain id");
    let unprotected = sign_legacy(&s, 1, to, 1, None, MAX_FEE);
    assert_eq!(
        send_err(&node, &unprotected).await.1,
        "only replay-protected (EIP-155) transactions allowed over RPC"
    );

    let low_gas = sign_transfer(&s, 1, to, 1, 20_000, (MAX_FEE, TIP));
    assert!(
        send_err(&node, &low_gas)
            .await
            .1
            .starts_with("intrinsic gas too low")
    );
    let cheap = sign_transfer(&s, 1, to, 1, 21_000, (1, 0));
    assert!(
        send_err(&node, &cheap)
            .await
            .1
            .starts_with("max fee per gas less than block base fee")
    );
    let huge_gas = sign_transfer(&s, 1, to, 0, 300_000_000, (MAX_FEE, TIP));
    assert_eq!(
        send_err(&node, &huge_gas).await.1,
        "exceeds block gas limit"
    );
    let oversized = sign_1559(
        &s,
        1,
        TxKind::Call(to),
        U256::ZERO,
        vec![1u8; 130 * 1024].into(),
        16_000_000,
        MAX_FEE,
        TIP,
    );
    assert_eq!(send_err(&node, &oversized).await.1, "oversized data");

    let mut blob = TxEip4844 {
        chain_id: CHAIN_ID,
        nonce: 1,
        gas_limit: 21_000,
        max_fee_per_gas: MAX_FEE,
        max_priority_fee_per_gas: TIP,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        blob_versioned_hashes: vec![alloy::primitives::B256::repeat_byte(1)],
        max_fee_per_blob_gas: 1,
        input: Bytes::new(),
    };
    let sig = s.sign_transaction_sync(&mut blob).expect("sign");
    let raw: Bytes = TxEnvelope::from(blob.into_signed(sig))
        .encoded_2718()
        .into();
    assert_eq!(
        send_err(&node, &raw).await.1,
        "transaction type not supported"
    );

    let (code, msg) = send_err(&node, &Bytes::from_static(&[0xf8, 0x01, 0x02])).await;
    assert_eq!(code, -32000);
    assert!(msg.starts_with("rlp:"), "{msg}");

    // Still serving, and nothing bad got in.
    assert_eq!(
        p.get_transaction_count(node.address(8))
            .await
            .expect("nonce"),
        1
    );
    assert_eq!(node.node.pool.len(), 0);
    node.node.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_json_rpc_errors() {
    let node = TestNode::start().await;
    let (_, v) = post(
        &node,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}"#,
    )
    .await;
    assert_eq!(v["error"]["code"], -32601);
    let (_, v) = post(&node, "{not json").await;
    assert_eq!(v["error"]["code"], -32700);
    let (_, v) = post(
        &node,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}"#,
    )
    .await;
    assert_eq!(v["error"]["code"], -32602);
    let (_, v) = post(
        &node,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["zz"]}"#,
    )
    .await;
    assert_eq!(v["error"]["code"], -32602);

    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]},
        {"jsonrpc":"2.0","id":2,"method":"eth_nope","params":[]},
        {"jsonrpc":"2.0","id":3,"method":"eth_blockNumber","params":[]}
    ]);
    let (_, v) = post(&node, batch.to_string()).await;
    let items = v.as_array().expect("batch answer");
    assert_eq!(items.len(), 3);
    let by_id = |id: i64| {
        items
            .iter()
            .find(|i| i["id"] == id)
            .expect("answered")
            .clone()
    };
    assert_eq!(by_id(1)["result"], format!("{:#x}", CHAIN_ID));
    assert_eq!(by_id(2)["error"]["code"], -32601);

    // A payload over the 5 MiB limit is refused; the node keeps serving.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
        "ab".repeat(6 * 1024 * 1024)
    );
    let (status, _) = post(&node, huge).await;
    assert_eq!(status, 413);
    let balance = node
        .provider(0)
        .get_balance(Address::ZERO)
        .await
        .expect("still serving");
    assert_eq!(balance, U256::ZERO);
    node.node.shutdown().await;
}
