//! `eth_getProof` (EIP-1186): the node's proofs verify against the block's state root with
//! alloy-trie's verifier, for a contract's storage, a plain account and an absent one.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use alloy_trie::Nibbles;
use alloy_trie::proof::verify_proof;
use serde_json::{Value, json};

use crate::harness::*;

#[derive(alloy_rlp::RlpEncodable)]
struct TrieAccount {
    nonce: u64,
    balance: U256,
    storage_root: B256,
    code_hash: B256,
}

/// Checks `proof` (an `eth_getProof` answer) against `root`.
fn verify_account(root: B256, address: Address, proof: &Value) {
    let nodes: Vec<Bytes> = serde_json::from_value(proof["accountProof"].clone()).expect("nodes");
    let account = TrieAccount {
        nonce: u64::from_str_radix(
            proof["nonce"]
                .as_str()
                .expect("nonce")
                .trim_start_matches("0x"),
            16,
        )
        .expect("hex"),
        balance: serde_json::from_value(proof["balance"].clone()).expect("balance"),
        storage_root: serde_json::from_value(proof["storageHash"].clone()).expect("storageHash"),
        code_hash: serde_json::from_value(proof["codeHash"].clone()).expect("codeHash"),
    };
    let empty = account.nonce == 0
        && account.balance.is_zero()
        && account.code_hash == alloy::primitives::KECCAK256_EMPTY;
    let expected = (!empty).then(|| alloy_rlp::encode(&account));
    verify_proof(root, Nibbles::unpack(keccak256(address)), expected, &nodes)
        .unwrap_or_else(|e| panic!("account proof of {address}: {e}"));
    for slot in proof["storageProof"].as_array().expect("storageProof") {
        let nodes: Vec<Bytes> = serde_json::from_value(slot["proof"].clone()).expect("nodes");
        let key: B256 = serde_json::from_value(slot["key"].clone()).expect("key");
        let value: U256 = serde_json::from_value(slot["value"].clone()).expect("value");
        let expected = (!value.is_zero()).then(|| alloy_rlp::encode(value));
        verify_proof(
            account.storage_root,
            Nibbles::unpack(keccak256(key)),
            expected,
            &nodes,
        )
        .unwrap_or_else(|e| panic!("storage proof of {key}: {e}"));
    }
}

#[tokio::test]
async fn proofs_verify_against_the_state_root() {
    let node = TestNode::start().await;
    let p = node.provider(0);
    let counter = deploy_counter(&node, 4).await;
    let hash = send_call(
        &node,
        4,
        counter,
        Counter::incCall { by: U256::from(7) }.abi_encode(),
        200_000,
    )
    .await;
    assert!(receipt(&p, hash).await.status());

    let slots = [B256::ZERO, B256::with_last_byte(1)];
    let proof: Value = p
        .raw_request("eth_getProof".into(), json!([counter, slots, "latest"]))
        .await
        .expect("getProof");
    let number = u64::from_str_radix(
        p.raw_request::<_, String>("eth_blockNumber".into(), json!([]))
            .await
            .expect("blockNumber")
            .trim_start_matches("0x"),
        16,
    )
    .expect("hex");
    let block = p
        .get_block_by_number(number.into())
        .await
        .expect("rpc")
        .expect("block");
    // No block came between: nothing else is sent, and empty blocks keep the root.
    let root = block.header.state_root;
    assert_eq!(proof["storageProof"][0]["value"], "0x7", "{proof}");
    assert_eq!(proof["storageProof"][1]["value"], "0x0");
    assert_eq!(
        proof["codeHash"],
        json!(keccak256(p.get_code_at(counter).await.expect("code")))
    );
    verify_account(root, counter, &proof);

    for who in [node.address(1), Address::repeat_byte(0x42)] {
        let proof: Value = p
            .raw_request("eth_getProof".into(), json!([who, [], "latest"]))
            .await
            .expect("getProof");
        verify_account(root, who, &proof);
    }
    let balance = p.get_balance(node.address(1)).await.expect("balance");
    let proof: Value = p
        .raw_request("eth_getProof".into(), json!([node.address(1), []]))
        .await
        .expect("getProof");
    assert_eq!(
        serde_json::from_value::<U256>(proof["balance"].clone()).expect("balance"),
        balance
    );

    let old = p
        .raw_request::<_, Value>("eth_getProof".into(), json!([counter, [], "0x1"]))
        .await
        .expect_err("an older block");
    assert!(old.to_string().contains("latest block only"), "{old}");
    node.node.shutdown().await;
}
