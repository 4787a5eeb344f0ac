//! BlockSource against a scripted chain served over HTTP (and once read from memory):
//! catch-up in chunks, reorganisations to longer and shorter branches, a fork below the
//! window, waiting for a block.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::Hash as _;
use bitcoin::{Block, BlockHash, Network};
use cairn_l1::{BlockSource, BlockSourceConfig, ChainUpdate, Client, Error};
use parking_lot::Mutex;

use crate::chain::{FakeChain, InMemory};
use crate::fake::FakeBitcoind;
use crate::{config, good_auth, user_pass};

/// A fake bitcoind serving `chain`, and a client of it.
async fn serve(chain: &Arc<Mutex<FakeChain>>) -> (FakeBitcoind, Client) {
    let served = chain.clone();
    let fake = FakeBitcoind::start(&user_pass(), move |call| served.lock().answer(call)).await;
    let client = Client::new(&config(&fake.url(), good_auth()), Network::Regtest).expect("client");
    (fake, client)
}

/// A fake chain of `blocks` blocks on branch A (`0xa`), and their hashes from height 1.
fn branch_a(blocks: u32) -> (Arc<Mutex<FakeChain>>, Vec<BlockHash>) {
    let chain = FakeChain::new();
    let a = chain.lock().mine(blocks, 0xa);
    (chain, a)
}

fn source_config(window: usize, max_blocks_per_update: usize) -> BlockSourceConfig {
    BlockSourceConfig {
        poll_interval: Duration::from_millis(20),
        window,
        max_blocks_per_update,
    }
}

/// `(height, hash)` of the connected blocks.
fn connected(update: &ChainUpdate) -> Vec<(u32, BlockHash)> {
    update
        .connected
        .iter()
        .map(|(h, b)| (*h, b.block_hash()))
        .collect()
}

/// `(height, hash)` of the chain's blocks `hashes`, which start at `first`.
fn numbered(first: u32, hashes: &[BlockHash]) -> Vec<(u32, BlockHash)> {
    (first..).zip(hashes.iter().copied()).collect()
}

#[tokio::test]
async fn follows_the_best_chain_through_reorganisations() {
    let (chain, a) = branch_a(5);
    let (_fake, client) = serve(&chain).await;
    let mut source = BlockSource::from_height(client, 1, source_config(1000, 100));

    // Catch up: blocks 1..=5 of branch A, ascending, complete.
    let update = source.next_update().await.expect("catch-up");
    assert!(update.disconnected.is_empty());
    assert_eq!(connected(&update), numbered(1, &a));
    let expected: Vec<Block> = a.iter().map(|h| chain.lock().block(h)).collect();
    let blocks: Vec<Block> = update.connected.into_iter().map(|(_, b)| b).collect();
    assert_eq!(blocks, expected);
    assert_eq!(source.tip(), Some((5, a[4])));
    assert_eq!(source.poll().await.expect("poll"), None, "nothing new");

    // A longer branch B forks off A3: A5 and A4 go (tip first), B4..B6 come (ascending).
    let b = {
        let mut chain = chain.lock();
        let b = chain.fork(a[2], 3, 0xb);
        chain.activate(b[2]);
        b
    };
    let update = source
        .poll()
        .await
        .expect("poll")
        .expect("a reorganisation");
    assert_eq!(update.disconnected, [(5, a[4]), (4, a[3])]);
    assert_eq!(connected(&update), numbered(4, &b));
    assert_eq!(update.connected[0].1.header.prev_blockhash, a[2]);
    assert_eq!(source.tip(), Some((6, b[2])));

    // The tip is invalidated: the chain gets shorter, nothing replaces B6 and B5.
    chain.lock().activate(b[0]);
    let update = source.poll().await.expect("poll").expect("a shorter chain");
    assert_eq!(update.disconnected, [(6, b[2]), (5, b[1])]);
    assert!(update.connected.is_empty());
    assert_eq!(source.tip(), Some((4, b[0])));

    // A same-height competitor for the tip.
    let c = {
        let mut chain = chain.lock();
        let c = chain.fork(a[2], 2, 0xc);
        chain.activate(c[1]);
        c
    };
    let update = source.poll().await.expect("poll").expect("a tip race");
    assert_eq!(update.disconnected, [(4, b[0])]);
    assert_eq!(connected(&update), numbered(4, &c));
    assert_eq!(update.new_tip(), Some((5, c[1])));
}

#[tokio::test]
async fn catches_up_in_bounded_chunks() {
    let (chain, _) = branch_a(250);
    let (fake, client) = serve(&chain).await;
    let mut source = BlockSource::from_height(client, 0, source_config(1000, 100));

    let mut heights = Vec::new();
    for expected_len in [100, 100, 51] {
        let update = source.next_update().await.expect("chunk");
        assert!(update.disconnected.is_empty());
        assert_eq!(update.connected.len(), expected_len);
        heights.extend(update.connected.iter().map(|(h, _)| *h));
    }

    assert_eq!(
        heights,
        (0..=250).collect::<Vec<u32>>(),
        "every block once, ascending"
    );
    let genesis = bitcoin::constants::genesis_block(Network::Regtest).block_hash();
    assert_eq!(chain.lock().hash_at(0), genesis);
    assert_eq!(source.tip(), Some((250, chain.lock().hash_at(250))));
    assert_eq!(source.poll().await.expect("poll"), None);
    assert_eq!(fake.count("getblock"), 251, "each block fetched once");
}

#[tokio::test]
async fn continues_after_a_known_block_and_notices_when_it_is_gone() {
    let (chain, a) = branch_a(5);
    let (_fake, client) = serve(&chain).await;
    let mut source = BlockSource::after_block(client, 3, a[2], source_config(1000, 100));
    assert_eq!(source.tip(), Some((3, a[2])));

    let update = source.poll().await.expect("poll").expect("blocks 4 and 5");
    assert!(update.disconnected.is_empty());
    assert_eq!(connected(&update), numbered(4, &a[3..]));

    // Restart after A3 again, but A3 has meanwhile been replaced by a branch from A2.
    let b = {
        let mut chain = chain.lock();
        let b = chain.fork(a[1], 4, 0xb);
        chain.activate(b[3]);
        b
    };
    let client = source.reader().clone();

    // Knowing only A3, the source learns A2 from A3's header, which the node keeps.
    let mut only_a3 = BlockSource::after_block(client.clone(), 3, a[2], source_config(1000, 100));
    let update = only_a3.poll().await.expect("poll").expect("A3 is gone");
    assert_eq!(update.disconnected, [(3, a[2])]);
    assert_eq!(connected(&update), numbered(3, &b));
    assert_eq!(only_a3.tip(), Some((6, b[3])));

    // Given A2 and A3 (in any order; a block below a gap in the heights is ignored), it
    // needs no lookup.
    let recent = [(2, a[1]), (0, BlockHash::all_zeros()), (3, a[2])];
    let mut source = BlockSource::after_blocks(client.clone(), recent, source_config(1000, 100));
    assert_eq!(source.tip(), Some((3, a[2])));
    let update = source.poll().await.expect("poll").expect("A3 is gone");
    assert_eq!(update.disconnected, [(3, a[2])]);
    assert_eq!(connected(&update), numbered(3, &b));
}

#[tokio::test]
async fn a_block_the_node_does_not_know_is_reported() {
    let (chain, _) = branch_a(5);
    let (_fake, client) = serve(&chain).await;
    // A block from some other regtest node.
    let foreign = BlockHash::from_byte_array([7; 32]);
    let mut source = BlockSource::after_block(client, 3, foreign, source_config(1000, 100));

    let err = source.poll().await.expect_err("another node's block");

    assert!(
        matches!(err, Error::UnknownBlock { height: 3, hash } if hash == foreign),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("is it the same node and chain as before?"),
        "{err}"
    );
    assert_eq!(source.tip(), Some((3, foreign)), "state unchanged");
}

#[tokio::test]
async fn a_fork_below_the_window_is_an_error_and_changes_nothing() {
    let (chain, a) = branch_a(10);
    let mut source = BlockSource::from_height(InMemory(chain.clone()), 1, source_config(3, 100));
    let update = source.poll().await.expect("poll").expect("catch-up");
    assert_eq!(update.connected.len(), 10);

    // Only A8..A10 are remembered; the new branch forks off A5.
    {
        let mut chain = chain.lock();
        let b = chain.fork(a[4], 6, 0xb);
        chain.activate(b[5]);
    }
    let err = source.poll().await.expect_err("too deep");

    match &err {
        Error::ReorgTooDeep {
            window,
            lowest_height,
            lowest_hash,
        } => assert_eq!((*window, *lowest_height, *lowest_hash), (3, 8, a[7])),
        other => panic!("expected ReorgTooDeep, got {other:?}"),
    }
    assert!(
        err.to_string().contains("deeper than the 3 recent blocks"),
        "{err}"
    );
    assert_eq!(source.tip(), Some((10, a[9])), "state unchanged");
}

#[tokio::test]
async fn next_update_waits_for_a_new_block() {
    let (chain, a) = branch_a(2);
    let (_fake, client) = serve(&chain).await;
    let mut source = BlockSource::after_block(client, 2, a[1], source_config(1000, 100));
    assert_eq!(source.poll().await.expect("poll"), None);

    let miner = {
        let chain = chain.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            chain.lock().mine(1, 0xa)
        })
    };
    // On its own task, as the node runs it (so the source's futures must be Send).
    let follower = tokio::spawn(async move { source.next_update().await });
    let update = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("a block within 5 s")
        .expect("follower task")
        .expect("update");
    let mined = miner.await.expect("miner");

    assert!(update.disconnected.is_empty());
    assert_eq!(connected(&update), numbered(3, &mined));
}

#[tokio::test]
async fn a_start_height_above_the_tip_waits_for_the_chain() {
    let (chain, _) = branch_a(2);
    let mut source = BlockSource::from_height(InMemory(chain.clone()), 5, source_config(1000, 100));

    assert_eq!(source.poll().await.expect("poll"), None);
    assert_eq!(source.tip(), None);

    let a = chain.lock().mine(4, 0xa);
    let update = source.poll().await.expect("poll").expect("heights 5 and 6");
    assert_eq!(connected(&update), numbered(5, &a[2..]));
}
