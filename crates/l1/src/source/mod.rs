//! [`BlockSource`]: follows the tip of the best chain and reports each change as blocks
//! to undo and blocks to apply, so that later components never have to think about
//! polling, catch-up or reorganisations themselves.
//!
//! It remembers the hashes of the last [`BlockSourceConfig::window`] blocks it delivered.
//! On each poll it walks back from the new target block through the headers' parent links
//! until it meets one of them: that block is the fork point, the remembered blocks above it
//! are disconnected and the walked blocks are connected. When it remembers fewer blocks
//! than the window holds (just after a start), it learns older ones from the parent links
//! of the ones it has. Only headers are walked; full blocks are fetched for the blocks
//! actually delivered.

mod reader;
mod window;

use std::time::Duration;

use bitcoin::{Block, BlockHash};

pub use reader::ChainReader;
use window::RecentBlocks;

use crate::client::Client;
use crate::error::{Error, Result};

const TARGET: &str = "cairn::l1::source";

/// How a [`BlockSource`] polls and how much it remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSourceConfig {
    /// The pause between two `getbestblockhash` polls while nothing changes.
    pub poll_interval: Duration,
    /// How many recent blocks are remembered; a reorganisation deeper than this is an
    /// [`Error::ReorgTooDeep`].
    pub window: usize,
    /// At most this many blocks above the current tip per update (plus the blocks that
    /// replace disconnected ones), so that catching up delivers bounded chunks that the
    /// caller can persist one at a time. It also bounds the memory an update holds.
    pub max_blocks_per_update: usize,
}

impl Default for BlockSourceConfig {
    /// Polls every second, remembers 1000 blocks, delivers at most 100 new ones at a time.
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            window: 1000,
            max_blocks_per_update: 100,
        }
    }
}

/// One change of the best chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainUpdate {
    /// Blocks no longer on the best chain, highest first: undo them in this order.
    pub disconnected: Vec<(u32, BlockHash)>,
    /// Blocks newly on the best chain, lowest first: apply them in this order.
    pub connected: Vec<(u32, Block)>,
}

impl ChainUpdate {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.disconnected.is_empty() && self.connected.is_empty()
    }

    /// The highest connected block, if any.
    pub fn new_tip(&self) -> Option<(u32, BlockHash)> {
        self.connected.last().map(|(h, b)| (*h, b.block_hash()))
    }
}

/// The blocks between a fork point and a target, found by walking back.
#[derive(Debug)]
struct Branch {
    /// The remembered block where the branch starts; `None` before the first delivery.
    fork: Option<u32>,
    /// The branch's blocks, highest first.
    blocks: Vec<(u32, BlockHash)>,
}

/// Follows the best chain through a [`ChainReader`] (a [`Client`] by default).
#[derive(Debug)]
pub struct BlockSource<R = Client> {
    reader: R,
    config: BlockSourceConfig,
    window: RecentBlocks,
    /// The first height to deliver while nothing has been delivered yet.
    start_height: u32,
}

impl<R: ChainReader> BlockSource<R> {
    /// Continues after the block `hash` at `height`, which the caller already has: the
    /// first update connects `height + 1`, or disconnects `height` (and as many of its
    /// ancestors as the new chain replaces) if it left the best chain. The ancestors are
    /// looked up in the node, which keeps stale blocks; [`BlockSource::after_blocks`]
    /// avoids that.
    pub fn after_block(reader: R, height: u32, hash: BlockHash, config: BlockSourceConfig) -> Self {
        Self::after_blocks(reader, [(height, hash)], config)
    }

    /// Continues after the caller's most recent blocks (in any order; the highest is the
    /// tip), so that a reorganisation down to the lowest of them is reported as
    /// disconnections. Only the consecutive heights ending at the tip are used, at most
    /// [`BlockSourceConfig::window`] of them. Without any, it starts at the genesis block.
    pub fn after_blocks(
        reader: R,
        recent: impl IntoIterator<Item = (u32, BlockHash)>,
        config: BlockSourceConfig,
    ) -> Self {
        let mut recent: Vec<_> = recent.into_iter().collect();
        recent.sort_unstable_by_key(|(height, _)| std::cmp::Reverse(*height));
        recent.dedup_by_key(|(height, _)| *height);
        let mut window = RecentBlocks::new(config.window);
        let mut expected = recent.first().map(|(height, _)| *height);
        for (height, hash) in recent.into_iter().take(window.capacity()) {
            if Some(height) != expected {
                break;
            }
            window.push(height, hash);
            expected = height.checked_sub(1);
        }
        let start_height = window
            .tip()
            .map_or(0, |(height, _)| height.saturating_add(1));
        Self {
            reader,
            config,
            window,
            start_height,
        }
    }

    /// Starts with the best chain's block at `height` (which need not exist yet): the
    /// first update connects it and the blocks after it.
    pub fn from_height(reader: R, height: u32, config: BlockSourceConfig) -> Self {
        Self {
            reader,
            config,
            window: RecentBlocks::new(config.window),
            start_height: height,
        }
    }

    /// The last block delivered, or the one given to [`BlockSource::after_block`].
    pub fn tip(&self) -> Option<(u32, BlockHash)> {
        self.window.tip()
    }

    /// The reader.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// Waits until the best chain differs from [`BlockSource::tip`] and returns the change,
    /// polling every [`BlockSourceConfig::poll_interval`]. While catching up it returns at
    /// once with the next chunk.
    pub async fn next_update(&mut self) -> Result<ChainUpdate> {
        loop {
            if let Some(update) = self.poll().await? {
                return Ok(update);
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Checks the best chain once; `None` if it has not moved. On an error nothing is
    /// consumed: the next poll starts from the same tip.
    pub async fn poll(&mut self) -> Result<Option<ChainUpdate>> {
        let best = self.reader.best_block_hash().await?;
        if self.tip().map(|(_, hash)| hash) == Some(best) {
            return Ok(None);
        }
        let best_height = self.reader.block_height(&best).await?;
        let Some((target_height, target)) = self.target(best_height, best).await? else {
            return Ok(None);
        };
        // Worked on a copy, so that an error leaves the source as it was.
        let mut known = self.window.clone();
        let branch = self.walk_back(&mut known, target_height, target).await?;
        let disconnected = match branch.fork {
            Some(fork) => known.above(fork),
            None => Vec::new(),
        };
        let connected = self.fetch_blocks(&branch.blocks).await?;
        let update = ChainUpdate {
            disconnected,
            connected,
        };
        if update.is_empty() {
            return Ok(None);
        }
        self.apply(known, branch.fork, &update, best_height);
        Ok(Some(update))
    }

    /// The block to walk back from: the best block, or the best chain's block
    /// `max_blocks_per_update` above the tip when further behind. `None` while the chain
    /// has not reached the start height, or when it shrank since `best` was read.
    async fn target(&self, best_height: u32, best: BlockHash) -> Result<Option<(u32, BlockHash)>> {
        let next = self
            .tip()
            .map_or(self.start_height, |(h, _)| h.saturating_add(1));
        if self.tip().is_none() && best_height < next {
            return Ok(None);
        }
        let chunk = u32::try_from(self.config.max_blocks_per_update.max(1)).unwrap_or(u32::MAX);
        let limit = next.saturating_add(chunk - 1);
        if best_height <= limit {
            return Ok(Some((best_height, best)));
        }
        match self.reader.block_hash(limit).await {
            Ok(hash) => Ok(Some((limit, hash))),
            // The chain got shorter between the two calls; the next poll sees it.
            Err(e) if e.is_invalid_parameter() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Walks back from `target` through the parent links until a block in `known` (or,
    /// before the first delivery, down to the start height).
    ///
    /// When the walk gets below the lowest known block, that block's parent becomes known
    /// too (the caller has every ancestor of what it has), up to the window's capacity; so
    /// a source started [`BlockSource::after_block`] the tip survives a reorganisation of
    /// that tip.
    async fn walk_back(
        &self,
        known: &mut RecentBlocks,
        target_height: u32,
        target: BlockHash,
    ) -> Result<Branch> {
        let mut blocks = Vec::new();
        let (mut height, mut hash) = (target_height, target);
        loop {
            if known.contains(height, &hash) {
                return Ok(Branch {
                    fork: Some(height),
                    blocks,
                });
            }
            if let Some((lowest_height, lowest_hash)) = known.lowest()
                && height <= lowest_height
            {
                self.learn_parent(known, lowest_height, lowest_hash).await?;
                continue;
            }
            blocks.push((height, hash));
            if known.tip().is_none() && height <= self.start_height {
                return Ok(Branch { fork: None, blocks });
            }
            let header = self.reader.block_header(&hash).await?;
            (height, hash) = match height.checked_sub(1) {
                Some(parent) => (parent, header.prev_blockhash),
                None => {
                    return Err(Error::Inconsistent(format!(
                        "walked below the genesis block from {target}"
                    )));
                }
            };
        }
    }

    /// Adds the parent of the lowest known block to `known`, unless the window is full.
    async fn learn_parent(
        &self,
        known: &mut RecentBlocks,
        lowest_height: u32,
        lowest_hash: BlockHash,
    ) -> Result<()> {
        let too_deep = || Error::ReorgTooDeep {
            window: known.capacity(),
            lowest_height,
            lowest_hash,
        };
        if known.len() >= known.capacity() {
            return Err(too_deep());
        }
        let Some(parent_height) = lowest_height.checked_sub(1) else {
            return Err(Error::Inconsistent(format!(
                "the node's genesis block is not {lowest_hash}: it is on another chain"
            )));
        };
        let header = match self.reader.block_header(&lowest_hash).await {
            Ok(header) => header,
            Err(e) if e.is_not_found() => {
                return Err(Error::UnknownBlock {
                    height: lowest_height,
                    hash: lowest_hash,
                });
            }
            Err(e) => return Err(e),
        };
        known.push(parent_height, header.prev_blockhash);
        Ok(())
    }

    /// The full blocks of a branch (given highest first), lowest first.
    async fn fetch_blocks(&self, branch: &[(u32, BlockHash)]) -> Result<Vec<(u32, Block)>> {
        let mut blocks = Vec::with_capacity(branch.len());
        for &(height, hash) in branch.iter().rev() {
            let block = self.reader.block(&hash).await?;
            if block.block_hash() != hash {
                return Err(Error::Inconsistent(format!(
                    "asked for block {hash} at height {height}, got {}",
                    block.block_hash()
                )));
            }
            blocks.push((height, block));
        }
        Ok(blocks)
    }

    /// Remembers the update's outcome: `known` (the window as the walk extended it) with
    /// the disconnected blocks replaced by the connected ones.
    fn apply(
        &mut self,
        mut known: RecentBlocks,
        fork: Option<u32>,
        update: &ChainUpdate,
        best_height: u32,
    ) {
        if let Some(fork) = fork {
            known.truncate_above(fork);
        }
        for (height, block) in &update.connected {
            known.push(*height, block.block_hash());
        }
        self.window = known;
        if let (Some((from, _)), Some((to, _))) =
            (update.disconnected.last(), update.disconnected.first())
        {
            tracing::warn!(
                target: TARGET,
                from, to, depth = update.disconnected.len(),
                "L1 reorganisation: blocks disconnected"
            );
        }
        if let (Some((from, _)), Some((to, _))) =
            (update.connected.first(), update.connected.last())
        {
            tracing::info!(
                target: TARGET,
                from, to, best = best_height, behind = best_height.saturating_sub(*to),
                "L1 blocks connected"
            );
        }
    }
}
