//! Forced inclusion: `cairn force-send` posts a signed L2 transaction to Bitcoin in a
//! forced-transaction envelope; the sequencer includes it, and if it does not (it censors,
//! or it is down) every node builds the block holding it once its deadline passes, and
//! batches that ignore that block are refused.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::Provider as _;
use alloy_sol_types::SolCall as _;
use bitcoin::FeeRate;
use cairn_da::envelope::{scan_forced_transaction, scan_transaction};
use cairn_execution::withdraw::{WITHDRAWAL_CONTRACT, withdrawCall};
use cairn_l1::types::AddressType;
use cairn_settlement::derive::{FORCED_BLOCK_BENEFICIARY, ForcedStatus};
use cairn_settlement::forced::{ForceSendError, ForcedSend, force_send};

use crate::harness::*;

/// `cairn force-send` at 2 sat/vB from the devnet's wallet.
async fn send(devnet: &Devnet, chain_id: u64, raw: &[u8]) -> Result<ForcedSend, ForceSendError> {
    force_send(
        &devnet.client,
        bitcoin::Network::Regtest,
        chain_id,
        raw,
        FeeRate::from_sat_per_vb_u32(2),
    )
    .await
}

#[tokio::test]
async fn a_forced_transaction_rides_in_a_reveal_and_is_found_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = devnet(dir.path()).await;
    let signer = cairn_node::dev::dev_accounts(1).expect("account")[0]
        .signer
        .clone();
    let raw = transfer(&signer, 0, Address::repeat_byte(0x42), 1);
    let sent = send(&devnet, CHAIN_ID, &raw).await.expect("force-send");
    let l2 = cairn_primitives::decode_raw_transaction(&raw).expect("decode");
    assert_eq!(sent.l2_hash, l2.hash);

    let mined = devnet.mine(1).await;
    let block = devnet.client.get_block(&mined[0]).await.expect("block");
    let txids: Vec<_> = block.txdata.iter().map(|tx| tx.compute_txid()).collect();
    assert!(
        txids.contains(&sent.commit) && txids.contains(&sent.reveal),
        "both mined"
    );
    let reveal = block
        .txdata
        .iter()
        .find(|tx| tx.compute_txid() == sent.reveal)
        .expect("reveal");
    let found = scan_forced_transaction(reveal);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].chain_id, CHAIN_ID);
    assert_eq!(found[0].raw, raw.to_vec());
    assert!(
        scan_transaction(reveal).is_empty(),
        "batch scanners do not see it"
    );
    // Only the reveal in the block carries one.
    let all: usize = block
        .txdata
        .iter()
        .map(|tx| scan_forced_transaction(tx).len())
        .sum();
    assert_eq!(all, 1);

    let wrong_chain = send(&devnet, CHAIN_ID + 1, &raw)
        .await
        .expect_err("wrong chain");
    assert!(
        wrong_chain.to_string().contains("not --chain-id"),
        "{wrong_chain}"
    );
    let junk = send(&devnet, CHAIN_ID, &[0x02, 0x01])
        .await
        .expect_err("junk");
    assert!(
        junk.to_string().contains("not a signed L2 transaction"),
        "{junk}"
    );
}

#[tokio::test]
async fn the_sequencer_includes_a_forced_transaction_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (devnet, sequencer, _) = peg_sequencer(dir.path()).await;
    let to = Address::repeat_byte(0x43);
    let raw = paid_transfer(&sequencer.signer(1), 0, to);
    let sent = send(&devnet, CHAIN_ID, &raw).await.expect("force-send");
    let mined = devnet.mine(1).await;
    let height = devnet
        .client
        .get_block_header_info(&mined[0])
        .await
        .expect("header")
        .height;
    // The sequencer finds it on Bitcoin and includes it: no one sent it over RPC.
    let r = receipt(&sequencer.provider(1), sent.l2_hash).await;
    assert!(r.status());
    let forced = call_rpc(
        &sequencer,
        "cairn_getForcedTransactions",
        serde_json::json!([]),
    )
    .await;
    let list = forced.as_array().expect("list");
    assert_eq!(list.len(), 1, "{forced}");
    assert_eq!(list[0]["l2TxHash"], serde_json::json!(sent.l2_hash));
    assert_eq!(list[0]["txid"], serde_json::json!(sent.reveal.to_string()));
    assert_eq!(list[0]["status"], "included");
    assert_eq!(
        list[0]["blockNumber"],
        serde_json::json!(format!("{:#x}", r.block_number.expect("mined")))
    );
    assert_eq!(
        list[0]["l1Height"],
        serde_json::json!(format!("{height:#x}"))
    );
    // regtest's default window: 6 blocks.
    assert_eq!(
        list[0]["deadline"],
        serde_json::json!(format!("{:#x}", height + 6))
    );
    let later = call_rpc(
        &sequencer,
        "cairn_getForcedTransactions",
        serde_json::json!([format!("{:#x}", height + 1)]),
    )
    .await;
    assert_eq!(later, serde_json::json!([]));
    sequencer.node.shutdown().await;
}

async fn call_rpc(node: &TestNode, method: &str, params: serde_json::Value) -> serde_json::Value {
    use alloy::providers::Provider as _;
    node.provider(0)
        .raw_request::<_, serde_json::Value>(method.to_string().into(), params)
        .await
        .expect(method)
}

/// The Bitcoin tip's height.
async fn tip(devnet: &Devnet) -> u32 {
    devnet.client.get_block_count().await.expect("count") as u32
}

/// Mines until the tip is at `height`.
async fn mine_to(devnet: &Devnet, height: u32) {
    let now = tip(devnet).await;
    if height > now {
        devnet.mine(height - now).await;
    }
}

/// Waits until the node's derivation gives the first forced transaction `done`'s status.
async fn wait_forced(node: &TestNode, what: &str, done: impl Fn(&ForcedStatus) -> bool) {
    for _ in 0..400 {
        if settlement(&node.node)
            .forced
            .first()
            .is_some_and(|f| done(&f.status))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: {:?}", settlement(&node.node).forced);
}

/// The L2 block a forced transaction was included in, as derivation says.
fn included_in(node: &TestNode) -> u64 {
    match settlement(&node.node)
        .forced
        .first()
        .map(|f| f.status.clone())
    {
        Some(ForcedStatus::Included(number)) => number,
        other => panic!("not included: {other:?}"),
    }
}

#[tokio::test]
async fn followers_include_what_a_censoring_sequencer_ignores_and_refuse_its_later_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (devnet, sequencer, rollup, _) =
        peg_sequencer_edited(dir.path(), 0, Vec::new(), |_, config| {
            config.settlement.as_mut().expect("settles").ignore_forced = true;
        })
        .await;
    let follower = start_follower(&devnet, &sequencer, &rollup).await;
    let to = Address::repeat_byte(0x44);
    let raw = paid_transfer(&sequencer.signer(1), 0, to);
    let sent = send(&devnet, CHAIN_ID, &raw).await.expect("force-send");
    // And one that cannot run: its sender has nothing to pay with.
    let broke = alloy::signers::local::PrivateKeySigner::random();
    let unpaid = send(&devnet, CHAIN_ID, &paid_transfer(&broke, 0, to))
        .await
        .expect("force-send");
    devnet.mine(1).await;
    let deadline = tip(&devnet).await + 6;

    // Up to the deadline the sequencer's batches are valid without it.
    let hash = transfer_hash(&sequencer, 0, Address::repeat_byte(0x45)).await;
    let before = receipt(&sequencer.provider(0), hash)
        .await
        .block_number
        .expect("mined");
    mine_until_batched(
        &devnet,
        &follower.node,
        "a batch before the deadline",
        before,
    )
    .await;
    assert!(
        tip(&devnet).await <= deadline,
        "batched before the deadline"
    );
    mine_to(&devnet, deadline).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_forced(&follower, "pending up to the deadline", |s| {
        *s == ForcedStatus::Pending
    })
    .await;

    // The first Bitcoin block past it: the follower builds the block itself.
    devnet.mine(1).await;
    wait_forced(&follower, "included by the follower", |s| {
        matches!(s, ForcedStatus::Included(_))
    })
    .await;
    let number = included_in(&follower);
    let block = follower
        .node
        .storage
        .block_by_number(number)
        .expect("read")
        .expect("block");
    assert_eq!(block.block.header.beneficiary, FORCED_BLOCK_BENEFICIARY);
    assert_eq!(
        block
            .block
            .transactions
            .iter()
            .map(|t| t.hash)
            .collect::<Vec<_>>(),
        vec![sent.l2_hash]
    );
    let follower_rpc = follower.provider(0);
    let r = receipt(&follower_rpc, sent.l2_hash).await;
    assert!(r.status());
    assert_eq!(
        follower_rpc.get_balance(to).await.expect("balance"),
        U256::from(1)
    );
    assert_eq!(
        sequencer
            .provider(0)
            .get_balance(to)
            .await
            .expect("balance"),
        U256::ZERO,
        "the sequencer censored it"
    );
    let listed = call_rpc(
        &follower,
        "cairn_getForcedTransactions",
        serde_json::json!([]),
    )
    .await;
    assert_eq!(listed[0]["status"], "included", "{listed}");
    assert_eq!(
        listed[0]["blockNumber"],
        serde_json::json!(format!("{number:#x}"))
    );
    assert_eq!(listed[1]["l2TxHash"], serde_json::json!(unpaid.l2_hash));
    assert_eq!(listed[1]["status"], "skipped", "{listed}");
    let reason = listed[1]["reason"].as_str().expect("reason");
    assert!(reason.contains("insufficient funds"), "{reason}");
    assert_eq!(
        follower.node.storage.finality().expect("settles").safe,
        number
    );

    // The sequencer goes on without it: every later batch of its is refused.
    let applied = settlement(&follower.node).applied.len();
    let signed_before = settlement(&sequencer.node).last_signed.map(|b| b.number);
    transfer_hash(&sequencer, 0, Address::repeat_byte(0x46)).await;
    for _ in 0..4 {
        devnet.mine(1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let signed_after = settlement(&sequencer.node).last_signed.map(|b| b.number);
    assert!(signed_after > signed_before, "the sequencer kept posting");
    assert_eq!(
        settlement(&follower.node).applied.len(),
        applied,
        "none applied"
    );
    assert_eq!(follower.node.storage.head_number(), number);
    follower.node.shutdown().await;
    sequencer.node.shutdown().await;
}

#[tokio::test]
async fn a_stopped_sequencer_returns_on_top_of_the_block_followers_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (devnet, sequencer, rollup, started) =
        peg_sequencer_edited(dir.path(), 0, Vec::new(), |_, _| {}).await;
    let follower = start_follower(&devnet, &sequencer, &rollup).await;
    let hash = transfer_hash(&sequencer, 0, Address::repeat_byte(0x47)).await;
    let first = receipt(&sequencer.provider(0), hash)
        .await
        .block_number
        .expect("mined");
    mine_until_batched(&devnet, &follower.node, "a first batch", first).await;

    // The sequencer stops (its unposted blocks stay on its disk only).
    let stopped = sequencer.stop().await;
    let signer = stopped.accounts[1].signer.clone();
    let to = Address::repeat_byte(0x48);
    let sent = send(&devnet, CHAIN_ID, &paid_transfer(&signer, 0, to))
        .await
        .expect("force-send");
    devnet.mine(1).await;
    let deadline = tip(&devnet).await + 6;
    mine_to(&devnet, deadline + 1).await;
    wait_forced(&follower, "included by the follower", |s| {
        matches!(s, ForcedStatus::Included(_))
    })
    .await;
    let number = included_in(&follower);

    // A Bitcoin reorg replaces the deadline block: the block is dropped with it and built
    // again on the new branch.
    devnet.reorg(2).await;
    let new_tip = tip(&devnet).await;
    wait_for(|| settlement(&follower.node).l1_derived == Some(new_tip)).await;
    wait_forced(&follower, "included again", |s| {
        matches!(s, ForcedStatus::Included(_))
    })
    .await;
    assert_eq!(
        included_in(&follower),
        number,
        "built again at the same height"
    );
    let block = follower
        .node
        .storage
        .block_by_number(number)
        .expect("read")
        .expect("block");
    assert_eq!(block.block.header.beneficiary, FORCED_BLOCK_BENEFICIARY);
    assert_eq!(follower.node.storage.head_number(), number);

    // Back, it derives the same block (dropping what it had sealed there) and builds on it.
    let sequencer = stopped.start(started.clone()).await;
    wait_forced(&sequencer, "the sequencer derives it too", |s| {
        *s == ForcedStatus::Included(number)
    })
    .await;
    assert_same_block(&sequencer.node, &follower.node, number);
    assert!(receipt(&sequencer.provider(0), sent.l2_hash).await.status());
    let hash = transfer_hash(&sequencer, 0, Address::repeat_byte(0x49)).await;
    let later = receipt(&sequencer.provider(0), hash)
        .await
        .block_number
        .expect("mined");
    assert!(later > number);
    mine_until_batched(&devnet, &follower.node, "batches continue after it", later).await;
    assert_same_block(&sequencer.node, &follower.node, later);
    assert_eq!(
        follower.provider(0).get_balance(to).await.expect("balance"),
        U256::from(1)
    );
    follower.node.shutdown().await;
    sequencer.node.shutdown().await;
}

#[tokio::test]
async fn a_withdrawal_forced_through_bitcoin_is_paid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (devnet, sequencer, _, _) =
        peg_sequencer_edited(dir.path(), 5, Vec::new(), |_, _| {}).await;
    deposit(&devnet, &sequencer, 500_000).await;
    let address = wallet_address(&devnet, AddressType::Bech32).await;
    let signer = sequencer.signer(1);
    let nonce = sequencer
        .provider(1)
        .get_transaction_count(signer.address())
        .await
        .expect("nonce");
    let raw = sign_1559(
        &signer,
        nonce,
        TxKind::Call(WITHDRAWAL_CONTRACT),
        U256::from(100_000u64) * U256::from(SAT),
        Bytes::from(
            withdrawCall {
                bitcoinAddress: address.to_string(),
            }
            .abi_encode(),
        ),
        200_000,
        MAX_FEE,
        TIP,
    );
    let sent = send(&devnet, CHAIN_ID, &raw).await.expect("force-send");
    devnet.mine(1).await;
    let r = receipt(&sequencer.provider(0), sent.l2_hash).await;
    assert!(r.status(), "the withdrawal ran");
    mine_until_paid(&devnet, &sequencer.provider(0), &[sent.l2_hash]).await;
    let paid = paid_by(&status(&sequencer.provider(0), sent.l2_hash).await);
    let tx = transaction(&devnet.client, &paid).await;
    assert!(
        tx.output
            .iter()
            .any(|o| o.script_pubkey == address.script_pubkey()),
        "paid to the address"
    );
    sequencer.node.shutdown().await;
}

/// A transfer of 1 wei from dev account `from` to `to` through the node's RPC: its hash.
async fn transfer_hash(node: &TestNode, from: usize, to: Address) -> alloy::primitives::B256 {
    let tx = alloy::rpc::types::TransactionRequest {
        from: Some(node.address(from)),
        to: Some(to.into()),
        value: Some(U256::from(1)),
        ..Default::default()
    };
    let r = send_and_wait(&node.provider(from), tx).await;
    assert!(r.status());
    r.transaction_hash
}
