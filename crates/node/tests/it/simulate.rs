//! `eth_simulateV1`: simulated blocks with block and state overrides, state carried from
//! call to call and block to block, transfers traced as logs, reverts reported per call,
//! gaps filled, validation's refusals with geth's codes, and the real chain untouched.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolError};
use serde_json::{Value, json};

use crate::harness::*;

async fn rpc(node: &TestNode, method: &str, params: Value) -> Result<Value, String> {
    node.provider(0)
        .raw_request::<_, Value>(method.to_string().into(), params)
        .await
        .map_err(|e| e.to_string())
}

fn hex_u64(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().expect("hex").trim_start_matches("0x"), 16).expect("hex")
}

/// The runtime code of Counter (what its constructor returns), from a real deployment.
async fn counter_runtime(node: &TestNode) -> alloy::primitives::Bytes {
    let deployed = deploy_counter(node, 6).await;
    node.provider(0).get_code_at(deployed).await.expect("code")
}

#[tokio::test]
async fn simulated_blocks_carry_state_and_report_each_call() {
    let node = TestNode::start().await;
    let code = counter_runtime(&node).await;
    let head = node.provider(0).get_block_number().await.expect("head");
    let alice = Address::repeat_byte(0xa1);
    let bob = Address::repeat_byte(0xb0);
    let counter = Address::repeat_byte(0xc0);
    let inc = |by: u64| {
        json!(alloy::primitives::Bytes::from(
            Counter::incCall { by: U256::from(by) }.abi_encode()
        ))
    };
    let count = json!(alloy::primitives::Bytes::from(
        Counter::countCall {}.abi_encode()
    ));
    let (alice_key, counter_key) = (format!("{alice:#x}"), format!("{counter:#x}"));
    let payload = json!({
        "blockStateCalls": [
            {
                "stateOverrides": { alice_key: { "balance": "0xde0b6b3a7640000" }, counter_key: { "code": code } },
                "calls": [
                    { "from": alice, "to": bob, "value": "0x3e8" },
                    { "from": alice, "to": counter, "input": inc(5) },
                    { "from": alice, "to": counter, "input": count },
                    { "from": alice, "to": counter, "input": inc(500) }
                ]
            },
            {
                "blockOverrides": { "number": format!("{:#x}", head + 4), "time": "0x7fffffff", "feeRecipient": bob },
                "calls": [ { "from": alice, "to": counter, "input": count } ]
            }
        ],
        "traceTransfers": true,
        "returnFullTransactions": true
    });
    let blocks = rpc(&node, "eth_simulateV1", json!([payload, "latest"]))
        .await
        .expect("simulate");
    let blocks = blocks.as_array().expect("blocks");
    // head+1, then head+2 and head+3 empty, then head+4.
    assert_eq!(blocks.len(), 4);
    let numbers: Vec<u64> = blocks.iter().map(|b| hex_u64(&b["number"])).collect();
    assert_eq!(numbers, vec![head + 1, head + 2, head + 3, head + 4]);
    assert_eq!(blocks[1]["calls"], json!([]));

    let calls = blocks[0]["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 4);
    // The transfer, as a log from the ether pseudo-address.
    assert_eq!(calls[0]["status"], "0x1");
    let transfer = &calls[0]["logs"][0];
    assert_eq!(
        transfer["address"],
        "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    );
    assert_eq!(
        transfer["topics"][0],
        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    );
    assert_eq!(transfer["blockHash"], blocks[0]["hash"]);
    // inc(5) emits Incremented; count() then reads 5: state carries from call to call.
    assert_eq!(calls[1]["status"], "0x1");
    assert_eq!(calls[1]["logs"].as_array().map(Vec::len), Some(1));
    assert_eq!(calls[1]["logs"][0]["logIndex"], "0x1");
    assert_eq!(
        U256::from_str_radix(
            calls[2]["returnData"]
                .as_str()
                .expect("data")
                .trim_start_matches("0x"),
            16
        )
        .expect("n"),
        U256::from(5)
    );
    // inc(500) reverts with TooBig(500), reported on the call, not as an RPC error.
    assert_eq!(calls[3]["status"], "0x0");
    assert_eq!(calls[3]["error"]["code"], 3);
    let too_big = alloy::primitives::Bytes::from(
        Counter::TooBig {
            value: U256::from(500),
        }
        .abi_encode(),
    );
    assert_eq!(calls[3]["error"]["data"], json!(too_big));
    assert!(hex_u64(&calls[1]["gasUsed"]) > 21_000);
    // Full transactions from the simulated sender; the block's gas adds up.
    assert_eq!(blocks[0]["transactions"][0]["from"], json!(alice));
    let used: u64 = calls.iter().map(|c| hex_u64(&c["gasUsed"])).sum();
    assert_eq!(hex_u64(&blocks[0]["gasUsed"]), used);
    // The second block sees the first's state, at its overridden time and recipient.
    let last = &blocks[3];
    assert_eq!(last["timestamp"], "0x7fffffff");
    assert_eq!(last["miner"], json!(bob));
    assert_eq!(
        U256::from_str_radix(
            last["calls"][0]["returnData"]
                .as_str()
                .expect("data")
                .trim_start_matches("0x"),
            16
        )
        .expect("n"),
        U256::from(5)
    );

    // Nothing happened to the real chain.
    assert_eq!(
        node.provider(0).get_balance(alice).await.expect("balance"),
        U256::ZERO
    );
    assert!(
        node.provider(0)
            .get_code_at(counter)
            .await
            .expect("code")
            .is_empty()
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn simulate_refuses_what_geth_refuses() {
    let node = TestNode::start().await;
    // A head with a real timestamp.
    rpc(&node, "evm_mine", json!([])).await.expect("mine");
    let head = node.provider(0).get_block_number().await.expect("head");
    let me = node.address(6);
    let backwards = json!({
        "blockStateCalls": [
            { "blockOverrides": { "number": format!("{:#x}", head + 3) } },
            { "blockOverrides": { "number": format!("{:#x}", head + 2) } }
        ]
    });
    let refused = rpc(&node, "eth_simulateV1", json!([backwards]))
        .await
        .expect_err("order");
    assert!(
        refused.contains("-38020") && refused.contains("in order"),
        "{refused}"
    );
    let too_far = json!({ "blockStateCalls": [ { "blockOverrides": { "number": format!("{:#x}", head + 300) } } ] });
    let refused = rpc(&node, "eth_simulateV1", json!([too_far]))
        .await
        .expect_err("too many");
    assert!(refused.contains("-38026"), "{refused}");
    let early = json!({ "blockStateCalls": [ { "blockOverrides": { "time": "0x1" } } ] });
    let refused = rpc(&node, "eth_simulateV1", json!([early]))
        .await
        .expect_err("time");
    assert!(refused.contains("-38021"), "{refused}");

    // With validation, calls are transactions: nonces and the base fee are checked.
    let nonce_gap = json!({
        "blockStateCalls": [ { "calls": [ { "from": me, "to": me, "nonce": "0x9" } ] } ],
        "validation": true
    });
    let refused = rpc(&node, "eth_simulateV1", json!([nonce_gap]))
        .await
        .expect_err("nonce");
    assert!(
        refused.contains("-38011") && refused.contains("nonce too high"),
        "{refused}"
    );
    let cheap = json!({
        "blockStateCalls": [ { "calls": [ { "from": me, "to": me, "maxFeePerGas": "0x1" } ] } ],
        "validation": true
    });
    let refused = rpc(&node, "eth_simulateV1", json!([cheap]))
        .await
        .expect_err("fee");
    assert!(refused.contains("-38012"), "{refused}");
    let broke = json!({
        "blockStateCalls": [ { "calls": [ { "from": Address::repeat_byte(0x99), "to": me, "value": "0x1" } ] } ]
    });
    let refused = rpc(&node, "eth_simulateV1", json!([broke]))
        .await
        .expect_err("funds");
    assert!(
        refused.contains("-38014") && refused.contains("insufficient funds"),
        "{refused}"
    );
    // Validated, a well-formed call passes and pays the base fee (this node settles
    // nowhere, so there is no L1 data fee on top).
    let fine = json!({
        "blockStateCalls": [ { "calls": [ { "from": me, "to": me, "value": "0x1" } ] } ],
        "validation": true
    });
    let blocks = rpc(&node, "eth_simulateV1", json!([fine]))
        .await
        .expect("valid");
    assert_eq!(blocks[0]["calls"][0]["status"], "0x1");
    assert!(hex_u64(&blocks[0]["baseFeePerGas"]) > 0);
    assert_eq!(hex_u64(&blocks[0]["calls"][0]["gasUsed"]), 21_000);
    node.node.shutdown().await;
}
