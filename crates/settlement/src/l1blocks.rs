//! The Bitcoin blocks derivation has seen, kept so that the peg records a batch carries
//! (deposits, payouts) are checked against them without asking the Bitcoin node again.
//!
//! Every [`ChainUpdate`] derivation applies passes through [`L1Blocks::apply`]: the last
//! [`KEPT_BLOCKS`] blocks of the best chain stay, each reduced to the transactions a peg
//! record can name (those with a taproot or `OP_RETURN` output: deposits pay taproot
//! addresses, payouts commit with an `OP_RETURN`). A record naming an older block makes
//! derivation ask for it ([`Lookup::Missing`]); the settlement task fetches it
//! asynchronously and hands it in with [`L1Blocks::provide`], so no Bitcoin call ever
//! blocks derivation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bitcoin::{Block, BlockHash, Transaction, Txid};
use cairn_l1::ChainUpdate;

/// How far below a batch's L1 height a peg transaction whose recorded block a reorg
/// replaced is looked for (it was mined again in another block).
pub const PEG_LOOKBACK: u32 = 144;

/// Best-chain blocks kept: the lookback twice over, so a batch waiting for an older block
/// still finds its lookback range.
pub const KEPT_BLOCKS: u32 = 2 * PEG_LOOKBACK;

/// One best-chain block, as far as the peg cares.
#[derive(Debug, Clone)]
pub struct KeptBlock {
    /// Its height.
    pub height: u32,
    /// Its hash.
    pub hash: BlockHash,
    /// The transactions a peg record can name, by txid.
    pub txs: HashMap<Txid, Arc<Transaction>>,
}

impl KeptBlock {
    fn of(height: u32, block: &Block) -> Self {
        let txs = block
            .txdata
            .iter()
            .filter(|tx| {
                tx.output
                    .iter()
                    .any(|o| o.script_pubkey.is_p2tr() || o.script_pubkey.is_op_return())
            })
            .map(|tx| (tx.compute_txid(), Arc::new(tx.clone())))
            .collect();
        Self {
            height,
            hash: block.block_hash(),
            txs,
        }
    }
}

/// What is known of a block a record names.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// On the best chain.
    Best(&'a KeptBlock),
    /// Not on the best chain (unknown to the Bitcoin node, or on a side branch).
    NotBest,
    /// Neither kept nor fetched yet: derivation must wait for it.
    Missing,
}

/// Recent best-chain blocks, and older ones fetched for records that name them.
#[derive(Debug, Default)]
pub struct L1Blocks {
    best: BTreeMap<u32, KeptBlock>,
    heights: HashMap<BlockHash, u32>,
    /// Blocks below the window, fetched on demand: `None` = not on the best chain.
    fetched: HashMap<BlockHash, Option<KeptBlock>>,
}

impl L1Blocks {
    /// Follows one update: disconnected blocks leave, connected ones enter, and the oldest
    /// beyond [`KEPT_BLOCKS`] are dropped.
    pub fn apply(&mut self, update: &ChainUpdate) {
        if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() {
            for (_, block) in self.best.split_off(&lowest) {
                self.heights.remove(&block.hash);
            }
            // A fetched block may be reorged out, a side block may now be best.
            self.fetched
                .retain(|_, b| b.as_ref().is_some_and(|b| b.height < lowest));
        }
        for (height, block) in &update.connected {
            let kept = KeptBlock::of(*height, block);
            self.heights.insert(kept.hash, *height);
            if let Some(old) = self.best.insert(*height, kept) {
                self.heights.remove(&old.hash);
            }
        }
        while self.best.len() > KEPT_BLOCKS as usize {
            if let Some((_, old)) = self.best.pop_first() {
                self.heights.remove(&old.hash);
            }
        }
    }

    /// The block `hash`, as far as this node knows it.
    pub fn lookup(&self, hash: &BlockHash) -> Lookup<'_> {
        if let Some(block) = self.heights.get(hash).and_then(|h| self.best.get(h)) {
            return Lookup::Best(block);
        }
        match self.fetched.get(hash) {
            Some(Some(block)) => Lookup::Best(block),
            Some(None) => Lookup::NotBest,
            None => Lookup::Missing,
        }
    }

    /// The kept best-chain block at `height`, if it is in the window.
    pub fn at(&self, height: u32) -> Option<&KeptBlock> {
        self.best.get(&height)
    }

    /// Hands in a block derivation asked for: `Some((height, block))` if the Bitcoin node
    /// has it on its best chain, `None` if not.
    pub fn provide(&mut self, hash: BlockHash, block: Option<(u32, &Block)>) {
        let kept = block.map(|(height, block)| KeptBlock::of(height, block));
        self.fetched.insert(hash, kept);
    }
}

/// Fetches a block derivation waits for ([`crate::derive::Deriver::wanted_blocks`]):
/// `Some((height, block))` if `client`'s node has it on its best chain, `None` if it does
/// not have it there. Errors are the node's (unreachable, …): ask again later.
pub async fn fetch_block(
    client: &cairn_l1::Client,
    hash: &BlockHash,
) -> cairn_l1::Result<Option<(u32, Block)>> {
    let info = match client.get_block_header_info(hash).await {
        Ok(info) => info,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    if info.confirmations < 1 {
        return Ok(None);
    }
    let block = client.get_block(hash).await?;
    Ok(Some((info.height, block)))
}
