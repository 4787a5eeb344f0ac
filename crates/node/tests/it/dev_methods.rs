//! The dev-chain controls Anvil and Hardhat serve (`evm_mine`, `anvil_mine`,
//! `evm_increaseTime`, `evm_setNextBlockTimestamp`), and their refusal on other nodes.

use alloy::providers::Provider;
use serde_json::{Value, json};

use crate::harness::*;

async fn head(node: &TestNode) -> (u64, u64) {
    let block = node
        .provider(0)
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .expect("rpc")
        .expect("head");
    (block.header.number, block.header.timestamp)
}

async fn call(node: &TestNode, method: &str, params: Value) -> Result<Value, String> {
    node.provider(0)
        .raw_request::<_, Value>(method.to_string().into(), params)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn mining_and_time_move_as_anvil_and_hardhat_expect() {
    let node = TestNode::start().await;
    let (n0, _) = head(&node).await;
    assert_eq!(call(&node, "evm_mine", json!([])).await, Ok(json!("0x0")));
    let (n1, t1) = head(&node).await;
    assert!(n1 > n0, "evm_mine sealed a block ({n0} -> {n1})");

    // Five blocks 100 s apart, through Hardhat's name for it.
    assert_eq!(
        call(&node, "hardhat_mine", json!(["0x5", "0x64"])).await,
        Ok(Value::Null)
    );
    let (n2, t2) = head(&node).await;
    assert!(n2 >= n1 + 5);
    assert!(t2 >= t1 + 400, "{t1} -> {t2}");

    // An hour ahead: the next block is at least an hour past the wall clock.
    let offset = call(&node, "evm_increaseTime", json!([3600]))
        .await
        .expect("increaseTime");
    assert!(offset.as_u64().expect("seconds") >= 3600, "{offset}");
    call(&node, "evm_mine", json!([])).await.expect("mine");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (_, t3) = head(&node).await;
    assert!(t3 >= now + 3599, "{t3} vs {now}");

    // An exact timestamp, then evm_mine with one (Ganache's form).
    let target = t3 + 1_000;
    call(&node, "evm_setNextBlockTimestamp", json!([target]))
        .await
        .expect("set");
    call(&node, "evm_mine", json!([])).await.expect("mine");
    assert_eq!(head(&node).await.1, target);
    call(&node, "evm_mine", json!([target + 50]))
        .await
        .expect("mine at");
    assert_eq!(head(&node).await.1, target + 50);
    // Later blocks continue from the set time rather than jumping back.
    call(&node, "evm_mine", json!([])).await.expect("mine");
    assert!(head(&node).await.1 >= target + 50);

    let past = call(&node, "evm_setNextBlockTimestamp", json!([t1]))
        .await
        .expect_err("past");
    assert!(
        past.contains("lower than or equal to previous block's timestamp"),
        "{past}"
    );
    let huge = call(&node, "anvil_mine", json!(["0xffffffffffffffffffff"]))
        .await
        .expect_err("huge");
    assert!(huge.contains("out of range"), "{huge}");
    assert_eq!(
        call(&node, "hardhat_getAutomine", json!([])).await,
        Ok(json!(true))
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn other_nodes_refuse_dev_methods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let accounts = cairn_node::dev::dev_accounts(2).expect("accounts");
    let mut config = config(dir.path(), &accounts);
    config.dev_methods = false;
    let node = TestNode::start_with(dir, accounts, config).await;
    let refused = call(&node, "evm_mine", json!([]))
        .await
        .expect_err("refused");
    assert!(
        refused.contains("-32601") && refused.contains("only served by `cairn dev`"),
        "{refused}"
    );
    let refused = call(&node, "evm_increaseTime", json!([1]))
        .await
        .expect_err("refused");
    assert!(refused.contains("cairn dev"), "{refused}");
    node.node.shutdown().await;
}
