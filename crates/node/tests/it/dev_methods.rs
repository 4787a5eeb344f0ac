//! The dev-chain controls Anvil and Hardhat serve (mining, time, state edits, snapshots,
//! impersonation, block knobs), the CREATE2 deployer, and their refusal on other nodes.

use alloy::primitives::TxKind;
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
    config.dev = None;
    let node = TestNode::start_with(dir, accounts, config).await;
    let refused = call(&node, "evm_mine", json!([]))
        .await
        .expect_err("refused");
    assert!(
        refused.contains("-32601") && refused.contains("only served by `cairn dev`"),
        "{refused}"
    );
    for (method, params) in [
        ("evm_increaseTime", json!([1])),
        ("anvil_setBalance", json!([STRANGER, "0x1"])),
        ("evm_snapshot", json!([])),
        ("hardhat_impersonateAccount", json!([STRANGER])),
    ] {
        let refused = call(&node, method, params).await.expect_err("refused");
        assert!(refused.contains("cairn dev"), "{method}: {refused}");
    }
    assert_eq!(call(&node, "eth_accounts", json!([])).await, Ok(json!([])));
    let refused = call(
        &node,
        "eth_sendTransaction",
        json!([{"from": STRANGER, "to": STRANGER}]),
    )
    .await
    .expect_err("no keys");
    assert!(refused.contains("unknown account"), "{refused}");
    let version = call(&node, "web3_clientVersion", json!([]))
        .await
        .expect("version");
    assert!(
        version.as_str().is_some_and(|v| v.starts_with("cairn/")),
        "{version}"
    );
    node.node.shutdown().await;
}

fn hex_u64(value: &Value) -> u64 {
    let s = value.as_str().expect("a hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

async fn balance(node: &TestNode, who: &str) -> Value {
    call(node, "eth_getBalance", json!([who, "latest"]))
        .await
        .expect("balance")
}

/// PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: every call answers 42.
const ANSWER_CODE: &str = "0x602a60005260206000f3";
const STRANGER: &str = "0x1111111111111111111111111111111111111111";

#[tokio::test]
async fn state_edits_show_at_latest_and_stop_settlement_there() {
    let node = TestNode::start().await;
    assert_eq!(node.node.storage.local_from(), None);
    let (before, _) = head(&node).await;
    assert_eq!(
        call(
            &node,
            "anvil_setBalance",
            json!([STRANGER, "0xde0b6b3a7640000"])
        )
        .await,
        Ok(Value::Null)
    );
    assert_eq!(balance(&node, STRANGER).await, json!("0xde0b6b3a7640000"));
    // The edit sealed a block, and the chain is local from it.
    let (after, _) = head(&node).await;
    assert!(after > before);
    let local = node.node.storage.local_from().expect("marked local");
    assert!(
        local > before && local <= after,
        "{before} < {local} <= {after}"
    );
    assert_eq!(node.node.storage.settleable_head(), local - 1);

    call(&node, "hardhat_setNonce", json!([STRANGER, "0x7"]))
        .await
        .expect("nonce");
    assert_eq!(
        call(
            &node,
            "eth_getTransactionCount",
            json!([STRANGER, "latest"])
        )
        .await,
        Ok(json!("0x7"))
    );
    call(&node, "anvil_setCode", json!([STRANGER, ANSWER_CODE]))
        .await
        .expect("code");
    assert_eq!(
        call(&node, "eth_getCode", json!([STRANGER, "latest"])).await,
        Ok(json!(ANSWER_CODE))
    );
    let answer = call(&node, "eth_call", json!([{"to": STRANGER}, "latest"]))
        .await
        .expect("call");
    assert_eq!(hex_u64(&answer), 42);
    let slot_value = "0x00000000000000000000000000000000000000000000000000000000000000ff";
    assert_eq!(
        call(
            &node,
            "hardhat_setStorageAt",
            json!([STRANGER, "0x5", slot_value])
        )
        .await,
        Ok(json!(true))
    );
    assert_eq!(
        call(
            &node,
            "eth_getStorageAt",
            json!([STRANGER, "0x5", "latest"])
        )
        .await,
        Ok(json!(slot_value))
    );
    // Earlier fields survive later edits.
    assert_eq!(balance(&node, STRANGER).await, json!("0xde0b6b3a7640000"));

    let big = format!("0x{}", "00".repeat(24_577));
    let refused = call(&node, "anvil_setCode", json!([STRANGER, big]))
        .await
        .expect_err("oversized code");
    assert!(refused.contains("EIP-170"), "{refused}");
    node.node.shutdown().await;
}

#[tokio::test]
async fn snapshots_restore_balances_nonces_code_blocks_and_time() {
    let node = TestNode::start().await;
    let sender = format!("{:#x}", node.address(1));
    let balance0 = balance(&node, &sender).await;
    let id = call(&node, "evm_snapshot", json!([]))
        .await
        .expect("snapshot");
    assert_eq!(id, json!("0x0"));
    let (number0, time0) = head(&node).await;

    let hash = send_tx(&node, 1, TxKind::Call(node.address(2)), Vec::new(), 100_000).await;
    assert!(receipt(&node.provider(1), hash).await.status());
    call(&node, "anvil_setCode", json!([STRANGER, ANSWER_CODE]))
        .await
        .expect("code");
    call(&node, "evm_increaseTime", json!([86_400]))
        .await
        .expect("time");
    call(&node, "evm_mine", json!([])).await.expect("mine");
    let second = call(&node, "evm_snapshot", json!([]))
        .await
        .expect("snapshot");
    assert_eq!(second, json!("0x1"));
    assert_ne!(balance(&node, &sender).await, balance0);

    assert_eq!(
        call(&node, "evm_revert", json!([id])).await,
        Ok(json!(true))
    );
    assert_eq!(balance(&node, &sender).await, balance0);
    assert_eq!(
        call(&node, "eth_getTransactionCount", json!([sender, "latest"])).await,
        Ok(json!("0x0"))
    );
    assert_eq!(
        call(&node, "eth_getCode", json!([STRANGER, "latest"])).await,
        Ok(json!("0x"))
    );
    assert_eq!(
        call(&node, "eth_getTransactionByHash", json!([hash])).await,
        Ok(Value::Null)
    );
    assert_eq!(head(&node).await.0, number0);
    // The clock went back with it: the next block is not a day ahead.
    call(&node, "evm_mine", json!([])).await.expect("mine");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (_, time1) = head(&node).await;
    assert!(time1 >= time0 && time1 < now + 3_600, "{time0} -> {time1}");
    // Used up, with the later one.
    assert_eq!(
        call(&node, "evm_revert", json!([id])).await,
        Ok(json!(false))
    );
    assert_eq!(
        call(&node, "evm_revert", json!([second])).await,
        Ok(json!(false))
    );
    assert_eq!(
        call(&node, "evm_revert", json!(["0x99"])).await,
        Ok(json!(false))
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn send_transaction_signs_for_dev_accounts_and_impersonated_ones() {
    let node = TestNode::start().await;
    let accounts = call(&node, "eth_accounts", json!([]))
        .await
        .expect("accounts");
    assert_eq!(accounts.as_array().map(Vec::len), Some(10));
    assert_eq!(accounts[0], json!(format!("{:#x}", node.address(0))));
    let to = format!("{:#x}", node.address(5));
    let hash = call(
        &node,
        "eth_sendTransaction",
        json!([{"from": accounts[0], "to": to, "value": "0x64"}]),
    )
    .await
    .expect("a dev account's transaction");
    let hash: alloy::primitives::B256 = serde_json::from_value(hash).expect("hash");
    let r = receipt(&node.provider(0), hash).await;
    assert!(r.status());
    assert_eq!(r.from, node.address(0));
    // No `to`: a deployment.
    let hash = call(
        &node,
        "eth_sendTransaction",
        json!([{"from": accounts[0], "data": counter_bytecode()}]),
    )
    .await
    .expect("a deployment");
    let hash: alloy::primitives::B256 = serde_json::from_value(hash).expect("hash");
    let deployed = receipt(&node.provider(0), hash).await;
    assert!(deployed.status() && deployed.contract_address.is_some());
    // A dev account's transaction is an ordinary signed one: the chain stays settleable.
    assert_eq!(node.node.storage.local_from(), None);

    let whale = "0x2222222222222222222222222222222222222222";
    let request = json!([{"from": whale, "to": to, "value": "0x1"}]);
    let refused = call(&node, "eth_sendTransaction", request.clone())
        .await
        .expect_err("no key");
    assert!(refused.contains("unknown account"), "{refused}");
    call(&node, "hardhat_impersonateAccount", json!([whale]))
        .await
        .expect("impersonate");
    call(
        &node,
        "hardhat_setBalance",
        json!([whale, "0xde0b6b3a7640000"]),
    )
    .await
    .expect("fund");
    let hash = call(&node, "eth_sendTransaction", request.clone())
        .await
        .expect("impersonated");
    let hash: alloy::primitives::B256 = serde_json::from_value(hash).expect("hash");
    let r = receipt(&node.provider(0), hash).await;
    assert!(r.status());
    assert_eq!(format!("{:#x}", r.from), whale);
    let tx = call(&node, "eth_getTransactionByHash", json!([hash]))
        .await
        .expect("tx");
    assert_eq!(tx["from"], json!(whale));
    call(&node, "hardhat_stopImpersonatingAccount", json!([whale]))
        .await
        .expect("stop");
    let refused = call(&node, "eth_sendTransaction", request.clone())
        .await
        .expect_err("stopped");
    assert!(refused.contains("unknown account"), "{refused}");
    // Anvil's unsigned transaction: any sender, no impersonation asked.
    let nobody = "0x4444444444444444444444444444444444444444";
    call(
        &node,
        "anvil_setBalance",
        json!([nobody, "0xde0b6b3a7640000"]),
    )
    .await
    .expect("fund");
    let hash = call(
        &node,
        "eth_sendUnsignedTransaction",
        json!([{"from": nobody, "to": to, "value": "0x1"}]),
    )
    .await
    .expect("unsigned");
    let hash: alloy::primitives::B256 = serde_json::from_value(hash).expect("hash");
    assert!(receipt(&node.provider(0), hash).await.status());
    call(&node, "anvil_autoImpersonateAccount", json!([true]))
        .await
        .expect("auto");
    call(&node, "eth_sendTransaction", request)
        .await
        .expect("any sender");
    node.node.shutdown().await;
}

#[tokio::test]
async fn automine_interval_mining_and_dropping_transactions() {
    let node = TestNode::start().await;
    assert_eq!(
        call(&node, "evm_setAutomine", json!([false])).await,
        Ok(Value::Null)
    );
    assert_eq!(
        call(&node, "hardhat_getAutomine", json!([])).await,
        Ok(json!(false))
    );
    let (held, _) = head(&node).await;
    let to = format!("{:#x}", node.address(5));
    let from = format!("{:#x}", node.address(0));
    let first = call(
        &node,
        "eth_sendTransaction",
        json!([{"from": from, "to": to, "value": "0x1"}]),
    )
    .await
    .expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(head(&node).await.0, held, "no block without a request");
    assert_eq!(
        call(&node, "eth_getTransactionReceipt", json!([first])).await,
        Ok(Value::Null)
    );
    call(&node, "evm_mine", json!([])).await.expect("mine");
    let mined = call(&node, "eth_getTransactionReceipt", json!([first]))
        .await
        .expect("receipt");
    assert_eq!(mined["status"], json!("0x1"));

    let second = call(
        &node,
        "eth_sendTransaction",
        json!([{"from": from, "to": to, "value": "0x2"}]),
    )
    .await
    .expect("send");
    assert_eq!(
        call(&node, "hardhat_dropTransaction", json!([second])).await,
        Ok(json!(true))
    );
    assert_eq!(
        call(&node, "anvil_dropTransaction", json!([second])).await,
        Ok(Value::Null)
    );
    assert_eq!(
        call(&node, "eth_getTransactionByHash", json!([second])).await,
        Ok(Value::Null)
    );

    // A block every second (Anvil's unit) with nothing to put in it.
    call(&node, "evm_setIntervalMining", json!([1]))
        .await
        .expect("interval");
    let (start, _) = head(&node).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_600)).await;
    assert!(head(&node).await.0 >= start + 2, "interval blocks");
    call(&node, "anvil_setIntervalMining", json!([0]))
        .await
        .expect("off");
    assert_eq!(
        call(&node, "hardhat_getAutomine", json!([])).await,
        Ok(json!(true))
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn block_knobs_base_fee_coinbase_gas_limit_and_node_info() {
    let node = TestNode::start().await;
    let version = call(&node, "web3_clientVersion", json!([]))
        .await
        .expect("version");
    assert!(
        version
            .as_str()
            .is_some_and(|v| v.starts_with("anvil/") && v.contains("cairn")),
        "{version}"
    );
    let coinbase = "0x3333333333333333333333333333333333333333";
    call(&node, "anvil_setCoinbase", json!([coinbase]))
        .await
        .expect("coinbase");
    call(
        &node,
        "anvil_setNextBlockBaseFeePerGas",
        json!(["0x3b9aca00"]),
    )
    .await
    .expect("base fee");
    assert_eq!(
        call(&node, "evm_setBlockGasLimit", json!(["0x1c9c380"])).await,
        Ok(json!(true))
    );
    call(&node, "evm_mine", json!([])).await.expect("mine");
    let block = call(&node, "eth_getBlockByNumber", json!(["latest", false]))
        .await
        .expect("block");
    assert_eq!(block["miner"], json!(coinbase));
    assert_eq!(block["baseFeePerGas"], json!("0x3b9aca00"));
    assert_eq!(block["gasLimit"], json!("0x1c9c380"));
    // The set base fee is for one block; EIP-1559 continues from it.
    call(&node, "evm_mine", json!([])).await.expect("mine");
    let next = call(&node, "eth_getBlockByNumber", json!(["latest", false]))
        .await
        .expect("block");
    assert!(hex_u64(&next["baseFeePerGas"]) < 1_000_000_000);

    let info = call(&node, "anvil_nodeInfo", json!([]))
        .await
        .expect("info");
    assert_eq!(info["currentBlockNumber"], json!(hex_u64(&next["number"])));
    assert_eq!(info["environment"]["chainId"], json!(CHAIN_ID));
    let meta = call(&node, "hardhat_metadata", json!([]))
        .await
        .expect("metadata");
    assert_eq!(meta["clientVersion"], version);
    assert_eq!(meta["latestBlockHash"], next["hash"]);
    let low = call(&node, "evm_setBlockGasLimit", json!(["0x1"]))
        .await
        .expect_err("too low");
    assert!(low.contains("21000"), "{low}");
    node.node.shutdown().await;
}

#[tokio::test]
async fn the_create2_deployer_is_in_the_dev_genesis() {
    let node = TestNode::start().await;
    let deployer = cairn_node::dev::CREATE2_DEPLOYER;
    let salt = [7u8; 32];
    let init = counter_bytecode();
    let mut data = salt.to_vec();
    data.extend_from_slice(&init);
    let hash = send_tx(&node, 0, TxKind::Call(deployer), data, 1_000_000).await;
    assert!(receipt(&node.provider(0), hash).await.status());
    let expected = deployer.create2_from_code(salt, &init);
    let code = node.provider(0).get_code_at(expected).await.expect("code");
    assert!(
        !code.is_empty(),
        "Counter deployed at its CREATE2 address {expected}"
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn local_blocks_are_never_batched_and_reverts_stop_at_deposits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (devnet, sequencer, _) = peg_sequencer(dir.path()).await;
    // A block to settle before the snapshot.
    let before = send_tx(
        &sequencer,
        1,
        TxKind::Call(sequencer.address(0)),
        Vec::new(),
        100_000,
    )
    .await;
    assert!(receipt(&sequencer.provider(1), before).await.status());
    let (at_snapshot, _) = head(&sequencer).await;
    let id = call(&sequencer, "evm_snapshot", json!([]))
        .await
        .expect("snapshot");
    let hash = send_tx(
        &sequencer,
        0,
        TxKind::Call(sequencer.address(1)),
        Vec::new(),
        100_000,
    )
    .await;
    let included = receipt(&sequencer.provider(0), hash)
        .await
        .block_number
        .expect("mined");
    assert!(included > at_snapshot);
    let status = call(&sequencer, "cairn_syncStatus", json!([]))
        .await
        .expect("status");
    assert_eq!(
        status["localFrom"],
        json!(format!("{:#x}", at_snapshot + 1))
    );

    // Bitcoin settles the chain up to the snapshot, and no further.
    mine_until_batched(
        &devnet,
        &sequencer.node,
        "the blocks before the snapshot",
        at_snapshot,
    )
    .await;
    for _ in 0..3 {
        devnet.mine(1).await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    let applied = settlement(&sequencer.node).applied;
    assert!(
        applied.iter().all(|b| b.last_block <= at_snapshot),
        "a batch carried a block after the snapshot: {applied:?}"
    );
    assert!(sequencer.node.storage.head_number() > at_snapshot);

    // A deposit credited after the snapshot is on Bitcoin for good: no going back.
    deposit(&devnet, &sequencer, 50_000).await;
    let refused = call(&sequencer, "evm_revert", json!([id]))
        .await
        .expect_err("refused");
    assert!(refused.contains("credits a Bitcoin deposit"), "{refused}");
    sequencer.node.shutdown().await;
}
