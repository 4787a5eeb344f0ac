//! A sequencer set: when the active sequencer stays silent on Bitcoin past the timeout,
//! the next member takes over from the last batch on Bitcoin; the chain keeps growing,
//! payouts continue, and the old one, back, stands by.

use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider as _;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use cairn_l1::types::AddressType;

use crate::harness::*;

/// The sync status's settlement part.
async fn sync(node: &TestNode) -> serde_json::Value {
    let status: serde_json::Value = node
        .provider(0)
        .raw_request("cairn_syncStatus".into(), ())
        .await
        .expect("status");
    status["settlement"].clone()
}

/// A transfer of 1 wei through `node`: the block it landed in.
async fn transfer_on(node: &TestNode, to: Address) -> u64 {
    let tx = alloy::rpc::types::TransactionRequest {
        from: Some(node.address(0)),
        to: Some(to.into()),
        value: Some(alloy::primitives::U256::from(1)),
        ..Default::default()
    };
    let r = send_and_wait(&node.provider(0), tx).await;
    assert!(r.status());
    r.block_number.expect("mined")
}

#[tokio::test]
async fn the_next_sequencer_takes_over_from_a_dead_one_and_the_old_one_stands_by() {
    let dir = tempfile::tempdir().expect("tempdir");
    let standby_key = Keypair::from_seckey_slice(&Secp256k1::new(), &[6; 32]).expect("key");
    let standby_xonly = standby_key.x_only_public_key().0.to_string();
    let (devnet, first, rollup, started) =
        peg_sequencer_edited(dir.path(), 3, Vec::new(), |rollup, _| {
            rollup.sequencers = vec![rollup.sequencer_key.clone(), standby_xonly.clone()];
        })
        .await;
    // The second member: a follower's configuration with its own key and the same
    // in-process signers for its coordinator.
    let second_dir = tempfile::tempdir().expect("dir");
    let mut config = follower_config(second_dir.path(), &first, &devnet, &rollup);
    let member = config.settlement.as_mut().expect("settles");
    member.sequencer = Some(standby_key);
    member.dev_funding = Some(bitcoin::Amount::from_int_btc(5));
    config.peg.local_signers = cairn_node::rollup::load_dev_signers(&started.data_dir)
        .expect("signers")
        .into_iter()
        .take(3)
        .collect();
    let second = TestNode::start_with(second_dir, first.accounts.clone(), config).await;
    let follower = start_follower(&devnet, &first, &rollup).await;

    // The first member is active; the second stands by and follows it.
    deposit(&devnet, &first, 500_000).await;
    let block = transfer_on(&first, Address::repeat_byte(0x51)).await;
    mine_until_batched(&devnet, &follower.node, "the first member's batch", block).await;
    mine_until_batched(&devnet, &second.node, "the standby follows", block).await;
    let status = sync(&second).await;
    assert_eq!(status["role"], "standby", "{status}");
    assert_eq!(status["activeSequencer"]["index"], "0x0", "{status}");
    assert_eq!(sync(&first).await["role"], "sequencer");
    assert_eq!(sync(&follower).await["role"], "follower");

    // The first member dies. After `sequencerTimeout` (6) silent Bitcoin blocks the second
    // takes over.
    let stopped = first.stop().await;
    let mut mined = 0;
    while !settlement(&second.node).active {
        assert!(mined < 12, "no takeover after {mined} blocks");
        devnet.mine(1).await;
        mined += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let tip = devnet.client.get_block_count().await.expect("count") as u32;
    // (Its last batch may have been mined after it died.)
    let (last, at) = settlement(&follower.node).last_post;
    assert_eq!(last, 0);
    assert_eq!(
        tip,
        at + 6,
        "takes over when the next block is past the timeout"
    );

    // The chain keeps growing, from the last batch on Bitcoin.
    let later = transfer_on(&second, Address::repeat_byte(0x52)).await;
    mine_until_batched(&devnet, &follower.node, "the takeover batch", later).await;
    assert_same_block(&second.node, &follower.node, later);
    let status = sync(&follower).await;
    assert_eq!(status["activeSequencer"]["index"], "0x1", "{status}");
    assert!(
        status["activeSequencer"]["lastBatchL1Height"].is_string(),
        "{status}"
    );
    assert_eq!(settlement(&follower.node).last_post.0, 1);

    // A Bitcoin reorg across the takeover: its batch may land one block earlier, before
    // the turn passed, where no node counts it; the new member posts again and every
    // node converges.
    devnet.reorg(2).await;
    let again = transfer_on(&second, Address::repeat_byte(0x53)).await;
    mine_until_batched(&devnet, &follower.node, "after the reorg", again).await;
    assert_same_block(&second.node, &follower.node, again);
    assert_eq!(settlement(&follower.node).last_post.0, 1);

    // Payouts continue: the new active member coordinates them.
    let (_, hash) = withdraw_to_wallet(&devnet, &second, AddressType::Bech32, 100_000).await;
    mine_until_paid(&devnet, &second.provider(0), &[hash]).await;

    // The old member comes back: it is not its turn, so it stands by and follows.
    let first = stopped.start(started.clone()).await;
    let head = second.node.storage.head_number();
    mine_until_batched(&devnet, &first.node, "the old member follows", head).await;
    assert_same_block(&second.node, &first.node, head);
    let status = sync(&first).await;
    assert_eq!(status["role"], "standby", "{status}");
    assert!(!first.node.producer.is_active());
    devnet.mine(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let takeover = settlement(&follower.node)
        .applied
        .iter()
        .find(|b| b.signer == 1)
        .map(|b| b.number)
        .expect("the takeover batch");
    let signed = settlement(&first.node).last_signed.map(|b| b.number);
    assert!(
        signed < Some(takeover),
        "it signed nothing after the takeover: {signed:?}"
    );
    first.node.shutdown().await;
    follower.node.shutdown().await;
    second.node.shutdown().await;
}
