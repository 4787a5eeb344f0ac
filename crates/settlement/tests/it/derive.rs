//! Derivation end to end: a sequencer's blocks posted to a devnet as commit/reveal
//! envelopes, read back through the L1 client's block source by a follower that holds
//! nothing but the genesis, re-executed to the same block hashes and state root; a
//! Bitcoin reorg that drops the batch unwinds the follower and moves `safe` back; a batch
//! signed by another key is ignored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::{SignableTransaction as _, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_network::TxSignerSync as _;
use alloy_primitives::{Address, B256, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, BlockHash, Network, OutPoint, ScriptBuf};
use cairn_da::{
    DEFAULT_MAX_REVEAL_WEIGHT, SignedBatchHeader, build_reveal, commit_output, envelope_leaves,
    max_chunk_payload, reveal_weight,
};
use cairn_devnet::DevnetServer;
use cairn_execution::BlockBuilder;
use cairn_l1::{BlockSource, BlockSourceConfig, Client};
use cairn_primitives::{
    ChainSpec, GenesisAccount, L1Network, L1Start, ROLLUP_CONFIG_VERSION, RollupConfig,
    decode_raw_transaction,
};
use cairn_settlement::batch::{BatchPosition, build_batch};
use cairn_settlement::derive::{BatchOutcome, Deriver, Role};
use cairn_storage::{Storage, StorageOptions};

const CHAIN_ID: u64 = 777;

struct World {
    _dir: tempfile::TempDir,
    _devnet: DevnetServer,
    client: Client,
    spec: ChainSpec,
    user: PrivateKeySigner,
    sequencer: Keypair,
    rollup: RollupConfig,
    l2: Arc<Storage>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let (devnet, client) = crate::devnet::start(dir.path(), 110).await;
    let user = PrivateKeySigner::random();
    let alloc = BTreeMap::from([(
        user.address(),
        GenesisAccount {
            balance: U256::from(10u128.pow(21)),
            code: None,
        },
    )]);
    let spec = ChainSpec::dev(CHAIN_ID, alloc);
    let secp = Secp256k1::new();
    let sequencer = Keypair::from_seckey_slice(&secp, &[3; 32]).expect("key");
    let info = client.get_blockchain_info().await.expect("info");
    let rollup = RollupConfig {
        version: ROLLUP_CONFIG_VERSION,
        chain: spec.clone(),
        sequencer_key: sequencer.x_only_public_key().0.to_string(),
        l1: L1Start {
            network: L1Network::Regtest,
            height: info.blocks,
            hash: info.best_block_hash.to_string(),
        },
        finality_depth: 2,
        peg: None,
        forced_inclusion_window: None,
        sequencers: Vec::new(),
        sequencer_timeout: None,
    };
    let l2 = Arc::new(
        Storage::open(
            &dir.path().join("sequencer"),
            &spec,
            StorageOptions::default(),
        )
        .expect("storage"),
    );
    World {
        _dir: dir,
        _devnet: devnet,
        client,
        spec,
        user,
        sequencer,
        rollup,
        l2,
    }
}

fn transfer(signer: &PrivateKeySigner, nonce: u64) -> Arc<cairn_primitives::RecoveredTx> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 2,
        to: TxKind::Call(Address::repeat_byte(0x55)),
        value: U256::from(12_345u64),
        input: Default::default(),
        access_list: Default::default(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    Arc::new(
        decode_raw_transaction(&TxEnvelope::from(tx.into_signed(sig)).encoded_2718())
            .expect("decode"),
    )
}

/// The sequencer seals `count` blocks of `per_block` transfers each.
fn seal_blocks(w: &World, count: u64, per_block: u64) {
    for _ in 0..count {
        let head = w.l2.head().block;
        let nonce0 = head.number() * per_block;
        let mut builder = BlockBuilder::new(
            &w.l2,
            &w.spec,
            &head,
            1_700_000_000 + head.number(),
            Address::repeat_byte(0xfe),
            // The L1 data fee changes from block to block; followers charge the same.
            250 * (head.number() % 3),
        );
        for i in 0..per_block {
            builder
                .push(transfer(&w.user, nonce0 + i))
                .expect("applies");
        }
        let built = builder.finish().expect("seal");
        w.l2.commit(built.block, built.receipts, built.changes)
            .expect("commit");
    }
}

/// Posts a signed batch as commit/reveal pairs paid by the devnet wallet, then mines
/// them; returns the hash of the L1 block holding the reveals.
async fn post(
    w: &World,
    signed: &SignedBatchHeader,
    body: &[u8],
    envelope_key: &Keypair,
) -> BlockHash {
    let xonly = envelope_key.x_only_public_key().0;
    let leaves = envelope_leaves(
        signed,
        body,
        xonly,
        max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT),
    )
    .expect("leaves");
    let destination = ScriptBuf::new_p2tr(&Secp256k1::new(), xonly, None);
    let mut reveals = Vec::new();
    for leaf in &leaves {
        let (spk, info) = commit_output(leaf, xonly);
        let fee = Amount::from_sat(reveal_weight(leaf, &destination).to_vbytes_ceil() * 2);
        let address = bitcoin::Address::from_script(&spk, Network::Regtest).expect("address");
        let txid = w
            .client
            .send_to_address(&address, fee + Amount::from_sat(10_000))
            .await
            .expect("fund commit");
        let commit = cairn_test_utils::transaction(&w.client, &txid).await;
        let vout = commit
            .output
            .iter()
            .position(|o| o.script_pubkey == spk)
            .expect("commit output");
        let outpoint = OutPoint::new(txid, vout as u32);
        reveals.push(
            build_reveal(
                outpoint,
                &commit.output[vout],
                leaf,
                &info,
                envelope_key,
                destination.clone(),
                fee,
            )
            .expect("reveal"),
        );
    }
    for reveal in &reveals {
        w.client
            .send_raw_transaction(reveal)
            .await
            .expect("reveal accepted by Core's rules");
    }
    let to = w.client.get_new_address(None, None).await.expect("address");
    w.client.generate_to_address(1, &to).await.expect("mine")[0]
}

/// Feeds every pending L1 update to `deriver`; returns the outcomes.
async fn sync(source: &mut BlockSource, deriver: &mut Deriver) -> Vec<BatchOutcome> {
    let mut outcomes = Vec::new();
    while let Some(update) = source.poll().await.expect("poll") {
        outcomes.extend(deriver.apply(&update).expect("derive"));
    }
    outcomes
}

/// The devnet's tip as `(height, hash)`.
async fn l1_tip(w: &World) -> (u32, BlockHash) {
    let tip = w.client.get_best_block_hash().await.expect("tip");
    let height = w.client.get_block_count().await.expect("height");
    (height, tip)
}

/// The sequencer's batch `number` of L2 blocks `first_block..=last_block`, following the
/// batch `prev_hash` and anchored at `l1_tip`.
fn batch(
    w: &World,
    number: u64,
    prev_hash: B256,
    (first_block, last_block): (u64, u64),
    l1_tip: (u32, BlockHash),
) -> (SignedBatchHeader, Vec<u8>) {
    let position = BatchPosition {
        number,
        prev_hash,
        first_block,
        last_block,
    };
    build_batch(&w.l2, CHAIN_ID, position, l1_tip, &w.sequencer)
        .unwrap_or_else(|err| panic!("batch {number}: {err}"))
}

/// A follower's storage (in a new temp dir, opened with `options`) and its deriver.
fn follower(w: &World, options: StorageOptions) -> (tempfile::TempDir, Arc<Storage>, Deriver) {
    let dir = tempfile::tempdir().expect("dir");
    let storage = Arc::new(Storage::open(dir.path(), &w.spec, options).expect("storage"));
    let deriver = Deriver::new(storage.clone(), &w.rollup, Role::Follower).expect("deriver");
    (dir, storage, deriver)
}

/// Invalidates `block` and mines `empty` empty blocks paying `to` in its place.
async fn replace_with_empty(w: &World, block: &BlockHash, to: &bitcoin::Address, empty: usize) {
    w.client.invalidate_block(block).await.expect("invalidate");
    for _ in 0..empty {
        w.client.generate_block(to, &[]).await.expect("empty block");
    }
}

fn source(w: &World) -> BlockSource {
    let config = BlockSourceConfig {
        poll_interval: Duration::from_millis(10),
        ..BlockSourceConfig::default()
    };
    BlockSource::from_height(w.client.clone(), w.rollup.l1.height + 1, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_rebuilds_the_chain_from_bitcoin_and_unwinds_on_reorg() {
    let w = world().await;
    // Enough blocks and data that the batch needs several reveals.
    seal_blocks(&w, 100, 80);
    let head = w.l2.head().block;
    let (signed, body) = batch(&w, 0, B256::ZERO, (1, head.number()), l1_tip(&w).await);
    // A forged batch (same content, another key) is posted first and must be ignored.
    let thief = Keypair::from_seckey_slice(&Secp256k1::new(), &[9; 32]).expect("key");
    let forged = signed.header.sign(&thief).expect("sign");
    post(&w, &forged, &body, &thief).await;
    let reveal_block = post(&w, &signed, &body, &w.sequencer).await;

    let (_dir, follower, mut deriver) = follower(
        &w,
        StorageOptions {
            history_blocks: 1_000,
            ..StorageOptions::default()
        },
    );
    let mut l1 = source(&w);
    let outcomes = sync(&mut l1, &mut deriver).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let BatchOutcome::Applied(applied) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert!(
        applied.txids.len() >= 2,
        "a {} byte body needs several reveals",
        body.len()
    );
    assert_eq!(follower.head().block.hash, head.hash);
    assert_eq!(
        follower.head().block.header.state_root,
        head.header.state_root
    );
    assert_eq!(follower.finality().expect("tracked").safe, head.number());
    assert_eq!(
        follower.finality().expect("tracked").finalized,
        0,
        "one confirmation of two"
    );
    let to = w.client.get_new_address(None, None).await.expect("address");
    w.client.generate_to_address(1, &to).await.expect("mine");
    sync(&mut l1, &mut deriver).await;
    assert_eq!(
        follower.finality().expect("tracked").finalized,
        head.number()
    );

    // The sequencer derives the same batch by verification only.
    let mut own = Deriver::new(w.l2.clone(), &w.rollup, Role::Sequencer).expect("deriver");
    let outcomes = sync(&mut source(&w), &mut own).await;
    assert!(
        matches!(outcomes.as_slice(), [BatchOutcome::Applied(_)]),
        "{outcomes:?}"
    );

    // Reorg the reveals away: the follower goes back to genesis, `safe` with it.
    // Empty blocks: the reveals wait in the mempool meanwhile.
    replace_with_empty(&w, &reveal_block, &to, 3).await;
    sync(&mut l1, &mut deriver).await;
    assert_eq!(follower.head_number(), 0);
    assert_eq!(follower.finality().expect("tracked").safe, 0);
    assert!(deriver.applied().is_empty());
    // The reveals went back to the mempool and the next block re-confirms them: the
    // follower derives the batch again.
    w.client.generate_to_address(1, &to).await.expect("mine");
    let outcomes = sync(&mut l1, &mut deriver).await;
    assert!(
        matches!(outcomes.as_slice(), [BatchOutcome::Applied(_)]),
        "{outcomes:?}"
    );
    assert_eq!(follower.head().block.hash, head.hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_root_lies_is_rejected_and_leaves_nothing() {
    let w = world().await;
    seal_blocks(&w, 3, 2);
    let (signed, body) = batch(&w, 0, B256::ZERO, (1, 3), l1_tip(&w).await);
    let mut lying = signed.header;
    lying.post_state_root = B256::repeat_byte(7);
    let lying = lying.sign(&w.sequencer).expect("sign");
    post(&w, &lying, &body, &w.sequencer).await;

    let (_dir, follower, mut deriver) = follower(&w, StorageOptions::default());
    let outcomes = sync(&mut source(&w), &mut deriver).await;
    let [BatchOutcome::Rejected { reason, .. }] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert!(reason.contains("state root mismatch"), "{reason}");
    assert_eq!(
        follower.head_number(),
        0,
        "nothing of a rejected batch is kept"
    );
    // The honest batch with the same number is then accepted.
    post(&w, &signed, &body, &w.sequencer).await;
    let outcomes = sync(
        &mut source(&w),
        &mut Deriver::new(follower.clone(), &w.rollup, Role::Follower).expect("deriver"),
    )
    .await;
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, BatchOutcome::Applied(_))),
        "{outcomes:?}"
    );
    assert_eq!(follower.head().block.hash, w.l2.head().block.hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_found_before_its_predecessor_waits_for_it() {
    let w = world().await;
    seal_blocks(&w, 4, 2);
    let anchor = l1_tip(&w).await;
    let (signed0, body0) = batch(&w, 0, B256::ZERO, (1, 2), anchor);
    let (signed1, body1) = batch(&w, 1, signed0.hash(), (3, 4), anchor);
    // Batch 1 reaches Bitcoin a block before batch 0.
    post(&w, &signed1, &body1, &w.sequencer).await;
    let (_dir, follower, mut deriver) = follower(&w, StorageOptions::default());
    let mut l1 = source(&w);
    let outcomes = sync(&mut l1, &mut deriver).await;
    assert!(outcomes.is_empty(), "batch 1 waits: {outcomes:?}");
    assert_eq!(follower.head_number(), 0);

    let late = post(&w, &signed0, &body0, &w.sequencer).await;
    let outcomes = sync(&mut l1, &mut deriver).await;
    let numbers: Vec<u64> = outcomes
        .iter()
        .map(|o| match o {
            BatchOutcome::Applied(b) => b.number,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(numbers, [0, 1]);
    assert_eq!(follower.head().block.hash, w.l2.head().block.hash);
    let late_height = w
        .client
        .get_block_header_info(&late)
        .await
        .expect("header")
        .height;
    assert_eq!(
        deriver.applied()[1].l1_height,
        late_height,
        "batch 1 became final-able only when batch 0 arrived"
    );

    // A reorg of batch 0's block puts batch 1 back to waiting, not applied.
    let to = w.client.get_new_address(None, None).await.expect("address");
    replace_with_empty(&w, &late, &to, 2).await;
    sync(&mut l1, &mut deriver).await;
    assert!(deriver.applied().is_empty());
    assert_eq!(follower.head_number(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_member_of_the_set_whose_turn_it_is_counts() {
    let mut w = world().await;
    let second = Keypair::from_seckey_slice(&Secp256k1::new(), &[4; 32]).expect("key");
    w.rollup.sequencers = vec![
        w.rollup.sequencer_key.clone(),
        second.x_only_public_key().0.to_string(),
    ];
    w.rollup.sequencer_timeout = Some(3);
    seal_blocks(&w, 3, 1);
    let (_dir, _storage, mut deriver) = follower(&w, StorageOptions::default());
    let w = w;
    let mut source = source(&w);
    let miner = w.client.get_new_address(None, None).await.expect("address");
    let mut prev = B256::ZERO;
    let rejected = |o: &BatchOutcome, who: usize| match o {
        BatchOutcome::Rejected { reason, .. } => {
            assert!(
                reason.contains(&format!("signed by sequencer {who}")),
                "{reason}"
            )
        }
        other => panic!("not rejected: {other:?}"),
    };
    let applied = |o: &BatchOutcome, who: usize| match o {
        BatchOutcome::Applied(b) => assert_eq!(b.signer, who),
        other => panic!("not applied: {other:?}"),
    };

    // From the start the first member's turn: the second's copy of its batch does not
    // count, nor block the first's own.
    let (o, _) = outcome(&w, &mut source, &mut deriver, 0, &second, prev).await;
    rejected(&o, 1);
    let (o, hash) = outcome(&w, &mut source, &mut deriver, 0, &w.sequencer, prev).await;
    applied(&o, 0);
    prev = hash;
    let (o, _) = outcome(&w, &mut source, &mut deriver, 1, &second, prev).await;
    rejected(&o, 1);
    // Silent for three blocks after its last batch: from the fourth the second's turn.
    w.client.generate_to_address(2, &miner).await.expect("mine");
    let (o, _) = outcome(&w, &mut source, &mut deriver, 1, &w.sequencer, prev).await;
    rejected(&o, 0);
    let (o, hash) = outcome(&w, &mut source, &mut deriver, 1, &second, prev).await;
    applied(&o, 1);
    prev = hash;
    assert_eq!(deriver.last_post().0, 1);
    // The first member, back, does not count until the second is silent as long.
    let (o, _) = outcome(&w, &mut source, &mut deriver, 2, &w.sequencer, prev).await;
    rejected(&o, 0);
    w.client.generate_to_address(2, &miner).await.expect("mine");
    assert!(sync(&mut source, &mut deriver).await.is_empty());
    assert_eq!(
        deriver.sequencer_at(deriver.l1_height().expect("height") + 1),
        0
    );
    let (o, _) = outcome(&w, &mut source, &mut deriver, 2, &w.sequencer, prev).await;
    applied(&o, 0);
}

/// Posts batch `number` (of block `number + 1`, after `prev`) signed by `key`; what
/// derivation made of it and its hash.
async fn outcome(
    w: &World,
    source: &mut BlockSource,
    deriver: &mut Deriver,
    number: u64,
    key: &Keypair,
    prev: B256,
) -> (BatchOutcome, B256) {
    let (signed, body) = batch(w, number, prev, (number + 1, number + 1), l1_tip(w).await);
    let signed = signed.header.sign(key).expect("sign");
    post(w, &signed, &body, key).await;
    let outcomes = sync(source, deriver).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    (outcomes[0].clone(), signed.hash())
}
