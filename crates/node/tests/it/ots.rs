//! Otterscan's `ots_` API (level 8) and `erigon_getHeaderByNumber`: block pages, address
//! history from the index (and its unwinding), traces, internal operations, errors and
//! contract creators.

use alloy::primitives::{Address, B256, TxKind, U256};
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

fn lower(a: Address) -> String {
    format!("{a:#x}")
}

fn hashes(page: &Value) -> Vec<String> {
    page["txs"]
        .as_array()
        .expect("txs")
        .iter()
        .map(|tx| tx["hash"].as_str().expect("hash").to_owned())
        .collect()
}

#[tokio::test]
async fn otterscan_reads_blocks_history_traces_and_creators() {
    let node = TestNode::start().await;
    let me = node.address(4);
    assert_eq!(rpc(&node, "ots_getApiLevel", json!([])).await, Ok(json!(8)));

    // 1: Counter; 2: a forwarder passing value on to a plain address; 3: 1000 wei through
    // it; 4: a call Counter refuses.
    let counter = deploy_counter(&node, 4).await;
    let recipient = Address::repeat_byte(0x77);
    let hash = send_tx(
        &node,
        4,
        TxKind::Create,
        forwarder_bytecode(recipient, true),
        200_000,
    )
    .await;
    let forwarder = receipt(&node.provider(4), hash)
        .await
        .contract_address
        .expect("forwarder");
    let sent = rpc(
        &node,
        "eth_sendTransaction",
        json!([{"from": me, "to": forwarder, "value": "0x3e8", "gas": "0x30d40"}]),
    )
    .await
    .expect("value through the forwarder");
    let sent: B256 = serde_json::from_value(sent).expect("hash");
    assert!(receipt(&node.provider(4), sent).await.status());
    let too_big = Counter::incCall {
        by: U256::from(500),
    }
    .abi_encode();
    let failed = send_call(&node, 4, counter, too_big, 200_000).await;
    assert!(!receipt(&node.provider(4), failed).await.status());

    // Internal operations and the call frames.
    let ops = rpc(&node, "ots_getInternalOperations", json!([sent]))
        .await
        .expect("operations");
    assert_eq!(
        ops,
        json!([{"type": 0, "from": lower(forwarder), "to": lower(recipient), "value": "0x3e8"}])
    );
    let frames = rpc(&node, "ots_traceTransaction", json!([sent]))
        .await
        .expect("trace");
    assert_eq!(frames.as_array().map(Vec::len), Some(2), "{frames}");
    assert_eq!(frames[0]["type"], "CALL");
    assert_eq!(frames[0]["depth"], 0);
    assert_eq!(frames[0]["from"], lower(me));
    assert_eq!(frames[0]["to"], lower(forwarder));
    assert_eq!(frames[0]["value"], "0x3e8");
    assert_eq!(frames[1]["depth"], 1);
    assert_eq!(frames[1]["from"], lower(forwarder));
    assert_eq!(frames[1]["to"], lower(recipient));

    // The revert data of the failed call; nothing for a success.
    let error = rpc(&node, "ots_getTransactionError", json!([failed]))
        .await
        .expect("error");
    let expected = alloy::primitives::Bytes::from(
        Counter::TooBig {
            value: U256::from(500),
        }
        .abi_encode(),
    );
    assert_eq!(error, json!(expected));
    assert_eq!(
        rpc(&node, "ots_getTransactionError", json!([sent])).await,
        Ok(json!("0x"))
    );

    // Creators, code, nonces.
    let creator = rpc(&node, "ots_getContractCreator", json!([counter]))
        .await
        .expect("creator");
    assert_eq!(creator["creator"], lower(me));
    let deployment = rpc(
        &node,
        "ots_getTransactionBySenderAndNonce",
        json!([me, "0x0"]),
    )
    .await
    .expect("by nonce");
    assert_eq!(creator["hash"], deployment);
    assert_eq!(
        rpc(&node, "ots_getContractCreator", json!([recipient])).await,
        Ok(Value::Null)
    );
    assert_eq!(
        rpc(
            &node,
            "ots_getTransactionBySenderAndNonce",
            json!([me, "0x63"])
        )
        .await,
        Ok(Value::Null)
    );
    assert_eq!(
        rpc(&node, "ots_hasCode", json!([counter, "latest"])).await,
        Ok(json!(true))
    );
    assert_eq!(
        rpc(&node, "ots_hasCode", json!([recipient])).await,
        Ok(json!(false))
    );

    // History, newest first, in pages of whole blocks.
    let all = rpc(&node, "ots_searchTransactionsBefore", json!([me, 0, 10]))
        .await
        .expect("search");
    let everything = hashes(&all);
    assert_eq!(everything.len(), 4, "{all}");
    assert_eq!(everything[0], format!("{failed:#x}"));
    assert_eq!(everything[3], creator["hash"].as_str().expect("hash"));
    assert_eq!(
        (all["firstPage"].clone(), all["lastPage"].clone()),
        (json!(true), json!(true))
    );
    assert!(all["receipts"][0]["timestamp"].is_string());
    assert_eq!(all["receipts"][0]["logs"], Value::Null);
    let first = rpc(&node, "ots_searchTransactionsBefore", json!([me, 0, 2]))
        .await
        .expect("page 1");
    assert_eq!(hashes(&first), everything[..2]);
    assert_eq!(
        (first["firstPage"].clone(), first["lastPage"].clone()),
        (json!(true), json!(false))
    );
    let oldest_shown = u64::from_str_radix(
        first["txs"][1]["blockNumber"]
            .as_str()
            .expect("n")
            .trim_start_matches("0x"),
        16,
    )
    .expect("hex");
    let second = rpc(
        &node,
        "ots_searchTransactionsBefore",
        json!([me, oldest_shown, 2]),
    )
    .await
    .expect("page 2");
    assert_eq!(hashes(&second), everything[2..]);
    assert_eq!(second["lastPage"], json!(true));
    let after = rpc(&node, "ots_searchTransactionsAfter", json!([me, 0, 10]))
        .await
        .expect("after");
    assert_eq!(hashes(&after), everything, "also newest first");
    assert_eq!(
        (after["firstPage"].clone(), after["lastPage"].clone()),
        (json!(true), json!(true))
    );
    let refused = rpc(&node, "ots_searchTransactionsBefore", json!([me, 0, 0]))
        .await
        .expect_err("page size 0");
    assert!(refused.contains("page size"), "{refused}");

    // Block pages.
    let block = receipt(&node.provider(4), sent)
        .await
        .block_number
        .expect("mined");
    let details = rpc(&node, "ots_getBlockDetails", json!([block]))
        .await
        .expect("details");
    assert_eq!(details["block"]["transactionCount"], 1);
    assert!(details["block"].get("transactions").is_none());
    assert_eq!(details["block"]["logsBloom"], Value::Null);
    assert_eq!(details["issuance"]["blockReward"], "0x0");
    let r = node
        .provider(0)
        .get_transaction_receipt(sent)
        .await
        .expect("rpc")
        .expect("receipt");
    let fees = U256::from(r.gas_used) * U256::from(r.effective_gas_price);
    assert_eq!(details["totalFees"], json!(fees));
    let by_hash = rpc(
        &node,
        "ots_getBlockDetailsByHash",
        json!([details["block"]["hash"]]),
    )
    .await
    .expect("by hash");
    assert_eq!(by_hash, details);
    let page = rpc(&node, "ots_getBlockTransactions", json!([block, 0, 25]))
        .await
        .expect("transactions");
    assert_eq!(page["fullblock"]["transactions"][0]["hash"], json!(sent));
    assert_eq!(page["fullblock"]["transactionCount"], 1);
    assert_eq!(page["receipts"][0]["logsBloom"], Value::Null);
    let header = rpc(&node, "erigon_getHeaderByNumber", json!([block]))
        .await
        .expect("header");
    assert_eq!(header["hash"], details["block"]["hash"]);

    // The index follows the chain back: a reverted transaction leaves no history.
    let id = rpc(&node, "evm_snapshot", json!([]))
        .await
        .expect("snapshot");
    let extra = send_tx(&node, 4, TxKind::Call(recipient), Vec::new(), 100_000).await;
    assert!(receipt(&node.provider(4), extra).await.status());
    let now = rpc(&node, "ots_searchTransactionsBefore", json!([me, 0, 10]))
        .await
        .expect("search");
    assert_eq!(hashes(&now).len(), 5);
    assert_eq!(rpc(&node, "evm_revert", json!([id])).await, Ok(json!(true)));
    let back = rpc(&node, "ots_searchTransactionsBefore", json!([me, 0, 10]))
        .await
        .expect("search");
    assert_eq!(hashes(&back), everything);
    assert_eq!(
        rpc(
            &node,
            "ots_getTransactionBySenderAndNonce",
            json!([me, "0x4"])
        )
        .await,
        Ok(Value::Null)
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_data_dir_from_before_the_index_is_indexed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let accounts = cairn_node::dev::dev_accounts(10).expect("accounts");
    let node = TestNode::start_with(
        tempfile::tempdir().expect("unused"),
        accounts.clone(),
        config(dir.path(), &accounts),
    )
    .await;
    let me = node.address(2);
    let counter = deploy_counter(&node, 2).await;
    let call = Counter::incCall { by: U256::from(1) }.abi_encode();
    let hash = send_call(&node, 2, counter, call, 200_000).await;
    assert!(receipt(&node.provider(2), hash).await.status());
    node.node.shutdown().await;

    // What a data dir written before the index looks like: no entries, no version mark.
    {
        let db = fjall::Database::builder(dir.path().join("db"))
            .open()
            .expect("open");
        let meta = db
            .keyspace("meta", fjall::KeyspaceCreateOptions::default)
            .expect("meta");
        meta.remove("history_index").expect("unmark");
        for name in ["by_address", "creations", "sender_nonces"] {
            let keyspace = db
                .keyspace(name, fjall::KeyspaceCreateOptions::default)
                .expect("keyspace");
            let keys: Vec<_> = keyspace
                .iter()
                .map(|entry| entry.key().expect("key"))
                .collect();
            assert!(!keys.is_empty(), "{name} was written");
            for key in keys {
                keyspace.remove(key).expect("remove");
            }
            assert_eq!(keyspace.iter().count(), 0, "{name} emptied");
        }
        assert!(meta.get("history_index").expect("read").is_none());
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
    }

    let node = TestNode::start_with(
        tempfile::tempdir().expect("unused"),
        accounts.clone(),
        config(dir.path(), &accounts),
    )
    .await;
    let found = rpc(&node, "ots_searchTransactionsBefore", json!([me, 0, 10]))
        .await
        .expect("search");
    assert_eq!(hashes(&found).len(), 2, "{found}");
    assert_eq!(hashes(&found)[0], format!("{hash:#x}"));
    let creator = rpc(&node, "ots_getContractCreator", json!([counter]))
        .await
        .expect("creator");
    assert_eq!(creator["creator"], lower(me));
    node.node.shutdown().await;
}
