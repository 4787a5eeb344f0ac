//! `cairn force-send` (issue 14's first piece): a signed L2 transaction posted to Bitcoin
//! in a forced-transaction envelope, paid by the node's wallet, found again by the
//! envelope scanner in the mined block.

use alloy::primitives::Address;
use bitcoin::FeeRate;
use cairn_da::envelope::{scan_forced_transaction, scan_transaction};
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
