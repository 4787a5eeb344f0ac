//! The chain through JSON-RPC: transfers, contracts, logs, filters, the mempool,
//! and persistence across restarts.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{BlockId, Filter, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn transfers_move_exact_amounts_and_pay_fees() {
    let node = TestNode::start().await;
    let p = node.provider(0);
    let (a, b) = (node.address(0), node.address(1));
    let before_a = p.get_balance(a).await.expect("balance");
    let before_b = p.get_balance(b).await.expect("balance");

    let h1 = *p
        .send_raw_transaction(&transfer(&node.signer(0), 0, b, 1_000_000))
        .await
        .expect("1559")
        .tx_hash();
    let gas_price = 2 * cairn_primitives::DEFAULT_BASE_FEE_FLOOR as u128;
    let h2 = *p
        .send_raw_transaction(&sign_legacy(
            &node.signer(0),
            1,
            b,
            7,
            Some(CHAIN_ID),
            gas_price,
        ))
        .await
        .expect("legacy")
        .tx_hash();
    let r1 = receipt(&p, h1).await;
    let r2 = receipt(&p, h2).await;
    assert!(r1.status() && r2.status());
    assert_eq!((r1.gas_used, r2.gas_used), (21_000, 21_000));
    assert_eq!(
        r2.effective_gas_price, gas_price,
        "legacy pays its gas price"
    );
    assert!(r1.effective_gas_price >= cairn_primitives::DEFAULT_BASE_FEE_FLOOR as u128);
    let fees = U256::from(21_000u128 * (r1.effective_gas_price + r2.effective_gas_price));
    assert_eq!(
        p.get_balance(b).await.expect("balance"),
        before_b + U256::from(1_000_007)
    );
    assert_eq!(
        p.get_balance(a).await.expect("balance"),
        before_a - U256::from(1_000_007) - fees
    );
    assert_eq!(p.get_transaction_count(a).await.expect("nonce"), 2);

    let tx = p
        .get_transaction_by_hash(h1)
        .await
        .expect("rpc")
        .expect("known");
    assert_eq!(tx.block_number, r1.block_number);
    assert_eq!(
        alloy::consensus::Transaction::value(&tx),
        U256::from(1_000_000)
    );
    let block = p
        .get_block_by_number(BlockNumberOrTag::Number(r1.block_number.expect("mined")))
        .full()
        .await
        .expect("rpc")
        .expect("block");
    assert!(block.transactions.hashes().any(|h| h == h1));
    assert_eq!(block.header.hash, r1.block_hash.expect("hash"));
    let receipts = p
        .get_block_receipts(BlockId::Number(BlockNumberOrTag::Number(
            r1.block_number.expect("mined"),
        )))
        .await
        .expect("rpc")
        .expect("block");
    assert!(receipts.iter().any(|r| r.transaction_hash == h1));
    node.node.shutdown().await;
}

#[tokio::test]
async fn contract_deploy_call_logs_and_reverts() {
    let node = TestNode::start().await;
    let p = node.provider(2);
    let counter = deploy_counter(&node, 2).await;
    assert!(!p.get_code_at(counter).await.expect("code").is_empty());

    let call = Counter::incCall { by: U256::from(5) }.abi_encode();
    let gas = p
        .estimate_gas(
            TransactionRequest::default()
                .from(node.address(2))
                .to(counter)
                .input(call.clone().into()),
        )
        .await
        .expect("estimate");
    assert!(gas > 21_000 && gas < 100_000, "estimate {gas}");
    let hash = send_call(&node, 2, counter, call, gas).await;
    let r = receipt(&p, hash).await;
    assert!(r.status());
    assert_eq!(r.gas_used, r.gas_used.min(gas), "estimate was enough");
    let logs = r.inner.logs();
    assert_eq!(logs.len(), 1);
    let event = Counter::Incremented::decode_log_data(logs[0].data()).expect("decodes");
    assert_eq!((event.by, event.newCount), (node.address(2), U256::from(5)));

    // eth_call sees the new state; storage reads agree.
    let out = p
        .call(
            TransactionRequest::default()
                .to(counter)
                .input(Counter::countCall {}.abi_encode().into()),
        )
        .await
        .expect("call");
    assert_eq!(U256::from_be_slice(&out), U256::from(5));
    let slot0 = p
        .get_storage_at(counter, U256::ZERO)
        .await
        .expect("storage");
    assert_eq!(slot0, U256::from(5));

    // eth_getLogs by address and indexed topic.
    let filter = Filter::new()
        .address(counter)
        .event_signature(Counter::Incremented::SIGNATURE_HASH)
        .topic1(node.address(2).into_word())
        .from_block(0);
    let found = p.get_logs(&filter).await.expect("logs");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].transaction_hash, Some(hash));
    let other = Filter::new()
        .address(counter)
        .topic1(Address::repeat_byte(9).into_word())
        .from_block(0);
    assert!(p.get_logs(&other).await.expect("logs").is_empty());

    // require() and custom errors: code 3 with the revert data.
    let zero = TransactionRequest::default()
        .from(node.address(2))
        .to(counter)
        .input(Counter::incCall { by: U256::ZERO }.abi_encode().into());
    let err = p.call(zero.clone()).await.expect_err("reverts");
    let payload = err.as_error_resp().expect("json-rpc error");
    assert_eq!(payload.code, 3);
    assert_eq!(payload.message, "execution reverted: zero increment");
    let err = p.estimate_gas(zero).await.expect_err("reverts");
    assert_eq!(err.as_error_resp().expect("json-rpc error").code, 3);
    let big = TransactionRequest::default().to(counter).input(
        Counter::incCall {
            by: U256::from(101),
        }
        .abi_encode()
        .into(),
    );
    let err = p.call(big).await.expect_err("reverts");
    let payload = err.as_error_resp().expect("json-rpc error");
    let data: Bytes =
        serde_json::from_str(payload.data.as_ref().expect("data").get()).expect("hex");
    let decoded =
        <Counter::TooBig as alloy::sol_types::SolError>::abi_decode(&data).expect("TooBig");
    assert_eq!(decoded.value, U256::from(101));

    // State overrides: pretend the count is 1000.
    let overrides: serde_json::Value = json!({
        format!("{counter:#x}"): { "stateDiff": { format!("0x{:064x}", 0): format!("0x{:064x}", 1000) } }
    });
    let out: Bytes = p
        .raw_request(
            "eth_call".into(),
            json!([{ "to": counter, "data": Bytes::from(Counter::countCall {}.abi_encode()) }, "latest", overrides]),
        )
        .await
        .expect("call with overrides");
    assert_eq!(U256::from_be_slice(&out), U256::from(1000));
    node.node.shutdown().await;
}

#[tokio::test]
async fn filters_report_new_blocks_and_logs() {
    let node = TestNode::start().await;
    let p = node.provider(3);
    let counter = deploy_counter(&node, 3).await;
    let block_filter = p.new_block_filter().await.expect("filter");
    let log_filter = p
        .new_filter(&Filter::new().address(counter))
        .await
        .expect("filter");
    let call = Counter::incCall { by: U256::from(2) }.abi_encode();
    let hash = send_call(&node, 3, counter, call, 100_000).await;
    let r = receipt(&p, hash).await;
    let hashes: Vec<alloy::primitives::B256> =
        p.get_filter_changes(block_filter).await.expect("changes");
    assert!(hashes.contains(&r.block_hash.expect("hash")));
    let logs: Vec<alloy::rpc::types::Log> =
        p.get_filter_changes(log_filter).await.expect("changes");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].transaction_hash, Some(hash));
    let again: Vec<alloy::rpc::types::Log> =
        p.get_filter_changes(log_filter).await.expect("changes");
    assert!(again.is_empty(), "changes are reported once");
    let all = p.get_filter_logs(log_filter).await.expect("filter logs");
    assert_eq!(all.len(), 1);
    assert!(p.uninstall_filter(log_filter).await.expect("uninstall"));
    let err = p
        .get_filter_changes::<alloy::rpc::types::Log>(log_filter)
        .await
        .expect_err("gone");
    assert_eq!(
        err.as_error_resp().expect("error").message,
        "filter not found"
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn mempool_orders_nonces_and_replaces_with_a_bump() {
    let node = TestNode::start().await;
    let p = node.provider(4);
    let s = node.signer(4);
    let to = node.address(5);
    // Nonce 1 first: queued until nonce 0 arrives.
    let _queued = p
        .send_raw_transaction(&transfer(&s, 1, to, 1))
        .await
        .expect("queued accepted");
    let status: serde_json::Value = p
        .raw_request("txpool_status".into(), ())
        .await
        .expect("status");
    assert_eq!(status["queued"], "0x1");
    assert_eq!(
        p.get_transaction_count(node.address(4))
            .pending()
            .await
            .expect("nonce"),
        0
    );
    let content: serde_json::Value = p
        .raw_request("txpool_content".into(), ())
        .await
        .expect("content");
    assert!(content["queued"][node.address(4).to_checksum(None)]["1"].is_object());

    // A replacement of nonce 1 must bump both fees by 10%.
    let low = sign_transfer(&s, 1, to, 2, 21_000, (MAX_FEE + 1, TIP + 1));
    let err = p.send_raw_transaction(&low).await.expect_err("underpriced");
    assert_eq!(
        err.as_error_resp().expect("error").message,
        "replacement transaction underpriced"
    );
    let bumped = sign_transfer(&s, 1, to, 2, 21_000, (MAX_FEE * 2, TIP * 2));
    let h1 = *p
        .send_raw_transaction(&bumped)
        .await
        .expect("replacement")
        .tx_hash();
    let h0 = *p
        .send_raw_transaction(&transfer(&s, 0, to, 1))
        .await
        .expect("gap filled")
        .tx_hash();
    let (r0, r1) = (receipt(&p, h0).await, receipt(&p, h1).await);
    assert!(r0.status() && r1.status());
    assert!(r0.block_number <= r1.block_number);
    assert_eq!(
        p.get_transaction_count(node.address(4))
            .await
            .expect("nonce"),
        2
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn chain_and_state_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let accounts = cairn_node::dev::dev_accounts(10).expect("accounts");
    let node = cairn_node::launch(config(dir.path(), &accounts))
        .await
        .expect("start");
    let p = alloy::providers::ProviderBuilder::new()
        .connect_http(node.http_url().parse().expect("url"));
    let hash = *p
        .send_raw_transaction(&transfer(&accounts[6].signer, 0, accounts[7].address, 42))
        .await
        .expect("accepted")
        .tx_hash();
    let r = receipt(&p.clone().erased(), hash).await;
    let balance = p.get_balance(accounts[7].address).await.expect("balance");
    let head = p.get_block_number().await.expect("head");
    node.shutdown().await;

    let node = cairn_node::launch(config(dir.path(), &accounts))
        .await
        .expect("restart");
    let p = alloy::providers::ProviderBuilder::new()
        .connect_http(node.http_url().parse().expect("url"));
    assert!(p.get_block_number().await.expect("head") >= head);
    assert_eq!(
        p.get_balance(accounts[7].address).await.expect("balance"),
        balance
    );
    let again = p
        .get_transaction_receipt(hash)
        .await
        .expect("rpc")
        .expect("still there");
    assert_eq!(again.block_hash, r.block_hash);
    // The chain goes on from where it was.
    let next = *p
        .send_raw_transaction(&transfer(&accounts[6].signer, 1, accounts[7].address, 1))
        .await
        .expect("accepted")
        .tx_hash();
    assert!(receipt(&p.clone().erased(), next).await.status());
    node.shutdown().await;

    // The same data dir with another chain config is refused.
    let mut other = config(dir.path(), &accounts);
    other.spec.chain_id = 1;
    let err = cairn_node::launch(other).await.err().expect("refused");
    assert!(format!("{err:#}").contains("another chain"), "{err:#}");
}

#[tokio::test]
async fn block_tags_and_fee_endpoints() {
    let node = TestNode::start().await;
    let p = node.provider(0);
    for tag in [
        BlockNumberOrTag::Latest,
        BlockNumberOrTag::Safe,
        BlockNumberOrTag::Finalized,
        BlockNumberOrTag::Pending,
        BlockNumberOrTag::Earliest,
    ] {
        let block = p
            .get_block_by_number(tag)
            .await
            .expect("rpc")
            .expect("block");
        if tag == BlockNumberOrTag::Earliest {
            assert_eq!(block.header.number, 0);
        }
    }
    assert!(
        p.get_block_by_number(BlockNumberOrTag::Number(1 << 40))
            .await
            .expect("rpc")
            .is_none()
    );
    // Once settlement reports what Bitcoin holds, `safe` and `finalized` follow it.
    let number = |tag| {
        let p = p.clone();
        async move {
            p.get_block_by_number(tag)
                .await
                .expect("rpc")
                .expect("block")
                .header
                .number
        }
    };
    while node.node.storage.head_number() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    node.node.storage.set_finality(cairn_storage::Finality {
        safe: 2,
        finalized: 1,
    });
    assert_eq!(number(BlockNumberOrTag::Safe).await, 2);
    assert_eq!(number(BlockNumberOrTag::Finalized).await, 1);
    assert!(number(BlockNumberOrTag::Latest).await >= 2);
    let price = p.get_gas_price().await.expect("gas price");
    assert!(price >= cairn_primitives::DEFAULT_BASE_FEE_FLOOR as u128);
    let history = p
        .get_fee_history(4, BlockNumberOrTag::Latest, &[25.0, 75.0])
        .await
        .expect("history");
    assert_eq!(
        history.base_fee_per_gas.len(),
        history.gas_used_ratio.len() + 1
    );
    assert!(
        history
            .base_fee_per_gas
            .iter()
            .all(|b| *b >= cairn_primitives::DEFAULT_BASE_FEE_FLOOR as u128)
    );
    assert_eq!(p.get_chain_id().await.expect("chain id"), CHAIN_ID);
    let version: String = p
        .raw_request("web3_clientVersion".into(), ())
        .await
        .expect("version");
    // A dev node answers in Anvil's dialect (Hardhat's helpers key on it); `cairn node`
    // answers `cairn/…` (dev_methods.rs).
    assert!(
        version.starts_with("anvil/") && version.contains("cairn"),
        "{version}"
    );
    // The dev accounts are unlocked, as on Anvil.
    assert_eq!(
        p.get_accounts().await.expect("accounts"),
        (0..10).map(|i| node.address(i)).collect::<Vec<Address>>()
    );
    node.node.shutdown().await;
}

#[tokio::test]
async fn eip7702_delegation_sets_the_authority_code() {
    use alloy::consensus::{SignableTransaction, TxEip7702, TxEnvelope};
    use alloy::eips::eip2718::Encodable2718;
    use alloy::eips::eip7702::Authorization;
    use alloy::network::TxSignerSync;
    use alloy::signers::SignerSync;

    let node = TestNode::start().await;
    let counter = deploy_counter(&node, 6).await;
    let p = node.provider(6);
    let authority = node.signer(7);
    let auth = Authorization {
        chain_id: U256::from(CHAIN_ID),
        address: counter,
        nonce: 0,
    };
    let sig = authority
        .sign_hash_sync(&auth.signature_hash())
        .expect("sign auth");
    let nonce = p
        .get_transaction_count(node.address(6))
        .await
        .expect("nonce");
    let mut tx = TxEip7702 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: MAX_FEE,
        max_priority_fee_per_gas: TIP,
        to: node.address(7),
        value: U256::ZERO,
        access_list: Default::default(),
        authorization_list: vec![auth.into_signed(sig)],
        // The authority now runs Counter's code: inc() writes its own storage.
        input: Counter::incCall { by: U256::from(4) }.abi_encode().into(),
    };
    let sig = node.signer(6).sign_transaction_sync(&mut tx).expect("sign");
    let raw: Bytes = TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into();
    let hash = *p
        .send_raw_transaction(&raw)
        .await
        .expect("accepted")
        .tx_hash();
    let r = receipt(&p, hash).await;
    assert!(r.status());
    let code = p.get_code_at(node.address(7)).await.expect("code");
    let mut expected = vec![0xef, 0x01, 0x00];
    expected.extend_from_slice(counter.as_slice());
    assert_eq!(code.to_vec(), expected, "delegation designator");
    assert_eq!(
        p.get_transaction_count(node.address(7))
            .await
            .expect("nonce"),
        1
    );
    assert_eq!(
        p.get_storage_at(node.address(7), U256::ZERO)
            .await
            .expect("slot"),
        U256::from(4)
    );
    assert_eq!(
        p.get_storage_at(counter, U256::ZERO).await.expect("slot"),
        U256::ZERO
    );
    node.node.shutdown().await;
}
