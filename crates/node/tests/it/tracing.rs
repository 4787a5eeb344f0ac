//! Tracing through JSON-RPC: geth's `debug_trace*` tracers and Parity's `trace_*` over a
//! contract that calls another, re-executed from the history window.

use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use serde_json::{Value, json};

use crate::harness::*;

async fn rpc(node: &TestNode, method: &str, params: Value) -> Result<Value, String> {
    node.provider(0)
        .raw_request::<_, Value>(method.to_string().into(), params)
        .await
        .map_err(|e| e.to_string())
}

/// A Counter, a forwarder to it, and a transaction through the forwarder (`inc(5)`).
async fn nested_call(node: &TestNode) -> (Address, Address, B256) {
    let counter = deploy_counter(node, 3).await;
    let hash = send_tx(
        node,
        3,
        TxKind::Create,
        forwarder_bytecode(counter, false),
        200_000,
    )
    .await;
    let forwarder = receipt(&node.provider(3), hash)
        .await
        .contract_address
        .expect("forwarder deployed");
    let call = Counter::incCall { by: U256::from(5) }.abi_encode();
    let hash = send_call(node, 3, forwarder, call, 200_000).await;
    assert!(receipt(&node.provider(3), hash).await.status());
    (counter, forwarder, hash)
}

fn lower(a: Address) -> String {
    format!("{a:#x}")
}

#[tokio::test]
async fn geth_tracers_show_the_inner_call_and_its_state() {
    let node = TestNode::start().await;
    let (counter, forwarder, hash) = nested_call(&node).await;
    let input = Bytes::from(Counter::incCall { by: U256::from(5) }.abi_encode());

    let calls = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "callTracer", "tracerConfig": { "withLog": true } }]),
    )
    .await
    .expect("callTracer");
    assert_eq!(calls["type"], "CALL");
    assert_eq!(calls["from"], lower(node.address(3)));
    assert_eq!(calls["to"], lower(forwarder));
    assert_eq!(calls["input"], json!(input));
    let inner = &calls["calls"][0];
    assert_eq!(inner["type"], "CALL");
    assert_eq!(inner["from"], lower(forwarder));
    assert_eq!(inner["to"], lower(counter));
    assert_eq!(inner["input"], json!(input));
    assert_eq!(inner["logs"].as_array().map(Vec::len), Some(1), "{inner}");
    assert_eq!(calls["calls"].as_array().map(Vec::len), Some(1));

    let top_only = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "callTracer", "tracerConfig": { "onlyTopCall": true } }]),
    )
    .await
    .expect("onlyTopCall");
    assert!(top_only.get("calls").is_none(), "{top_only}");

    let diff = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "prestateTracer", "tracerConfig": { "diffMode": true } }]),
    )
    .await
    .expect("prestate diff");
    let slot0 = format!("{:#066x}", 0);
    assert_eq!(
        diff["post"][lower(counter)]["storage"][&slot0],
        format!("{:#066x}", 5),
        "{diff}"
    );
    assert!(diff["pre"][lower(counter)]["storage"].get(&slot0).is_none());

    let four = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "4byteTracer" }]),
    )
    .await
    .expect("4byte");
    let selector = format!("0x{}-32", hex::encode(&input[..4]));
    assert_eq!(four[&selector], 2, "{four}");

    let logger = rpc(&node, "debug_traceTransaction", json!([hash, {}]))
        .await
        .expect("struct logger");
    assert_eq!(logger["failed"], false);
    let logs = logger["structLogs"].as_array().expect("structLogs");
    assert_eq!(logs[0]["op"], "CALLDATASIZE");
    assert!(logs.iter().any(|l| l["op"] == "SSTORE" && l["depth"] == 2));

    let noop = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "noopTracer" }]),
    )
    .await
    .expect("noop");
    assert_eq!(noop, json!({}));

    // The block holding it traces the same, one result per transaction.
    let number = receipt(&node.provider(0), hash)
        .await
        .block_number
        .expect("mined");
    let block = rpc(
        &node,
        "debug_traceBlockByNumber",
        json!([format!("{number:#x}"), { "tracer": "callTracer" }]),
    )
    .await
    .expect("block trace");
    let traced = block
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["txHash"] == json!(hash))
        .expect("the transaction is in its block's trace");
    assert_eq!(traced["result"]["calls"][0]["to"], lower(counter));

    // A call is traced on the state it names: count() reads 5.
    let call = rpc(
        &node,
        "debug_traceCall",
        json!([
            { "to": counter, "data": Bytes::from(Counter::countCall {}.abi_encode()) },
            "latest",
            { "tracer": "callTracer" }
        ]),
    )
    .await
    .expect("traceCall");
    assert_eq!(call["output"], format!("{:#066x}", 5));
    node.node.shutdown().await;
}

#[tokio::test]
async fn parity_traces_and_errors() {
    let node = TestNode::start().await;
    let (counter, forwarder, hash) = nested_call(&node).await;

    let traces = rpc(&node, "trace_transaction", json!([hash]))
        .await
        .expect("trace_transaction");
    let traces = traces.as_array().expect("array");
    assert_eq!(traces.len(), 2, "{traces:?}");
    assert_eq!(traces[0]["action"]["to"], lower(forwarder));
    assert_eq!(traces[0]["subtraces"], 1);
    assert_eq!(traces[1]["action"]["to"], lower(counter));
    assert_eq!(traces[1]["traceAddress"], json!([0]));
    assert_eq!(traces[1]["transactionHash"], json!(hash));

    let replay = rpc(
        &node,
        "trace_replayTransaction",
        json!([hash, ["trace", "stateDiff", "vmTrace"]]),
    )
    .await
    .expect("replay");
    assert_eq!(replay["trace"].as_array().map(Vec::len), Some(2));
    let slot = &replay["stateDiff"][lower(counter)]["storage"][format!("{:#066x}", 0)];
    assert_eq!(slot["*"]["to"], format!("{:#066x}", 5), "{replay}");
    assert!(!replay["vmTrace"]["ops"].as_array().expect("ops").is_empty());

    let filtered = rpc(
        &node,
        "trace_filter",
        json!([{ "fromBlock": "0x1", "toAddress": [counter] }]),
    )
    .await
    .expect("trace_filter");
    let filtered = filtered.as_array().expect("array");
    assert!(
        filtered.iter().all(
            |t| t["action"]["to"] == lower(counter) || t["result"]["address"] == lower(counter)
        )
    );
    assert!(filtered.iter().any(|t| t["transactionHash"] == json!(hash)));

    let call = rpc(
        &node,
        "trace_call",
        json!([
            { "from": node.address(3), "to": forwarder,
              "data": Bytes::from(Counter::incCall { by: U256::from(1) }.abi_encode()) },
            ["trace"],
            "latest"
        ]),
    )
    .await
    .expect("trace_call");
    assert_eq!(call["trace"].as_array().map(Vec::len), Some(2));

    assert_eq!(
        rpc(&node, "trace_transaction", json!([B256::repeat_byte(7)])).await,
        Ok(Value::Null)
    );
    let unknown = rpc(
        &node,
        "debug_traceTransaction",
        json!([B256::repeat_byte(7)]),
    )
    .await
    .expect_err("unknown transaction");
    assert!(unknown.contains("not found"), "{unknown}");
    let bad = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "callTracer", "timeout": "soon" }]),
    )
    .await
    .expect_err("bad timeout");
    assert!(bad.contains("invalid duration"), "{bad}");
    let tracer = rpc(
        &node,
        "debug_traceTransaction",
        json!([hash, { "tracer": "nosuchTracer" }]),
    )
    .await
    .expect_err("unknown tracer");
    assert!(
        tracer.contains("-32602") || tracer.contains("tracer"),
        "{tracer}"
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn access_lists_name_the_inner_contracts_storage() {
    let node = TestNode::start().await;
    let (counter, forwarder, _) = nested_call(&node).await;
    let request = json!({
        "from": node.address(3),
        "to": forwarder,
        "data": Bytes::from(Counter::incCall { by: U256::from(2) }.abi_encode()),
    });
    let result = rpc(&node, "eth_createAccessList", json!([request, "latest"]))
        .await
        .expect("createAccessList");
    // The sender and the recipient are warm anyway: only the inner contract is listed.
    assert_eq!(
        result["accessList"],
        json!([{ "address": lower(counter), "storageKeys": [format!("{:#066x}", 0)] }]),
        "{result}"
    );
    assert!(result.get("error").is_none(), "{result}");
    let gas = u64::from_str_radix(
        result["gasUsed"]
            .as_str()
            .expect("gasUsed")
            .trim_start_matches("0x"),
        16,
    )
    .expect("hex");
    assert!(gas > 21_000 && gas < 100_000, "{gas}");

    // A reverting call still gets its list, with geth's error beside it.
    let reverting = json!({
        "from": node.address(3),
        "to": counter,
        "data": Bytes::from(Counter::incCall { by: U256::ZERO }.abi_encode()),
    });
    let result = rpc(&node, "eth_createAccessList", json!([reverting]))
        .await
        .expect("createAccessList");
    assert_eq!(
        result["error"], "execution reverted: zero increment",
        "{result}"
    );
    node.node.shutdown().await;
}
