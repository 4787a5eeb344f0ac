//! Follower mode: a node with nothing but `rollup.json` and a Bitcoin node derives the
//! sequencer's chain from the batches posted there, serves it read-only over JSON-RPC,
//! and refuses transactions.

use std::net::SocketAddr;
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{B256, TxKind, U256};
use alloy::providers::{Provider, ProviderBuilder};
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, Network, OutPoint, ScriptBuf};
use cairn_da::{
    DEFAULT_MAX_REVEAL_WEIGHT, SignedBatchHeader, build_reveal, commit_output, envelope_leaves,
    max_chunk_payload, reveal_weight,
};
use cairn_devnet::{DevnetConfig, DevnetServer};
use cairn_l1::{Auth, Client};
use cairn_node::{L1Config, launch};
use cairn_primitives::{L1Network, L1Start, ROLLUP_CONFIG_VERSION, RollupConfig};
use cairn_settlement::batch::{BatchPosition, build_batch};

use crate::harness::*;

/// Posts a batch as commit/reveal pairs paid from the devnet's wallet and mines them.
async fn post(client: &Client, signed: &SignedBatchHeader, body: &[u8], key: &Keypair) {
    let xonly = key.x_only_public_key().0;
    let max_chunk = max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT);
    let leaves = envelope_leaves(signed, body, xonly, max_chunk).expect("leaves");
    let destination = ScriptBuf::new_p2tr(&Secp256k1::new(), xonly, None);
    for leaf in &leaves {
        let (spk, info) = commit_output(leaf, xonly);
        let fee = Amount::from_sat(reveal_weight(leaf, &destination).to_vbytes_ceil() * 2);
        let address = bitcoin::Address::from_script(&spk, Network::Regtest).expect("address");
        let txid = client
            .send_to_address(&address, fee + Amount::from_sat(10_000))
            .await
            .expect("fund commit");
        let commit = client
            .get_raw_transaction(&txid)
            .await
            .expect("rpc")
            .expect("commit");
        let vout = commit
            .output
            .iter()
            .position(|o| o.script_pubkey == spk)
            .expect("output");
        let outpoint = OutPoint::new(txid, u32::try_from(vout).expect("vout"));
        let reveal = build_reveal(
            outpoint,
            &commit.output[vout],
            leaf,
            &info,
            key,
            destination.clone(),
            fee,
        )
        .expect("reveal");
        client.send_raw_transaction(&reveal).await.expect("reveal");
    }
    let to = client.get_new_address(None, None).await.expect("address");
    client.generate_to_address(1, &to).await.expect("mine");
}

/// The chain spec the test sequencer runs (the harness's).
fn sequencer_spec(node: &TestNode) -> cairn_primitives::ChainSpec {
    config(std::path::Path::new("."), &node.accounts).spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_derives_the_sequencers_chain_and_serves_it_read_only() {
    let dir = tempfile::tempdir().expect("dir");
    let devnet = DevnetServer::start(DevnetConfig {
        data_dir: dir.path().join("bitcoin"),
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        rpc_user: None,
        block_time: None,
        initial_blocks: 101,
    })
    .await
    .expect("devnet");
    let rpc = cairn_l1::Config::new(
        devnet.rpc_url(),
        Auth::CookieFile(devnet.cookie_path().to_owned()),
    );
    let client = Client::connect(&rpc, Network::Regtest)
        .await
        .expect("client");
    let sequencer_key = Keypair::from_seckey_slice(&Secp256k1::new(), &[5; 32]).expect("key");

    // The sequencer: a node producing blocks with a few transfers in them.
    let sequencer = TestNode::start().await;
    let info = client.get_blockchain_info().await.expect("info");
    let rollup = RollupConfig {
        version: ROLLUP_CONFIG_VERSION,
        chain: sequencer_spec(&sequencer),
        sequencer_key: sequencer_key.x_only_public_key().0.to_string(),
        l1: L1Start {
            network: L1Network::Regtest,
            height: info.blocks,
            hash: info.best_block_hash.to_string(),
        },
        finality_depth: 1,
    };
    for i in 0..3 {
        let hash = send_tx(
            &sequencer,
            i,
            TxKind::Call(sequencer.address(9)),
            Vec::new(),
            21_000,
        )
        .await;
        assert!(receipt(&sequencer.provider(i), hash).await.status());
    }
    let storage = &sequencer.node.storage;
    let last = storage.head_number();
    let tip = client.get_best_block_hash().await.expect("tip");
    let position = BatchPosition {
        number: 0,
        prev_hash: B256::ZERO,
        first_block: 1,
        last_block: last,
    };
    let (signed, body) = build_batch(
        storage,
        CHAIN_ID,
        position,
        (info.blocks, tip),
        &sequencer_key,
    )
    .expect("batch");
    post(&client, &signed, &body, &sequencer_key).await;

    // The follower: same genesis, nothing else.
    let follower_dir = tempfile::tempdir().expect("dir");
    let mut follower_config = config(follower_dir.path(), &sequencer.accounts);
    follower_config.spec = rollup.chain.clone();
    follower_config.l1 = Some(L1Config {
        rpc,
        network: Network::Regtest,
        poll_interval: Duration::from_millis(20),
    });
    follower_config.follow = Some(rollup.clone());
    let follower = launch(follower_config).await.expect("follower starts");
    for _ in 0..400 {
        if follower.storage.head_number() >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(follower.storage.head_number(), last);
    let want = storage.block_by_number(last).expect("read").expect("block");
    assert_eq!(follower.storage.head().block.hash, want.block.hash);

    // Its RPC serves the derived chain; `safe`/`finalized` name the batch's end.
    let provider = ProviderBuilder::new().connect_http(follower.http_url().parse().expect("url"));
    let latest = provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .expect("rpc")
        .expect("block");
    assert_eq!(latest.header.hash, want.block.hash);
    let safe = provider
        .get_block_by_number(BlockNumberOrTag::Safe)
        .await
        .expect("rpc")
        .expect("block");
    assert_eq!(safe.header.number, last);
    let balance = provider
        .get_balance(sequencer.address(9))
        .await
        .expect("balance");
    let expected = sequencer
        .provider(0)
        .get_balance(sequencer.address(9))
        .block_id(last.into())
        .await
        .expect("balance");
    assert_eq!(balance, expected);
    assert!(balance > U256::ZERO);
    // It takes no transactions.
    let raw = sign_1559(
        &sequencer.signer(1),
        1,
        TxKind::Call(sequencer.address(2)),
        U256::from(1),
        Default::default(),
        21_000,
        MAX_FEE,
        TIP,
    );
    let err = provider
        .send_raw_transaction(&raw)
        .await
        .expect_err("read-only");
    assert!(
        err.to_string().contains("send them to the sequencer"),
        "{err}"
    );
    follower.shutdown().await;

    // A follower pointed at another Bitcoin chain refuses to start.
    let mut wrong = rollup;
    wrong.l1.hash = "00".repeat(32);
    let other_dir = tempfile::tempdir().expect("dir");
    let mut wrong_config = config(other_dir.path(), &sequencer.accounts);
    wrong_config.l1 = Some(L1Config {
        rpc: cairn_l1::Config::new(
            devnet.rpc_url(),
            Auth::CookieFile(devnet.cookie_path().to_owned()),
        ),
        network: Network::Regtest,
        poll_interval: Duration::from_millis(20),
    });
    wrong_config.follow = Some(wrong);
    let err = format!("{:#}", launch(wrong_config).await.err().expect("refused"));
    assert!(err.contains("wrong Bitcoin chain"), "{err}");
}
