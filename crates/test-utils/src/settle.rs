//! Settlement in tests: a network's `rollup.json`, its settlement status, and waiting
//! for Bitcoin to move it.

use std::time::Duration;

use bitcoin::BlockHash;
use bitcoin::secp256k1::Keypair;
use cairn_node::Node;
use cairn_node::settle::SettlementStatus;
use cairn_primitives::{L1Network, L1Start, ROLLUP_CONFIG_VERSION, RollupConfig};

use crate::Devnet;

/// A node's settlement status now.
pub fn settlement(node: &Node) -> SettlementStatus {
    node.settlement.as_ref().expect("settles").read().clone()
}

/// Mines a block at a time until `done` holds for the node's settlement status.
pub async fn mine_until(
    devnet: &Devnet,
    node: &Node,
    what: &str,
    done: impl Fn(&SettlementStatus) -> bool,
) {
    for _ in 0..40 {
        for _ in 0..20 {
            if done(&settlement(node)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        devnet.mine(1).await;
    }
    panic!("{what}: never happened; status {:?}", settlement(node));
}

/// A regtest network for `spec` sequenced by `key`, starting after Bitcoin block `start`.
pub fn rollup_for(
    spec: cairn_primitives::ChainSpec,
    key: &Keypair,
    start: (u32, BlockHash),
) -> RollupConfig {
    RollupConfig {
        version: ROLLUP_CONFIG_VERSION,
        chain: spec,
        sequencer_key: key.x_only_public_key().0.to_string(),
        l1: L1Start {
            network: L1Network::Regtest,
            height: start.0,
            hash: start.1.to_string(),
        },
        finality_depth: 2,
        peg: None,
        forced_inclusion_window: None,
        sequencers: Vec::new(),
        sequencer_timeout: None,
    }
}

/// Polls `done` every 25 ms for up to 10 s, then asserts it.
pub async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(done(), "timed out");
}

/// Mines a block at a time until the node has derived a batch holding L2 block `block`.
pub async fn mine_until_batched(devnet: &Devnet, node: &Node, what: &str, block: u64) {
    mine_until(devnet, node, what, |s| {
        s.applied.last().is_some_and(|b| b.last_block >= block)
    })
    .await;
}
