//! The node's connection to Bitcoin: one [`cairn_l1::Client`] (the same code against a
//! real `bitcoind` and against `cairn dev`'s embedded devnet), checked for the expected
//! network at start-up, and a follower task that tracks the L1 tip through a
//! [`BlockSource`] and reports reorgs. Settlement (batches, derivation) builds on it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bitcoin::{BlockHash, Network};
use cairn_l1::{BlockSource, BlockSourceConfig, Client};
use parking_lot::RwLock;
use tokio::task::JoinHandle;

const TARGET: &str = "cairn::l1";

/// How to reach the L1 node.
#[derive(Debug, Clone)]
pub struct L1Config {
    /// URL, credentials, timeout and retries.
    pub rpc: cairn_l1::Config,
    /// The Bitcoin network this chain settles on; a node on another network is refused.
    pub network: Network,
    /// How often the tip is polled.
    pub poll_interval: Duration,
}

/// What the node knows about L1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L1Status {
    /// The best block seen: height and hash.
    pub tip: Option<(u32, BlockHash)>,
    /// Reorgs seen since start.
    pub reorgs: u64,
    /// Blocks disconnected by them.
    pub disconnected: u64,
}

/// The running L1 connection.
#[derive(Debug)]
pub struct L1 {
    client: Client,
    status: Arc<RwLock<L1Status>>,
    follower: JoinHandle<()>,
}

impl L1 {
    /// Connects (refusing a node on another network or with bad credentials) and starts
    /// following the tip.
    pub async fn start(config: &L1Config) -> anyhow::Result<Self> {
        let client = Client::connect(&config.rpc, config.network)
            .await
            .with_context(|| format!("cannot use the Bitcoin node at {}", config.rpc.url))?;
        let info = client.get_blockchain_info().await?;
        tracing::info!(target: TARGET, url = %config.rpc.url, network = %config.network, height = info.blocks, tip = %info.best_block_hash, "connected to Bitcoin");
        let status = Arc::new(RwLock::new(L1Status {
            tip: Some((info.blocks, info.best_block_hash)),
            ..L1Status::default()
        }));
        let source = BlockSource::after_block(
            client.clone(),
            info.blocks,
            info.best_block_hash,
            BlockSourceConfig {
                poll_interval: config.poll_interval,
                ..BlockSourceConfig::default()
            },
        );
        let follower = tokio::spawn(follow(source, status.clone()));
        Ok(Self {
            client,
            status,
            follower,
        })
    }

    /// The client, for components that talk to L1.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What the follower has seen.
    pub fn status(&self) -> L1Status {
        self.status.read().clone()
    }

    /// Stops following.
    pub fn stop(&self) {
        self.follower.abort();
    }
}

/// Applies the source's updates to `status`, logging new blocks and reorgs, until the
/// task is aborted. Errors are logged and retried after a pause (the client itself already
/// retried transient failures).
async fn follow(mut source: BlockSource, status: Arc<RwLock<L1Status>>) {
    loop {
        match source.next_update().await {
            Ok(update) => {
                let mut s = status.write();
                if !update.disconnected.is_empty() {
                    s.reorgs += 1;
                    s.disconnected += update.disconnected.len() as u64;
                    tracing::warn!(target: TARGET, disconnected = update.disconnected.len(), from = ?update.disconnected.first(), "L1 reorg");
                }
                for (height, block) in &update.connected {
                    tracing::debug!(target: TARGET, height, hash = %block.block_hash(), txs = block.txdata.len(), "L1 block");
                }
                s.tip = source.tip();
                if let Some((height, hash)) = s.tip {
                    tracing::debug!(target: TARGET, height, %hash, "L1 tip");
                }
            }
            Err(e) => {
                tracing::warn!(target: TARGET, error = %e, "following L1 failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}
