//! The devnet driven only through the node's L1 client (`cairn-l1`), exactly as Cairn
//! drives a real bitcoind: mining, wallet sends, coinbase maturity, double spends, RBF,
//! CSV-locked taproot script paths, forged signatures, reorgs seen by the block source,
//! and restart persistence.

use std::time::Duration;

use bitcoin::{
    Address, Amount, BlockHash, Network, OutPoint, Sequence, Transaction, TxOut, Witness,
};
use cairn_l1::{Auth, BlockSource, BlockSourceConfig, Client, Config};

use crate::harness::{CsvLock, Key, first_output, spend};
use crate::rpc::RpcNode;

async fn client(node: &RpcNode) -> Client {
    let config = Config::new(
        node.url.clone(),
        Auth::CookieFile(node.server.cookie_path().to_owned()),
    );
    Client::connect(&config, Network::Regtest)
        .await
        .expect("connect")
}

fn address(key: &Key) -> Address {
    Address::from_script(&key.spk, Network::Regtest).expect("address")
}

/// The coinbase output of the block `hash`.
async fn coinbase_of(client: &Client, hash: &BlockHash) -> (OutPoint, TxOut) {
    let block = client.get_block(hash).await.expect("block");
    first_output(&block.txdata[0])
}

/// Mines `count` blocks paying `key`; returns their hashes.
async fn mine_to(client: &Client, count: u32, key: &Key) -> Vec<BlockHash> {
    client
        .generate_to_address(count, &address(key))
        .await
        .expect("mine")
}

/// The RPC error `client` answers when sent `tx`.
async fn refused(client: &Client, tx: &Transaction) -> (i32, String) {
    rejected(client.send_raw_transaction(tx).await.expect_err("refused"))
}

fn rejected(err: cairn_l1::Error) -> (i32, String) {
    match err {
        cairn_l1::Error::Rpc { code, message } => (code, message),
        other => panic!("expected an RPC error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coinbase_maturity_double_spends_and_replacement() {
    let node = RpcNode::start(0).await;
    let client = client(&node).await;
    let key = Key::new(1);
    let mined = mine_to(&client, 1, &key).await;
    let coin = coinbase_of(&client, &mined[0]).await;
    mine_to(&client, 98, &Key::new(2)).await;

    // At height 99 the coinbase of block 1 is immature for the next block (100).
    let other = Key::new(3);
    let tx = spend(&key, coin.clone(), &other.spk, Amount::from_sat(1_000));
    let (code, message) = refused(&client, &tx).await;
    assert_eq!(code, -26);
    assert!(
        message.starts_with("bad-txns-premature-spend-of-coinbase"),
        "{message}"
    );
    mine_to(&client, 1, &other).await;
    assert_eq!(
        client.send_raw_transaction(&tx).await.expect("mature"),
        tx.compute_txid()
    );

    // A conflicting spend paying no more is not a valid replacement.
    let conflict = spend(
        &key,
        coin.clone(),
        &Key::new(4).spk,
        Amount::from_sat(1_000),
    );
    let (code, message) = refused(&client, &conflict).await;
    assert_eq!(code, -26);
    assert!(message.starts_with("insufficient fee"), "{message}");
    // One paying more replaces it (BIP125 rules, full RBF as in Core 28+).
    let bump = spend(
        &key,
        coin.clone(),
        &Key::new(4).spk,
        Amount::from_sat(5_000),
    );
    assert_eq!(
        client.send_raw_transaction(&bump).await.expect("replaces"),
        bump.compute_txid()
    );
    assert_eq!(
        client.get_raw_mempool().await.expect("mempool"),
        vec![bump.compute_txid()]
    );

    // Once mined, spending the coin again is a missing input.
    mine_to(&client, 1, &other).await;
    assert!(client.get_raw_mempool().await.expect("mempool").is_empty());
    let (code, message) = refused(&client, &tx).await;
    assert_eq!(
        (code, message.as_str()),
        (-25, "bad-txns-inputs-missingorspent")
    );
    let out = client
        .get_tx_out(&bump.compute_txid(), 0, true)
        .await
        .expect("txout");
    assert_eq!(
        out.expect("unspent").value,
        Amount::from_sat(5_000_000_000 - 5_000)
    );

    // A forged key-path signature is refused by libbitcoinconsensus.
    let mut forged = spend(
        &Key::new(4),
        first_output(&bump),
        &key.spk,
        Amount::from_sat(1_000),
    );
    let mut sig = forged.input[0].witness.to_vec().remove(0);
    sig[5] ^= 1;
    forged.input[0].witness = Witness::from_slice(&[sig]);
    let (code, message) = refused(&client, &forged).await;
    assert_eq!(code, -26);
    assert!(
        message.starts_with("mandatory-script-verify-flag-failed"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_taproot_script_path_waits_for_its_delay() {
    const DELAY: u16 = 5;
    let node = RpcNode::start(0).await;
    let client = client(&node).await;
    let key = Key::new(1);
    let mined = mine_to(&client, 101, &key).await;
    let coin = coinbase_of(&client, &mined[0]).await;

    let lock = CsvLock::new(&key, Key::new(7).xonly, DELAY);
    let fund = spend(&key, coin, &lock.spk, Amount::from_sat(1_000));
    client.send_raw_transaction(&fund).await.expect("fund");
    mine_to(&client, 1, &key).await;
    let locked = first_output(&fund);
    let tx = lock.spend(
        &key,
        &locked,
        Sequence::from_height(DELAY),
        Amount::from_sat(1_000),
    );

    // One confirmation: 4 short of the delay.
    let (code, message) = refused(&client, &tx).await;
    assert_eq!((code, message.as_str()), (-26, "non-BIP68-final"));
    let accept = client
        .test_mempool_accept(std::slice::from_ref(&tx))
        .await
        .expect("test");
    assert!(!accept[0].allowed);
    mine_to(&client, u32::from(DELAY) - 2, &key).await;
    assert_eq!(refused(&client, &tx).await.1, "non-BIP68-final");
    mine_to(&client, 1, &key).await;
    assert_eq!(
        client
            .send_raw_transaction(&tx)
            .await
            .expect("after the delay"),
        tx.compute_txid()
    );
    let hash = mine_to(&client, 1, &key).await[0];
    let block = client.get_block(&hash).await.expect("block");
    assert!(
        block
            .txdata
            .iter()
            .any(|t: &Transaction| t.compute_txid() == tx.compute_txid())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_source_reports_reorgs_and_the_chain_survives_restart() {
    let node = RpcNode::start(101).await;
    let client = client(&node).await;
    let to = client.get_new_address(None, None).await.expect("address");
    let tip = client.get_best_block_hash().await.expect("tip");
    let mut source = BlockSource::after_block(
        client.clone(),
        101,
        tip,
        BlockSourceConfig {
            poll_interval: Duration::from_millis(10),
            ..BlockSourceConfig::default()
        },
    );

    // A wallet payment, mined.
    let txid = client
        .send_to_address(&to, Amount::from_btc(1.5).expect("amount"))
        .await
        .expect("send");
    let mined = client.generate_to_address(3, &to).await.expect("mine");
    let update = source.next_update().await.expect("update");
    assert!(update.disconnected.is_empty());
    let heights: Vec<u32> = update.connected.iter().map(|(h, _)| *h).collect();
    assert_eq!(heights, vec![102, 103, 104]);
    assert!(
        update.connected[0]
            .1
            .txdata
            .iter()
            .any(|t| t.compute_txid() == txid)
    );

    // invalidateblock 103: blocks 104 and 103 leave the chain; the payment stays mined in 102.
    client
        .invalidate_block(&mined[1])
        .await
        .expect("invalidate");
    assert_eq!(client.get_block_count().await.expect("height"), 102);
    let branch = client.generate_to_address(3, &to).await.expect("branch");
    let update = source.next_update().await.expect("update");
    assert_eq!(update.disconnected, vec![(104, mined[2]), (103, mined[1])]);
    let connected: Vec<(u32, BlockHash)> = update
        .connected
        .iter()
        .map(|(h, b)| (*h, b.block_hash()))
        .collect();
    assert_eq!(
        connected,
        vec![(103, branch[0]), (104, branch[1]), (105, branch[2])]
    );

    // reconsiderblock: the old branch is shorter, so nothing moves.
    client
        .reconsider_block(&mined[1])
        .await
        .expect("reconsider");
    assert_eq!(client.get_best_block_hash().await.expect("tip"), branch[2]);
    assert!(source.poll().await.expect("poll").is_none());

    let balance = client.get_balance().await.expect("balance");
    let node = node.restart().await;
    let client = crate::client::client(&node).await;
    assert_eq!(client.get_best_block_hash().await.expect("tip"), branch[2]);
    assert_eq!(client.get_balance().await.expect("balance"), balance);
    assert_eq!(
        client
            .get_received_by_address(&to, 1)
            .await
            .expect("received"),
        Amount::from_btc(1.5).expect("amount") + Amount::from_int_btc(0)
    );
    assert!(
        client
            .get_raw_transaction(&txid)
            .await
            .expect("lookup")
            .is_some()
    );
}
