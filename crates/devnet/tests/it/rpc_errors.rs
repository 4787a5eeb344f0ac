//! Bad input at the HTTP and JSON-RPC layers: bitcoind's statuses, codes and messages, and
//! a server that keeps serving afterwards.

use serde_json::{Value, json};

use crate::rpc::{RpcNode, post_bytes, post_raw};

async fn still_serving(node: &RpcNode) {
    assert_eq!(node.call("getblockcount", json!([])).await, Ok(json!(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_checked_like_bitcoind() {
    let node = RpcNode::start(0).await;
    let body = json!({"method": "getblockcount", "params": [], "id": 1});
    let (status, raw) = post_raw(&node.url, "__cookie__:nope", &body).await;
    assert_eq!((status, raw.len()), (401, 0));
    let (status, _) = post_raw(&node.url, "alice:wrong", &body).await;
    assert_eq!(status, 401);
    // The extra user/password pair and the cookie both work.
    let (status, raw) = post_raw(&node.url, "alice:secret", &body).await;
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(reply, json!({"result": 0, "error": null, "id": 1}));
    let cookie = std::fs::read_to_string(node.server.cookie_path()).expect("cookie");
    assert!(
        cookie.starts_with("__cookie__:") && cookie.len() == 11 + 64,
        "{cookie}"
    );
    // Without credentials at all.
    let status = reqwest::Client::new()
        .post(&node.url)
        .body(body.to_string())
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status.as_u16(), 401);
    still_serving(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_bitcoind_errors() {
    let node = RpcNode::start(0).await;
    // Not JSON.
    let (status, raw) = post_bytes(&node.url, &node.auth, b"{not json".to_vec()).await;
    assert_eq!(status, 500);
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(
        reply["error"],
        json!({"code": -32700, "message": "Parse error"})
    );
    // Unknown method: 404.
    let (status, raw) =
        post_raw(&node.url, &node.auth, &json!({"method": "nosuch", "id": 7})).await;
    assert_eq!(status, 404);
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(
        reply,
        json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": 7})
    );
    // Method of the wrong type, params of the wrong type: 400.
    let (status, _) = post_raw(&node.url, &node.auth, &json!({"method": 5, "id": 1})).await;
    assert_eq!(status, 400);
    let (status, _) = post_raw(
        &node.url,
        &node.auth,
        &json!({"method": "getblockcount", "params": 5, "id": 1}),
    )
    .await;
    assert_eq!(status, 400);
    // JSON-RPC 2.0: errors come back with HTTP 200, notifications get no body.
    let (status, raw) = post_raw(
        &node.url,
        &node.auth,
        &json!({"jsonrpc": "2.0", "method": "getblockhash", "params": [9], "id": "x"}),
    )
    .await;
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "error": {"code": -8, "message": "Block height out of range"}, "id": "x"})
    );
    let (status, raw) = post_raw(
        &node.url,
        &node.auth,
        &json!({"jsonrpc": "2.0", "method": "getblockcount"}),
    )
    .await;
    assert_eq!((status, raw.len()), (204, 0));
    // A batch answers each entry.
    let (status, raw) = post_raw(
        &node.url,
        &node.auth,
        &json!([
            {"method": "getblockcount", "id": 1},
            {"method": "nosuch", "id": 2},
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(reply[0]["result"], json!(0));
    assert_eq!(reply[1]["error"]["code"], json!(-32601));
    // GET is refused.
    let status = reqwest::Client::new()
        .get(&node.url)
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status.as_u16(), 405);
    // An unknown wallet path.
    let (_, raw) = post_raw(
        &format!("{}/wallet/other", node.url),
        &node.auth,
        &json!({"method": "getbalance", "id": 1}),
    )
    .await;
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(reply["error"]["code"], json!(-18));
    // A body over bitcoind's 32 MiB limit.
    let (status, _) = post_bytes(&node.url, &node.auth, vec![b' '; 0x0200_0001]).await;
    assert_eq!(status, 413);
    still_serving(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_transactions_are_refused() {
    let node = RpcNode::start(0).await;
    // Malformed hex and non-transactions.
    for hex in ["zz", "00", "0200000000010000000000", ""] {
        assert_eq!(
            node.call("sendrawtransaction", json!([hex]))
                .await
                .unwrap_err()
                .0,
            -22,
            "{hex}"
        );
    }
    // An oversized transaction: 1 input, outputs making it larger than the standard weight.
    let big_output = format!("0000000000000000{}{}", "4c", "51".repeat(0x4c));
    let outputs = big_output.repeat(4000);
    let tx = format!(
        "0200000001{}0000000000ffffffff{}{}00000000",
        "11".repeat(32),
        "fda00f",
        outputs
    );
    let err = node
        .call("sendrawtransaction", json!([tx]))
        .await
        .unwrap_err();
    assert_eq!(err.0, -26, "{err:?}");
    // Wrong argument counts and types.
    assert_eq!(
        node.call("getblockhash", json!([])).await.unwrap_err().0,
        -1
    );
    assert_eq!(node.call("getblock", json!([1])).await.unwrap_err().0, -3);
    assert_eq!(
        node.call("getblock", json!(["11"])).await.unwrap_err(),
        (
            -8,
            "blockhash must be of length 64 (not 2, for '11')".to_owned()
        )
    );
    assert_eq!(
        node.call("estimatesmartfee", json!([0])).await.unwrap_err(),
        (
            -8,
            "Invalid conf_target, must be between 1 and 1008".to_owned()
        )
    );
    assert_eq!(
        node.call(
            "generatetoaddress",
            json!([1, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"])
        )
        .await
        .unwrap_err(),
        (-5, "Error: Invalid address".to_owned())
    );
    assert_eq!(
        node.call("getnewaddress", json!(["", "p2pk"]))
            .await
            .unwrap_err(),
        (-5, "Unknown address type 'p2pk'".to_owned())
    );
    assert_eq!(
        node.call("getmempoolentry", json!(["11".repeat(32)]))
            .await
            .unwrap_err(),
        (-5, "Transaction not in mempool".to_owned())
    );
    // Named parameters work, unknown names are refused.
    assert!(
        node.call("getblockhash", json!({"height": 0}))
            .await
            .is_ok()
    );
    assert_eq!(
        node.call("getblockhash", json!({"hieght": 0}))
            .await
            .unwrap_err()
            .0,
        -8
    );
    still_serving(&node).await;
}
