//! Settlement end to end on the embedded devnet: the sequencer's batcher posts its blocks
//! to Bitcoin by itself (funded from the devnet wallet, as `cairn dev` does), derivation
//! moves `safe` and `finalized`, a follower with nothing but `rollup.json` rebuilds the
//! same chain and serves it read-only, and a Bitcoin reorg that drops a batch is undone
//! and redone on both nodes without any batch appearing twice on L1.

use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{TxKind, U256};
use alloy::providers::{Provider, ProviderBuilder};
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, BlockHash};
use cairn_node::settle::SettlementConfig;
use cairn_node::{Node, launch};

use crate::harness::*;

/// The receipt of a transfer sent with `gas_limit` shows its L1 data fee: the gas it
/// took on top of the transfer's 21,000, at the block's rate and the price paid.
async fn check_l1_fee(
    provider: &alloy::providers::DynProvider,
    hash: alloy::primitives::B256,
    gas_limit: u64,
) -> serde_json::Value {
    let raw: serde_json::Value = provider
        .raw_request("eth_getTransactionReceipt".into(), (hash,))
        .await
        .expect("receipt");
    let quantity = |field: &str| -> U256 {
        raw[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {raw}"))
            .parse()
            .expect("quantity")
    };
    let l1_gas = quantity("l1GasUsed");
    assert!(l1_gas > U256::from(5_000), "{raw}");
    assert_eq!(quantity("gasUsed"), U256::from(21_000) + l1_gas, "{raw}");
    assert!(
        quantity("gasUsed") <= U256::from(gas_limit),
        "the estimate covered it"
    );
    assert_eq!(
        quantity("l1Fee"),
        l1_gas * quantity("effectiveGasPrice"),
        "{raw}"
    );
    assert!(
        quantity("l1FeeRate") >= U256::from(250),
        "at least 1 sat/vB: {raw}"
    );
    raw
}

async fn block_number(node: &Node, tag: BlockNumberOrTag) -> u64 {
    let provider = ProviderBuilder::new().connect_http(node.http_url().parse().expect("url"));
    provider
        .get_block_by_number(tag)
        .await
        .expect("rpc")
        .expect("block")
        .header
        .number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batcher_posts_and_a_follower_derives_through_a_reorg() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let key = Keypair::from_seckey_slice(&Secp256k1::new(), &[5; 32]).expect("key");
    let info = devnet.client.get_blockchain_info().await.expect("info");
    let start = (info.blocks, info.best_block_hash);

    // The sequencer, settling on the devnet; its batcher is funded from the devnet wallet.
    let accounts = cairn_node::dev::dev_accounts(10).expect("accounts");
    let sequencer_dir = tempfile::tempdir().expect("dir");
    let mut seq_config = config(sequencer_dir.path(), &accounts);
    let rollup = rollup_for(seq_config.spec.clone(), &key, start);
    seq_config.l1 = Some(devnet.l1_config());
    seq_config.settlement = Some(SettlementConfig {
        rollup: rollup.clone(),
        sequencer: Some(key),
        batcher: Default::default(),
        dev_funding: Some(Amount::from_int_btc(5)),
        ignore_forced: false,
    });
    let sequencer = TestNode::start_with(sequencer_dir, accounts, seq_config).await;
    let status = settlement(&sequencer.node);
    assert!(status.sequencer);
    assert!(
        status
            .batcher_address
            .as_deref()
            .is_some_and(|a| a.starts_with("bcrt1p")),
        "{status:?}"
    );
    // The funding payment was mined at start; the wallet sees it from that block.
    wait_for(|| {
        settlement(&sequencer.node)
            .batcher_balance
            .is_some_and(|b| b > Amount::from_int_btc(4))
    })
    .await;

    // Transfers pay for their bytes on Bitcoin from the first block: before the batcher
    // has read Bitcoin's fee rate, at the configured fallback rate. A wallet's estimate
    // covers it, 21,000 gas does not.
    assert!(sequencer.node.pool.l1_fee_rate().get() > bitcoin::FeeRate::ZERO);
    let estimate = sequencer
        .provider(0)
        .estimate_gas(
            alloy::rpc::types::TransactionRequest::default()
                .from(sequencer.address(0))
                .to(sequencer.address(9))
                .value(U256::from(1)),
        )
        .await
        .expect("estimate");
    assert!(estimate > 30_000, "estimate {estimate}");
    let raw = transfer(&sequencer.signer(0), 0, sequencer.address(9), 1);
    let err = sequencer
        .provider(0)
        .send_raw_transaction(&raw)
        .await
        .expect_err("21,000 gas does not pay the L1 fee");
    assert!(
        err.to_string()
            .contains("intrinsic gas too low: gas 21000, minimum needed"),
        "{err}"
    );
    let mut hashes = Vec::new();
    for i in 0..3 {
        let hash = send_tx(
            &sequencer,
            i,
            TxKind::Call(sequencer.address(9)),
            Vec::new(),
            estimate,
        )
        .await;
        assert!(receipt(&sequencer.provider(i), hash).await.status());
        hashes.push(hash);
    }
    let l1_receipt = check_l1_fee(&sequencer.provider(0), hashes[0], estimate).await;
    let last_tx_block = sequencer.node.storage.head_number();

    // Batches reach Bitcoin and come back through derivation: `safe` covers the
    // transfers, then `finalized` once buried two blocks deep.
    mine_until_batched(
        &devnet,
        &sequencer.node,
        "a batch covering the transfers",
        last_tx_block,
    )
    .await;
    assert!(block_number(&sequencer.node, BlockNumberOrTag::Safe).await >= last_tx_block);
    mine_until(&devnet, &sequencer.node, "finality", |_| {
        sequencer
            .node
            .storage
            .finality()
            .is_some_and(|f| f.finalized >= last_tx_block)
    })
    .await;
    assert!(block_number(&sequencer.node, BlockNumberOrTag::Finalized).await >= last_tx_block);
    let status = settlement(&sequencer.node);
    for (i, batch) in status.applied.iter().enumerate() {
        assert_eq!(batch.number, i as u64, "batches derive in order");
        if i > 0 {
            assert_eq!(
                batch.first_block,
                status.applied[i - 1].last_block + 1,
                "no gaps"
            );
        }
    }
    assert!(
        status
            .pending
            .iter()
            .all(|p| p.batch.number > status.applied[0].number),
        "final batches leave the outbox: {status:?}"
    );

    cairn_rpc_reports_settlement(&sequencer.node, hashes[0]).await;

    // A follower with nothing but rollup.json derives the same chain.
    let follower = start_follower(&devnet, &sequencer, &rollup).await;
    let derived_to = settlement(&sequencer.node)
        .applied
        .last()
        .expect("batch")
        .last_block;
    wait_for(|| follower.storage.head_number() >= derived_to).await;
    let want = sequencer
        .node
        .storage
        .block_by_number(derived_to)
        .expect("read")
        .expect("block");
    let got = follower
        .storage
        .block_by_number(derived_to)
        .expect("read")
        .expect("block");
    assert_eq!(got.block.hash, want.block.hash);
    let provider = ProviderBuilder::new().connect_http(follower.http_url().parse().expect("url"));
    let balance = provider
        .get_balance(sequencer.address(9))
        .block_id(derived_to.into())
        .await
        .expect("balance");
    let expected = sequencer
        .provider(0)
        .get_balance(sequencer.address(9))
        .block_id(derived_to.into())
        .await
        .expect("balance");
    assert_eq!(balance, expected);
    assert!(balance > U256::ZERO);
    let followed: serde_json::Value = provider
        .raw_request("eth_getTransactionReceipt".into(), (hashes[0],))
        .await
        .expect("receipt");
    assert_eq!(followed, l1_receipt, "the follower charged the same L1 fee");
    let status: serde_json::Value = provider
        .raw_request("cairn_syncStatus".into(), ())
        .await
        .expect("syncStatus");
    assert_eq!(status["settlement"]["role"], "follower", "{status}");
    assert_eq!(status["settlement"]["batcher"], serde_json::Value::Null);
    let raw = transfer(&sequencer.signer(1), 3, sequencer.address(2), 1);
    let err = provider
        .send_raw_transaction(&raw)
        .await
        .expect_err("read-only");
    assert!(
        err.to_string().contains("send them to the sequencer"),
        "{err}"
    );

    // A reorg drops the block carrying the last derived batch: `safe` moves back on the
    // sequencer, the follower unwinds; once the batch is mined again both are back.
    let last = settlement(&sequencer.node)
        .applied
        .last()
        .cloned()
        .expect("batch");
    let dropped = devnet
        .client
        .get_block_hash(last.l1_height)
        .await
        .expect("hash");
    devnet.invalidate(&dropped).await;
    wait_for(|| {
        settlement(&sequencer.node)
            .applied
            .last()
            .is_none_or(|b| b.number < last.number)
    })
    .await;
    assert!(
        sequencer
            .node
            .storage
            .finality()
            .is_some_and(|f| f.safe < last.last_block)
    );
    wait_for(|| follower.storage.head_number() < last.last_block).await;
    mine_until(&devnet, &sequencer.node, "the dropped batch again", |s| {
        s.applied.iter().any(|b| b.number == last.number)
    })
    .await;
    let again = settlement(&sequencer.node).applied[last.number as usize].clone();
    assert_eq!(again.hash, last.hash, "the same batch, not a new one");
    wait_for(|| follower.storage.head_number() >= last.last_block).await;
    let got = follower
        .storage
        .block_by_number(last.last_block)
        .expect("read")
        .expect("block");
    let want = sequencer
        .node
        .storage
        .block_by_number(last.last_block)
        .expect("read")
        .expect("block");
    assert_eq!(got.block.hash, want.block.hash);

    // On the best chain every batch was revealed exactly once.
    let posted = devnet.posted_batches(start.0).await;
    let applied = settlement(&sequencer.node).applied;
    for batch in &applied {
        assert_eq!(
            posted.get(&batch.hash),
            Some(&1),
            "batch {} posted once",
            batch.number
        );
    }
    follower.shutdown().await;
    sequencer.node.shutdown().await;
}

/// `cairn_syncStatus`, `cairn_getBatch` and `cairn_getTransactionStatus` on a node whose
/// batch holding `tx` is final.
async fn cairn_rpc_reports_settlement(node: &Node, tx: alloy::primitives::B256) {
    use serde_json::{Value, json};
    let provider = ProviderBuilder::new().connect_http(node.http_url().parse().expect("url"));
    // `caughtUp` is false while the task works through an L1 update (the batcher's own
    // transactions arrive as such): poll until it has caught up.
    let mut status = Value::Null;
    for _ in 0..200 {
        status = provider
            .raw_request("cairn_syncStatus".into(), ())
            .await
            .expect("syncStatus");
        if status["settlement"]["caughtUp"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let settlement = &status["settlement"];
    assert_eq!(settlement["role"], "sequencer", "{status}");
    assert_eq!(settlement["caughtUp"], true, "{status}");
    assert_eq!(settlement["finalityDepth"], "0x2");
    assert!(
        settlement["batcher"]["address"].as_str().is_some(),
        "{status}"
    );
    let finalized = u64::from_str_radix(
        status["finalized"]
            .as_str()
            .expect("hex")
            .trim_start_matches("0x"),
        16,
    )
    .expect("number");
    assert!(finalized >= 1, "{status}");

    let tx_status: Value = provider
        .raw_request("cairn_getTransactionStatus".into(), (tx,))
        .await
        .expect("status");
    assert_eq!(tx_status["status"], "finalized", "{tx_status}");
    let number = tx_status["batch"]["number"].clone();
    let batch: Value = provider
        .raw_request("cairn_getBatch".into(), (number.clone(),))
        .await
        .expect("batch");
    assert_eq!(batch["number"], number);
    assert_eq!(batch["status"], "finalized");
    assert_eq!(batch["hash"], tx_status["batch"]["hash"]);
    let by_block: Value = provider
        .raw_request(
            "cairn_getBatch".into(),
            (json!({ "blockNumber": tx_status["blockNumber"] }),),
        )
        .await
        .expect("batch by block");
    assert_eq!(by_block, batch);
    assert_eq!(
        batch["revealTxids"].as_array().map(Vec::len),
        Some(1),
        "{batch}"
    );
    let confirmations = batch["l1Confirmations"].as_str().expect("hex");
    assert!(u64::from_str_radix(&confirmations[2..], 16).expect("n") >= 2);

    let unknown: Value = provider
        .raw_request(
            "cairn_getTransactionStatus".into(),
            (alloy::primitives::B256::repeat_byte(1),),
        )
        .await
        .expect("status");
    assert_eq!(unknown, json!(null));
    let none: Value = provider
        .raw_request("cairn_getBatch".into(), ("0xffff",))
        .await
        .expect("batch");
    assert_eq!(none, json!(null));
    let err = provider
        .raw_request::<_, Value>("cairn_getBatch".into(), ("seven",))
        .await
        .expect_err("bad number");
    assert!(
        err.to_string().contains("-32602") || err.to_string().contains("invalid"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_refuses_another_bitcoin_chain() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let key = Keypair::from_seckey_slice(&Secp256k1::new(), &[5; 32]).expect("key");
    let accounts = cairn_node::dev::dev_accounts(1).expect("accounts");
    let node_dir = tempfile::tempdir().expect("dir");
    let mut config = config(node_dir.path(), &accounts);
    let mut rollup = rollup_for(
        config.spec.clone(),
        &key,
        (
            101,
            BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
        ),
    );
    rollup.l1.hash = "00".repeat(32);
    config.l1 = Some(devnet.l1_config());
    config.settlement = Some(SettlementConfig {
        rollup,
        sequencer: None,
        batcher: Default::default(),
        dev_funding: None,
        ignore_forced: false,
    });
    let err = format!("{:#}", launch(config).await.err().expect("refused"));
    assert!(err.contains("wrong Bitcoin chain"), "{err}");
}

/// A sequencer settling on a fresh devnet, its batcher funded with 5 BTC.
async fn settling_sequencer(devnet: &Devnet) -> TestNode {
    let key = Keypair::from_seckey_slice(&Secp256k1::new(), &[6; 32]).expect("key");
    let info = devnet.client.get_blockchain_info().await.expect("info");
    let accounts = cairn_node::dev::dev_accounts(10).expect("accounts");
    let dir = tempfile::tempdir().expect("dir");
    let mut seq_config = config(dir.path(), &accounts);
    let rollup = rollup_for(
        seq_config.spec.clone(),
        &key,
        (info.blocks, info.best_block_hash),
    );
    seq_config.l1 = Some(devnet.l1_config());
    seq_config.settlement = Some(SettlementConfig {
        rollup,
        sequencer: Some(key),
        batcher: Default::default(),
        dev_funding: Some(Amount::from_int_btc(5)),
        ignore_forced: false,
    });
    let node = TestNode::start_with(dir, accounts, seq_config).await;
    wait_for(|| {
        settlement(&node.node)
            .batcher_balance
            .is_some_and(|b| b > Amount::from_int_btc(4))
    })
    .await;
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stuck_in_the_mempool_is_fee_bumped() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let sequencer = settling_sequencer(&devnet).await;
    wait_for(|| !settlement(&sequencer.node).pending.is_empty()).await;
    let first = settlement(&sequencer.node).pending[0].clone();
    assert_eq!(first.batch.number, 0);
    let mempool = devnet.client.get_raw_mempool().await.expect("mempool");
    assert!(mempool.contains(&first.commit), "commit broadcast");
    assert!(mempool.contains(&first.reveals[0]), "reveal broadcast");

    // Two blocks that leave it out (a congested mempool): the batcher pays more.
    let to = devnet
        .client
        .get_new_address(None, None)
        .await
        .expect("address");
    for _ in 0..2 {
        empty_block(&devnet.client, &to).await;
    }
    wait_for(|| {
        settlement(&sequencer.node)
            .pending
            .iter()
            .any(|p| p.batch.number == 0 && p.reveals != first.reveals)
    })
    .await;
    let bumped = settlement(&sequencer.node).pending[0].clone();
    assert_eq!(bumped.batch, first.batch, "the same batch");
    assert_eq!(
        bumped.commit, first.commit,
        "the commit is kept (CPFP by the reveal)"
    );
    assert!(bumped.fee_rate > first.fee_rate, "{bumped:?} vs {first:?}");
    let mempool = devnet.client.get_raw_mempool().await.expect("mempool");
    assert!(
        mempool.contains(&bumped.reveals[0]),
        "replacement in the mempool"
    );
    assert!(!mempool.contains(&first.reveals[0]), "original replaced");
    let replacement = devnet
        .client
        .get_mempool_entry(&bumped.reveals[0])
        .await
        .expect("rpc")
        .expect("entry");
    assert!(replacement.bip125_replaceable, "{replacement:?}");
    assert_eq!(
        replacement.depends,
        vec![first.commit],
        "spends the same commit"
    );

    // Mined, it is derived with the replacement's txid.
    mine_until(&devnet, &sequencer.node, "the bumped batch", |s| {
        s.applied.first().is_some_and(|b| b.number == 0)
    })
    .await;
    let applied = settlement(&sequencer.node).applied[0].clone();
    assert_eq!(applied.hash, first.batch.hash);
    assert_eq!(applied.txids, bumped.reveals);
    sequencer.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_coins_a_reorg_spent_elsewhere_is_committed_again() {
    use serde_json::json;
    let dir = tempfile::tempdir().expect("dir");
    let devnet = devnet(dir.path()).await;
    let start = devnet.client.get_block_count().await.expect("count");
    let sequencer = settling_sequencer(&devnet).await;
    wait_for(|| !settlement(&sequencer.node).pending.is_empty()).await;
    let first = settlement(&sequencer.node).pending[0].clone();
    let commit = cairn_test_utils::transaction(&devnet.client, &first.commit).await;
    let funding_txid = commit.input[0].previous_output.txid;
    let funding = cairn_test_utils::transaction(&devnet.client, &funding_txid).await;

    // The block that paid the batcher goes away, and the payment is double-spent by a
    // conflicting transaction that the new chain confirms: the commit can never be valid.
    let funding_block = devnet.client.get_block_hash(start + 1).await.expect("hash");
    devnet.invalidate(&funding_block).await;
    let mut spent = Amount::ZERO;
    let mut inputs = Vec::new();
    for input in &funding.input {
        let parent =
            cairn_test_utils::transaction(&devnet.client, &input.previous_output.txid).await;
        spent += parent.output[input.previous_output.vout as usize].value;
        inputs.push(json!({"txid": input.previous_output.txid.to_string(), "vout": input.previous_output.vout}));
    }
    let elsewhere = devnet
        .client
        .get_new_address(None, None)
        .await
        .expect("address");
    let pay = (spent - Amount::from_sat(15_000)).to_btc();
    let unsigned = devnet
        .client
        .call_raw(
            "createrawtransaction",
            vec![json!(inputs), json!({ elsewhere.to_string(): pay })],
        )
        .await
        .expect("create");
    let signed = devnet
        .client
        .call_raw("signrawtransactionwithwallet", vec![unsigned])
        .await
        .expect("sign");
    let conflict: bitcoin::Transaction =
        bitcoin::consensus::encode::deserialize_hex(signed["hex"].as_str().expect("hex"))
            .expect("decode");
    devnet
        .client
        .send_raw_transaction(&conflict)
        .await
        .expect("the double spend replaces the payment");
    // New coins for the batcher, then a block confirming both.
    let address: bitcoin::Address = settlement(&sequencer.node)
        .batcher_address
        .expect("address")
        .parse::<bitcoin::Address<_>>()
        .expect("address")
        .assume_checked();
    devnet
        .client
        .send_to_address(&address, Amount::from_int_btc(5))
        .await
        .expect("refund");

    mine_until(
        &devnet,
        &sequencer.node,
        "batch 0 through a new commit",
        |s| s.applied.first().is_some_and(|b| b.number == 0),
    )
    .await;
    let status = settlement(&sequencer.node);
    assert_eq!(status.applied[0].hash, first.batch.hash, "the same batch");
    let posting = status
        .pending
        .iter()
        .find(|p| p.batch.number == 0)
        .expect("tracked until final");
    assert_ne!(posting.commit, first.commit, "committed again");
    let posted = devnet.posted_batches(start).await;
    assert_eq!(posted.get(&first.batch.hash), Some(&1));
    sequencer.node.shutdown().await;
}
