//! Withdrawals paid on Bitcoin end to end: BTC deposited to the peg, burned on L2 to every
//! address type, paid by one federation transaction that 3 of the 5 signers checked and
//! signed, recorded on L2 once (and by a follower that checks the record against Bitcoin),
//! with the supply invariant after every step. Signers refuse forged payouts; with only
//! M−1 signers reachable nothing is paid and nothing is lost, and payouts resume when a
//! third signer (a separate node deriving the chain itself) comes up.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use bitcoin::{Amount, Transaction, Txid};
use cairn_l1::types::AddressType;
use cairn_node::launch;
use cairn_peg::policy::payout_commitment;

use crate::harness::*;

const SAT: u64 = 10_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawals_to_every_address_type_are_paid_once_by_three_of_five() {
    let dir = tempfile::tempdir().expect("dir");
    let (devnet, sequencer, rollup) = peg_sequencer_with(dir.path(), 5, Vec::new()).await;
    let provider = sequencer.provider(0);
    let genesis = hex_u256(&supply(&provider).await["genesisAllocationsWei"]);
    deposit(&devnet, &sequencer, 1_000_000).await;
    assert_invariant(&supply(&provider).await, genesis);

    let mut requests = Vec::new();
    for kind in ADDRESS_TYPES {
        let address = wallet_address(&devnet, kind).await;
        let hash = withdraw(
            &provider,
            sequencer.address(0),
            &address.to_string(),
            100_000,
        )
        .await;
        let requested = status(&provider, hash).await;
        assert_eq!(requested["status"], "requested", "{requested}");
        assert_eq!(requested["bitcoinTxid"], serde_json::Value::Null);
        requests.push((address, hash));
    }
    assert_invariant(&supply(&provider).await, genesis);
    let requested_at = devnet.client.get_block_count().await.expect("height");
    let hashes: Vec<B256> = requests.iter().map(|(_, h)| *h).collect();
    mine_until_paid(&devnet, &provider, &hashes).await;
    let paid_at = devnet.client.get_block_count().await.expect("height");
    println!(
        "withdrawal request to payout recorded on L2: {} Bitcoin blocks",
        paid_at - requested_at
    );

    // One Bitcoin transaction paid all four, in id order, each its amount minus an equal
    // share of the fee, then the commitment, then the change back to the peg.
    let first = status(&provider, hashes[0]).await;
    let txid = paid_by(&first);
    let mut ids = Vec::new();
    for hash in &hashes {
        let paid = status(&provider, *hash).await;
        assert_eq!(paid["bitcoinTxid"], first["bitcoinTxid"], "{paid}");
        ids.push(hex_u64(&paid["id"]));
    }
    let tx: Transaction = cairn_test_utils::transaction(&devnet.client, &txid).await;
    assert_eq!(tx.output.len(), 6, "4 withdrawals, commitment, change");
    let fee = Amount::from_sat(1_000_000) - tx.output.iter().map(|o| o.value).sum::<Amount>();
    let shares = cairn_peg::policy::fee_shares(fee, 4);
    assert!(fee > Amount::ZERO);
    for (i, (address, _)) in requests.iter().enumerate() {
        assert_eq!(tx.output[i].script_pubkey, address.script_pubkey());
        assert_eq!(tx.output[i].value, Amount::from_sat(100_000) - shares[i]);
        let received = received(&devnet.client, address).await;
        assert_eq!(received, tx.output[i].value, "{address}");
    }
    assert_eq!(
        tx.output[4].script_pubkey,
        payout_commitment(rollup.chain.chain_id, &ids)
    );
    assert_eq!(
        tx.output[5].value,
        Amount::from_sat(600_000),
        "change: 1,000,000 − 400,000"
    );
    // 3 signatures, 2 empty slots, the leaf, the control block.
    assert_eq!(tx.input[0].witness.len(), 5 + 2);
    assert_eq!(
        tx.input[0].witness.iter().filter(|w| w.len() == 64).count(),
        3
    );
    println!(
        "payout of 4 withdrawals: {} vB ({} vB per withdrawal)",
        tx.vsize(),
        tx.vsize() / 4
    );

    // The burn is complete: the contract holds nothing, the paid total is exact, and the
    // peg's coins are exactly the change.
    let after = supply(&provider).await;
    assert_eq!(after["withdrawalsBurnedWei"], "0x0", "{after}");
    assert_eq!(hex_u64(&after["withdrawalsPaidSat"]), 400_000, "{after}");
    assert_eq!(hex_u64(&after["pegOutputsSat"]), 600_000, "{after}");
    assert_eq!(hex_u64(&after["unsweptDepositsSat"]), 0, "{after}");
    assert_invariant(&after, genesis);

    // More blocks change nothing: no second payout, no second record.
    devnet.mine(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = supply(&provider).await;
    assert_eq!(hex_u64(&later["withdrawalsPaidSat"]), 400_000, "{later}");
    assert_eq!(later["pegOutputsSat"], after["pegOutputsSat"]);

    // A follower checks the payout record against Bitcoin and agrees.
    let paid_block = sequencer.node.storage.head_number();
    mine_until(&devnet, &sequencer.node, "the payout's batch", |s| {
        s.applied.last().is_some_and(|b| b.last_block >= paid_block)
    })
    .await;
    let follower = start_follower(&devnet, &sequencer, &rollup).await;
    wait_for(|| follower.storage.head_number() >= paid_block).await;
    let theirs = ProviderBuilder::new().connect_http(follower.http_url().parse().expect("url"));
    let seen: Vec<serde_json::Value> = theirs
        .raw_request("cairn_getWithdrawalStatus".into(), (hashes[3],))
        .await
        .expect("status");
    assert_eq!(seen[0]["status"], "paid", "{seen:?}");
    assert_eq!(seen[0]["bitcoinTxid"], first["bitcoinTxid"]);
    assert_same_block(&sequencer.node, &follower, paid_block);
    follower.shutdown().await;
}

use alloy::providers::ProviderBuilder;
use cairn_bridge::wire::{ProposalWire, SignerApiClient as _};

/// A typed client of a signer listener, sending `token` if given.
fn signer_client(url: &str, token: Option<&str>) -> jsonrpsee::http_client::HttpClient {
    let mut headers = jsonrpsee::http_client::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    jsonrpsee::http_client::HttpClientBuilder::default()
        .set_headers(headers)
        .build(url)
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_five_pay_nothing_a_third_signer_resumes_and_forgeries_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    // Signers 1 and 2 run in the sequencer; signer 3 is a separate node, down at first.
    let port = free_port();
    let token = "a-secret-of-signer-3";
    let url = format!("http://__cookie__:{token}@127.0.0.1:{port}");
    let (devnet, sequencer, rollup) = peg_sequencer_with(dir.path(), 2, vec![url]).await;
    let provider = sequencer.provider(0);
    let genesis = hex_u256(&supply(&provider).await["genesisAllocationsWei"]);
    deposit(&devnet, &sequencer, 500_000).await;
    let (_, hash) = withdraw_to_wallet(&devnet, &sequencer, AddressType::Bech32, 200_000).await;

    // With two signatures of three nothing moves on Bitcoin, and nothing is lost.
    for _ in 0..8 {
        devnet.mine(1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let waiting = status(&provider, hash).await;
    assert_eq!(waiting["status"], "finalized", "{waiting}");
    let held = supply(&provider).await;
    assert_eq!(hex_u64(&held["unsweptDepositsSat"]), 500_000, "{held}");
    assert_eq!(hex_u64(&held["withdrawalsPaidSat"]), 0, "{held}");
    assert_invariant(&held, genesis);

    // Signer 3 comes up: a node of its own that derives the chain from Bitcoin.
    let signer_dir = tempfile::tempdir().expect("dir");
    let mut signer_config = follower_config(signer_dir.path(), &sequencer, &devnet, &rollup);
    signer_config.peg.signer_rpc_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    signer_config.peg.signer_rpc_token = Some(token.to_owned());
    signer_config.peg.signer_key = Some(
        cairn_node::rollup::load_sequencer_key(
            &sequencer._dir.path().join("peg-keys").join("signer-3.key"),
        )
        .expect("key"),
    );
    let signer = launch(signer_config).await.expect("signer starts");
    let listener = format!("http://127.0.0.1:{port}");
    let signer_rpc = signer_client(&listener, Some(token));

    // It refuses what its own state does not justify: a payout of a withdrawal that does
    // not exist, and one paying an existing withdrawal to someone else.
    let head = sequencer.node.storage.head_number();
    wait_for(|| signer.storage.head_number() >= head).await;
    // Proposals carry the sequencer's authorization (peg_sequencer's key), forged or not.
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let sequencer_key = bitcoin::key::Keypair::from_seckey_slice(&secp, &[5; 32]).expect("key");
    let stranger = bitcoin::key::Keypair::from_seckey_slice(&secp, &[9; 32]).expect("key");
    let authorized = |tx: &Transaction, withdrawals: Vec<u64>, by: &bitcoin::key::Keypair| {
        ProposalWire::of(
            &cairn_peg::policy::PayoutProposal {
                tx: tx.clone(),
                withdrawals,
            },
            by,
        )
    };
    let forged =
        |tx: &Transaction, withdrawals: Vec<u64>| authorized(tx, withdrawals, &sequencer_key);
    let ledger = {
        let peg = cairn_bridge::Peg::open(signer_dir.path(), &rollup, signer.storage.clone())
            .expect("peg")
            .expect("a peg");
        peg.ledger(u64::MAX).expect("ledger")
    };
    let coins: Vec<bitcoin::OutPoint> = ledger.view.coins.keys().copied().collect();
    assert_eq!(coins.len(), 1, "the deposit is the only coin");
    let federation =
        cairn_peg::Federation::from_spec(rollup.peg.as_ref().expect("peg")).expect("federation");
    let honest = cairn_peg::policy::build_payout(
        &ledger.view,
        &federation,
        &coins,
        &[0],
        bitcoin::FeeRate::from_sat_per_vb_u32(2),
    )
    .expect("builds");
    let mut thief = honest.tx.clone();
    thief.output[0].script_pubkey = devnet
        .client
        .get_new_address(None, None)
        .await
        .expect("address")
        .script_pubkey();
    for (proposal, reason) in [
        (
            forged(&honest.tx, vec![7]),
            "withdrawal 7 is not finalized and unpaid",
        ),
        (forged(&thief, vec![0]), "output 0 pays"),
        (
            ProposalWire {
                tx: "00".into(),
                withdrawals: vec![0],
                sequencer: String::new(),
                authorization: String::new(),
            },
            "undecodable transaction",
        ),
        // Only the active sequencer proposes.
        (
            authorized(&honest.tx, vec![0], &stranger),
            "is the active one",
        ),
        (
            ProposalWire {
                authorization: "00".repeat(64),
                ..forged(&honest.tx, vec![0])
            },
            "the signature does not verify",
        ),
    ] {
        let err = signer_rpc.sign_payout(proposal).await.expect_err(reason);
        assert!(err.to_string().contains(reason), "{err}");
    }
    // Without the secret, or with another, the listener refuses before anything is checked.
    for (client, what) in [
        (signer_client(&listener, None), "no credentials"),
        (signer_client(&listener, Some("guess")), "a wrong secret"),
    ] {
        let err = client
            .sign_payout(forged(&honest.tx, vec![0]))
            .await
            .expect_err(what);
        assert!(err.to_string().contains("401"), "{what}: {err}");
    }
    // Nobody's public port signs: not the sequencer's, not the signer's own.
    for public in [
        &provider,
        &ProviderBuilder::new()
            .connect_http(signer.http_url().parse().expect("url"))
            .erased(),
    ] {
        let err = public
            .raw_request::<_, serde_json::Value>(
                "cairn_signPayout".into(),
                (forged(&honest.tx, vec![0]),),
            )
            .await
            .expect_err("not served");
        assert!(err.to_string().contains("Method not found"), "{err}");
    }

    // With the third signer back, the next block's payout goes through.
    mine_until_paid(&devnet, &provider, &[hash]).await;
    let paid = supply(&provider).await;
    assert_eq!(hex_u64(&paid["withdrawalsPaidSat"]), 200_000, "{paid}");
    assert_eq!(hex_u64(&paid["pegOutputsSat"]), 300_000, "{paid}");
    assert_invariant(&paid, genesis);
    signer.shutdown().await;
}

/// Mines a block at a time until `done` holds for `cairn_getSupply`.
async fn mine_until_supply(
    devnet: &Devnet,
    provider: &DynProvider,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..40 {
        let now = supply(provider).await;
        if done(&now) {
            return now;
        }

        devnet.mine(1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    panic!("{what}: never happened; supply {}", supply(provider).await);
}

/// With the peg's own fees (rotation sweeps) counted: circulating + burned = genesis +
/// peg coins + what the peg paid miners.
fn assert_invariant_with_fees(supply: &serde_json::Value, genesis: U256) {
    assert_eq!(supply["unbackedWei"], "0x0", "{supply}");
    assert_eq!(supply["missingWei"], "0x0", "{supply}");
    let held = hex_u64(&supply["pegOutputsSat"])
        + hex_u64(&supply["unsweptDepositsSat"])
        + hex_u64(&supply["pegFeesSat"]);
    assert_eq!(
        hex_u256(&supply["circulatingWei"]) + hex_u256(&supply["withdrawalsBurnedWei"]),
        genesis + U256::from(held) * U256::from(SAT),
        "{supply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_signer_set_takes_over_without_pausing_deposits_or_withdrawals() {
    use bitcoin::secp256k1::{Keypair, Secp256k1};
    let dir = tempfile::tempdir().expect("dir");
    let secp = Secp256k1::new();
    let new_keys: Vec<Keypair> = (21u8..24)
        .map(|b| Keypair::from_seckey_slice(&secp, &[b; 32]).expect("key"))
        .collect();
    let new_set: Vec<String> = new_keys
        .iter()
        .map(|k| k.x_only_public_key().0.to_string())
        .collect();
    let mut rotation_height = 0;
    let (devnet, sequencer, rollup, _) =
        peg_sequencer_edited(dir.path(), 5, Vec::new(), |rollup, config| {
            rotation_height = rollup.l1.height + 8;
            let peg = rollup.peg.as_mut().expect("peg");
            peg.rotations.push(cairn_primitives::SignerRotation {
                l1_height: rotation_height,
                signers: new_set.clone(),
                threshold: 2,
            });
            config.peg.local_signers.extend(new_keys.iter().copied());
        })
        .await;
    let provider = sequencer.provider(0);
    let genesis = hex_u256(&supply(&provider).await["genesisAllocationsWei"]);

    // Before the rotation: a deposit under the first set, and an address of that set
    // handed out to someone who pays it only later.
    deposit(&devnet, &sequencer, 600_000).await;
    let late_payer = Address::repeat_byte(0x5a);
    let old_address = deposit_address(&provider, late_payer).await;
    let before: serde_json::Value = provider
        .raw_request("cairn_getBridgeInfo".into(), ())
        .await
        .expect("bridge");
    assert_eq!(before["epoch"], 0, "{before}");

    // The rotation height passes: the new set is the peg's, and the first set's coins move
    // to its peg output (the peg pays that transaction's fee).
    let swept = mine_until_supply(&devnet, &provider, "the rotation sweep", |s| {
        hex_u64(&s["pegOutputsSat"]) > 0 && hex_u64(&s["unsweptDepositsSat"]) == 0
    })
    .await;
    assert!(devnet.client.get_block_count().await.expect("height") >= rotation_height);
    let fee = hex_u64(&swept["pegFeesSat"]);
    assert!(fee > 0 && fee < 10_000, "{swept}");
    assert_eq!(hex_u64(&swept["pegOutputsSat"]), 600_000 - fee);
    assert_invariant_with_fees(&swept, genesis);
    let after: serde_json::Value = provider
        .raw_request("cairn_getBridgeInfo".into(), ())
        .await
        .expect("bridge");
    assert_eq!(after["epoch"], 1, "{after}");
    assert_eq!(after["threshold"], 2, "{after}");
    assert_ne!(after["pegAddress"], before["pegAddress"]);
    assert_eq!(
        after["signerSets"][1]["signers"],
        serde_json::json!(new_set)
    );
    let new_address = deposit_address(&provider, late_payer).await;
    assert_ne!(new_address, old_address, "new addresses are the new set's");

    // Withdrawals go on: paid from the new set's peg output, signed by the new set.
    let (_, hash) = withdraw_to_wallet(&devnet, &sequencer, AddressType::Bech32m, 100_000).await;
    mine_until_paid(&devnet, &provider, &[hash]).await;
    let paid = status(&provider, hash).await;
    let txid = paid_by(&paid);
    let tx: Transaction = cairn_test_utils::transaction(&devnet.client, &txid).await;
    let new_leaf = cairn_peg::scripts::multisig_script(&cairn_peg::KeySet {
        keys: new_keys.iter().map(|k| k.x_only_public_key().0).collect(),
        threshold: 2,
    });
    let leaf = tx.input[0]
        .witness
        .taproot_leaf_script()
        .expect("script path");
    assert_eq!(leaf.script, new_leaf.as_script(), "the new set signed");

    // Deposits go on too, even to an address of the first set handed out before the
    // rotation: credited, then moved to the new set by the first set's signers.
    devnet
        .client
        .send_to_address(&old_address.assume_checked(), Amount::from_sat(250_000))
        .await
        .expect("paid");
    let drained = mine_until_supply(&devnet, &provider, "the late deposit swept", |s| {
        hex_u64(&s["depositsCreditedSat"]) == 850_000 && hex_u64(&s["unsweptDepositsSat"]) == 0
    })
    .await;
    assert_eq!(
        balance(&sequencer.node.http_url(), late_payer).await,
        U256::from(250_000u64) * U256::from(SAT)
    );
    assert_eq!(
        hex_u64(&drained["withdrawalsPaidSat"]),
        100_000,
        "{drained}"
    );
    assert_invariant_with_fees(&drained, genesis);
    let _ = rollup;
}

/// The coordinator's outbox in the sequencer's data dir.
fn outbox(sequencer_dir: &std::path::Path) -> serde_json::Value {
    std::fs::read(sequencer_dir.join("peg").join("payouts.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn broadcast_versions(outbox: &serde_json::Value) -> Vec<serde_json::Value> {
    outbox["current"]["versions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|v| !v["broadcastAt"].is_null())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_payout_is_replaced_at_a_higher_fee_and_paid_once_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let (devnet, sequencer, _rollup, started) =
        peg_sequencer_edited(dir.path(), 5, Vec::new(), |_, _| {}).await;
    let provider = sequencer.provider(0);
    let genesis = hex_u256(&supply(&provider).await["genesisAllocationsWei"]);
    deposit(&devnet, &sequencer, 500_000).await;
    let (address, hash) =
        withdraw_to_wallet(&devnet, &sequencer, AddressType::Bech32, 100_000).await;
    let data_dir = started.data_dir.clone();

    // Blocks until the payout is broadcast.
    let mut first = None;
    for _ in 0..30 {
        devnet.mine(1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Some(v) = broadcast_versions(&outbox(&data_dir)).first() {
            first = Some(v.clone());
            break;
        }
    }
    let first = first.expect("the payout was broadcast");
    let first_tx: Transaction =
        bitcoin::consensus::encode::deserialize_hex(first["signed"].as_str().expect("signed"))
            .expect("tx");
    assert!(
        devnet
            .client
            .get_raw_mempool()
            .await
            .expect("mempool")
            .contains(&first_tx.compute_txid()),
        "the payout waits in the mempool"
    );

    // The sequencer restarts with the payout in flight: it neither forgets nor repeats it.
    let stopped = sequencer.stop().await;
    let sequencer = stopped.start(started.clone()).await;
    let provider = sequencer.provider(0);

    // Miners leave it out: after three blocks it is replaced at a higher fee rate.
    let miner = devnet
        .client
        .get_new_address(None, None)
        .await
        .expect("address");
    let mut versions = Vec::new();
    for _ in 0..10 {
        empty_block(&devnet.client, &miner).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        versions = broadcast_versions(&outbox(&data_dir));
        if versions.len() >= 2 {
            break;
        }
    }
    assert!(versions.len() >= 2, "replaced: {versions:?}");
    assert!(
        versions[1]["satPerVb"].as_u64() > first["satPerVb"].as_u64(),
        "{versions:?}"
    );
    let mempool = devnet.client.get_raw_mempool().await.expect("mempool");
    assert!(
        !mempool.contains(&first_tx.compute_txid()),
        "the replacement evicted the first version"
    );

    // Mined normally now: the replacement confirms and is recorded, once.
    mine_until_paid(&devnet, &provider, &[hash]).await;
    let paid = status(&provider, hash).await;
    let txid = paid_by(&paid);
    assert_ne!(
        txid,
        first_tx.compute_txid(),
        "the replacement is what paid"
    );
    let tx: Transaction = cairn_test_utils::transaction(&devnet.client, &txid).await;
    assert!(
        tx.output[0].value < first_tx.output[0].value,
        "the withdrawer's share of the higher fee"
    );
    assert_eq!(
        received(&devnet.client, &address).await,
        tx.output[0].value,
        "paid exactly once"
    );
    devnet.mine(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = supply(&provider).await;
    assert_eq!(hex_u64(&after["withdrawalsPaidSat"]), 100_000, "{after}");
    assert_eq!(
        hex_u64(&after["pegOutputsSat"]),
        400_000,
        "the change: the whole deposit less the withdrawal"
    );
    assert_invariant(&after, genesis);
    sequencer.node.shutdown().await;
}

/// A network whose sequencer credited 300,000 sat to `recipient`: the network, the deposit
/// transaction, its Bitcoin block and the L2 head after the credit.
async fn credited_deposit(
    recipient: Address,
) -> (cairn_test_utils::Network, Txid, bitcoin::BlockHash, u64) {
    let net = cairn_test_utils::Network::setup(0, 0).await;
    let (txid, block, credit_block) =
        deposit_to(&net.devnet, &net.sequencer, recipient, 300_000).await;
    (net, txid, block, credit_block)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_mined_again_after_a_reorg_stays_credited_once_and_followers_agree() {
    let recipient = Address::repeat_byte(0x66);
    let (net, txid, deposit_block, credit_block) = credited_deposit(recipient).await;
    let (devnet, sequencer, rollup) = (&net.devnet, &net.sequencer, &net.rollup);
    let (provider, url) = (sequencer.provider(0), sequencer.node.http_url());
    let credited = U256::from(300_000u64) * U256::from(SAT);
    mine_until_batched(devnet, &sequencer.node, "the credit's batch", credit_block).await;

    // A reorg replaces the deposit's block (and the batches after it); the deposit and the
    // batches are mined again in other blocks.
    devnet.invalidate(&deposit_block).await;
    let mempool = devnet.client.get_raw_mempool().await.expect("mempool");
    assert!(
        mempool.contains(&txid),
        "the deposit went back to the mempool"
    );
    devnet.mine(1).await;
    let head = sequencer.node.storage.head_number();
    mine_until(devnet, &sequencer.node, "batches after the reorg", |s| {
        s.applied.last().is_some_and(|b| b.last_block >= head)
    })
    .await;
    assert_eq!(
        balance(&url, recipient).await,
        credited,
        "still credited, once"
    );
    let supply = supply(&provider).await;
    assert_eq!(hex_u64(&supply["depositsCreditedSat"]), 300_000, "{supply}");
    assert_eq!(supply["unbackedWei"], "0x0", "{supply}");

    // A follower derives the chain from the new Bitcoin chain and agrees.
    let follower = start_follower(devnet, sequencer, rollup).await;
    wait_for(|| follower.storage.head_number() >= head).await;
    assert_eq!(balance(&follower.http_url(), recipient).await, credited);
    assert_same_block(&sequencer.node, &follower, head);
    follower.shutdown().await;
}

/// Mines a block with every mempool transaction but `excluded` (parents before children).
async fn mine_without(devnet: &Devnet, excluded: Txid) {
    let mut txs = Vec::new();
    for txid in devnet.client.get_raw_mempool().await.expect("mempool") {
        if txid != excluded
            && let Some(tx) = devnet.client.get_raw_transaction(&txid).await.expect("rpc")
        {
            txs.push(tx);
        }
    }
    let waiting: std::collections::HashSet<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    let mut placed = std::collections::HashSet::new();
    let mut ordered = Vec::new();
    while !txs.is_empty() {
        let (ready, rest): (Vec<Transaction>, Vec<Transaction>) = txs.into_iter().partition(|tx| {
            tx.input.iter().all(|i| {
                let parent = i.previous_output.txid;
                !waiting.contains(&parent) || placed.contains(&parent)
            })
        });
        if ready.is_empty() {
            break;
        }
        placed.extend(ready.iter().map(|t| t.compute_txid()));
        ordered.extend(ready);
        txs = rest;
    }
    let miner = devnet
        .client
        .get_new_address(None, None)
        .await
        .expect("address");
    devnet
        .client
        .generate_block(&miner, &ordered)
        .await
        .expect("block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_a_reorg_removes_is_uncredited_and_credited_again_when_mined() {
    let recipient = Address::repeat_byte(0x67);
    let (net, deposit_txid, deposit_block, credit_block) = credited_deposit(recipient).await;
    let (devnet, sequencer, rollup) = (&net.devnet, &net.sequencer, &net.rollup);
    let (provider, url) = (sequencer.provider(0), sequencer.node.http_url());
    let credited = U256::from(300_000u64) * U256::from(SAT);
    // An unrelated L2 transfer after the credit.
    let payee = Address::repeat_byte(0x68);
    let transfer = alloy::rpc::types::TransactionRequest {
        from: Some(sequencer.address(1)),
        to: Some(payee.into()),
        value: Some(U256::from(12_345u64)),
        ..Default::default()
    };
    let sent = send_and_wait(&sequencer.provider(1), transfer).await;
    assert!(sent.block_number.expect("mined") > credit_block);
    mine_until_batched(devnet, &sequencer.node, "the credit's batch", credit_block).await;

    // A reorg removes the deposit's block; the new chain passes its height without it.
    devnet.invalidate(&deposit_block).await;
    mine_without(devnet, deposit_txid).await;
    wait_balance(&url, recipient, U256::ZERO, "the credit is undone").await;
    let undone = supply(&provider).await;
    assert_eq!(hex_u64(&undone["depositsCredited"]), 0, "{undone}");
    assert_eq!(undone["unbackedWei"], "0x0", "{undone}");
    assert_eq!(undone["missingWei"], "0x0", "{undone}");
    // The transfer that came after it is included again.
    let mut again = None;
    for _ in 0..400 {
        again = provider
            .get_transaction_receipt(sent.transaction_hash)
            .await
            .expect("rpc");
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(again.expect("included again").status());
    assert_eq!(balance(&url, payee).await, U256::from(12_345u64));

    // The new blocks reach Bitcoin in new batches; a follower derives the chain without the
    // credit.
    let head = sequencer.node.storage.head_number();
    for _ in 0..30 {
        if settlement(&sequencer.node)
            .applied
            .last()
            .is_some_and(|b| b.last_block >= head)
        {
            break;
        }
        mine_without(devnet, deposit_txid).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let follower = start_follower(devnet, sequencer, rollup).await;
    wait_for(|| follower.storage.head_number() >= head).await;
    assert_eq!(balance(&follower.http_url(), recipient).await, U256::ZERO);
    assert_eq!(
        balance(&follower.http_url(), payee).await,
        U256::from(12_345u64)
    );
    assert_same_block(&sequencer.node, &follower, head);
    follower.shutdown().await;

    // Mined after all, the deposit is credited again, once.
    devnet.mine(1).await;
    wait_balance(&url, recipient, credited, "credited again").await;
    let after = supply(&provider).await;
    assert_eq!(hex_u64(&after["depositsCredited"]), 1, "{after}");
    assert_eq!(after["unbackedWei"], "0x0", "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_a_reorg_removes_is_unrecorded_and_the_withdrawal_paid_once_later() {
    let dir = tempfile::tempdir().expect("dir");
    let (devnet, sequencer, _rollup) = peg_sequencer_with(dir.path(), 5, Vec::new()).await;
    let provider = sequencer.provider(0);
    let genesis = hex_u256(&supply(&provider).await["genesisAllocationsWei"]);
    deposit(&devnet, &sequencer, 500_000).await;
    let (address, hash) =
        withdraw_to_wallet(&devnet, &sequencer, AddressType::Bech32, 100_000).await;
    mine_until_paid(&devnet, &provider, &[hash]).await;
    let first = status(&provider, hash).await;
    let txid = paid_by(&first);

    // The payout's block is replaced by a chain that leaves it out.
    let mut payout_block = None;
    let tip = devnet.client.get_block_count().await.expect("height");
    for height in (tip.saturating_sub(10)..=tip).rev() {
        let hash = devnet.client.get_block_hash(height).await.expect("hash");
        let block = devnet.client.get_block(&hash).await.expect("block");
        if block.txdata.iter().any(|tx| tx.compute_txid() == txid) {
            payout_block = Some(hash);
            break;
        }
    }
    devnet
        .client
        .invalidate_block(&payout_block.expect("the payout's block"))
        .await
        .expect("invalidate");
    mine_without(&devnet, txid).await;
    let mut undone = serde_json::Value::Null;
    for _ in 0..200 {
        undone = status(&provider, hash).await;
        if undone["status"] != "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        undone["status"], "finalized",
        "the record is undone: {undone}"
    );
    let unpaid = supply(&provider).await;
    assert_eq!(hex_u64(&unpaid["withdrawalsPaidSat"]), 0, "{unpaid}");
    assert_invariant(&unpaid, genesis);

    // Bitcoin mines it after all (or the coordinator pays again with the same coins): the
    // withdrawal is paid, once.
    mine_until_paid(&devnet, &provider, &[hash]).await;
    devnet.mine(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paid = status(&provider, hash).await;
    let txid = paid_by(&paid);
    let tx: Transaction = cairn_test_utils::transaction(&devnet.client, &txid).await;
    assert_eq!(
        received(&devnet.client, &address).await,
        tx.output[0].value,
        "paid exactly once"
    );
    let after = supply(&provider).await;
    assert_eq!(hex_u64(&after["withdrawalsPaidSat"]), 100_000, "{after}");
    assert_invariant(&after, genesis);
}
