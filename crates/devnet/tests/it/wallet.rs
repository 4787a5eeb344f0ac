//! The built-in wallet over RPC: coinbase rewards, maturity, sends, change, received
//! amounts, persistence across a restart.

use serde_json::{Value, json};

use crate::rpc::RpcNode;

fn btc(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_funds_sends_and_survives_restart() {
    let node = RpcNode::start(101).await;
    // 101 blocks to the wallet: only the first coinbase is mature.
    assert_eq!(node.call("getblockcount", json!([])).await, Ok(json!(101)));
    assert_eq!(btc(&node.ok("getbalance", json!([])).await), 50.0);
    let balances = node.ok("getbalances", json!([])).await;
    assert_eq!(btc(&balances["mine"]["immature"]), 100.0 * 50.0);

    let taproot = node.ok("getnewaddress", json!(["", "bech32m"])).await;
    assert!(taproot.as_str().expect("str").starts_with("bcrt1p"));
    for kind in ["legacy", "p2sh-segwit", "bech32"] {
        let address = node.ok("getnewaddress", json!(["", kind])).await;
        let address = address.as_str().expect("str").to_owned();
        let txid = node.ok("sendtoaddress", json!([address, 1.5])).await;
        let entry = node.ok("getmempoolentry", json!([txid])).await;
        assert!(entry["vsize"].as_u64().expect("vsize") > 100);
        // Mining pays it; the wallet now holds it.
        node.ok("generatetoaddress", json!([1, taproot])).await;
        assert_eq!(
            btc(&node.ok("getreceivedbyaddress", json!([address])).await),
            1.5
        );
        let unspent = node.ok("listunspent", json!([1, 9999999, [address]])).await;
        assert_eq!(unspent.as_array().expect("array").len(), 1, "{kind}");
        assert_eq!(btc(&unspent[0]["amount"]), 1.5);
        assert_eq!(unspent[0]["safe"], json!(true));
    }
    // Spend the legacy and p2sh-segwit coins again: the wallet signs every type.
    let sink = node.ok("getnewaddress", json!([])).await;
    let txid = node.ok("sendtoaddress", json!([sink, 149.0])).await;
    let tx = node.ok("getrawtransaction", json!([txid, 1])).await;
    assert!(tx["vin"].as_array().expect("vin").len() >= 3);
    // Insufficient funds.
    assert_eq!(
        node.call("sendtoaddress", json!([sink, 100000]))
            .await
            .unwrap_err(),
        (-6, "Insufficient funds".to_owned())
    );
    node.ok("generatetoaddress", json!([1, taproot])).await;
    let height = node.ok("getblockcount", json!([])).await;
    let balance = node.ok("getbalance", json!([])).await;
    let tip = node.ok("getbestblockhash", json!([])).await;

    let node = node.restart().await;
    assert_eq!(node.call("getblockcount", json!([])).await, Ok(height));
    assert_eq!(node.call("getbestblockhash", json!([])).await, Ok(tip));
    assert_eq!(node.call("getbalance", json!([])).await, Ok(balance));
    assert_eq!(
        btc(&node.ok("getreceivedbyaddress", json!([sink])).await),
        149.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subtract_fee_and_signing_raw_transactions() {
    let node = RpcNode::start(101).await;
    let address = node.ok("getnewaddress", json!([])).await;
    // subtractfeefromamount: the recipient gets the amount less the fee.
    let txid = node
        .ok("sendtoaddress", json!([address, 10, "", "", true]))
        .await;
    let entry = node.ok("getmempoolentry", json!([txid])).await;
    let fee = btc(&entry["fees"]["base"]);
    let tx = node.ok("getrawtransaction", json!([txid, 1])).await;
    let paid: f64 = tx["vout"]
        .as_array()
        .expect("vout")
        .iter()
        .filter(|o| o["scriptPubKey"]["address"] == address)
        .map(|o| btc(&o["value"]))
        .sum();
    assert!((paid + fee - 10.0).abs() < 1e-9, "paid {paid} fee {fee}");
    // createrawtransaction + signrawtransactionwithwallet + testmempoolaccept.
    let unspent = node.ok("listunspent", json!([0])).await;
    let coin = &unspent[0];
    let raw = node.ok("createrawtransaction", json!([[{"txid": coin["txid"], "vout": coin["vout"]}], [{address.as_str().expect("str"): btc(&coin["amount"]) - 0.0001}]])).await;
    let signed = node.ok("signrawtransactionwithwallet", json!([raw])).await;
    assert_eq!(signed["complete"], json!(true), "{signed}");
    let test = node.ok("testmempoolaccept", json!([[signed["hex"]]])).await;
    assert_eq!(test[0]["allowed"], json!(true), "{test}");
    // A transaction spending someone else's coin cannot be completed.
    let foreign = node
        .ok(
            "createrawtransaction",
            json!([[{"txid": "11".repeat(32), "vout": 0}], [{address.as_str().expect("str"): 1}]]),
        )
        .await;
    let signed = node
        .ok("signrawtransactionwithwallet", json!([foreign]))
        .await;
    assert_eq!(signed["complete"], json!(false));
    assert_eq!(
        signed["errors"][0]["error"],
        json!("Input not found or already spent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mempool_transactions_survive_a_restart() {
    let node = RpcNode::start(101).await;
    let address = node.ok("getnewaddress", json!([])).await;
    let first = node.ok("sendtoaddress", json!([address, 1])).await;
    // A child spending the first one's change, so order matters on replay.
    let second = node.ok("sendtoaddress", json!([address, 2])).await;
    let node = node.restart().await;
    let mempool = node.ok("getrawmempool", json!([])).await;
    let mut ids: Vec<&str> = mempool
        .as_array()
        .expect("array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    let mut expected = vec![
        first.as_str().expect("txid"),
        second.as_str().expect("txid"),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mining_confirms_waiting_transactions() {
    let dir = tempfile::tempdir().expect("dir");
    let node = RpcNode::start_with(dir, 101, Some(std::time::Duration::from_millis(100))).await;
    let address = node.ok("getnewaddress", json!([])).await;
    let txid = node.ok("sendtoaddress", json!([address, 3])).await;
    // Without anyone calling generate*, the miner confirms it.
    let mut confirmations = 0;
    for _ in 0..100 {
        let tx = node.ok("getrawtransaction", json!([txid, 1])).await;
        confirmations = tx["confirmations"].as_u64().unwrap_or(0);
        if confirmations >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(confirmations >= 2, "confirmations {confirmations}");
    assert!(
        node.ok("getblockcount", json!([]))
            .await
            .as_u64()
            .expect("n")
            >= 103
    );
}
