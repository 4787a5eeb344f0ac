//! Following the chain: blocks and reorganisations from `cairn_l1::ChainUpdate`s, and the
//! batcher's own unconfirmed transactions.
//!
//! BDK keeps a local chain (the hashes of the blocks applied) and a graph of the wallet's
//! transactions, each confirmed one anchored to the block it was seen in. A transaction
//! counts as confirmed only while its anchor block is in the local chain, so rewinding the
//! chain is all a reorganisation needs; transactions of the undone blocks (but not their
//! coinbases) are then marked as unconfirmed again, as Bitcoin Core returns them to its
//! mempool.

use std::collections::HashSet;
use std::sync::Arc;

use bdk_wallet::ChangeSet;
use bdk_wallet::chain::local_chain::{self, ApplyHeaderError};
use bdk_wallet::chain::{BlockId, Merge};
use bitcoin::{Block, Transaction};
use cairn_l1::ChainUpdate;

use super::error::{Error, Result};
use super::{BatcherWallet, TARGET};

impl BatcherWallet {
    /// Applies one change of the best chain: undoes `update.disconnected` (a wallet
    /// transaction confirmed there becomes unconfirmed again, unless the new blocks
    /// confirm it) and applies `update.connected` in order. The new state is on disk when
    /// this returns.
    ///
    /// The update must continue the wallet's chain: disconnected blocks must be the
    /// wallet's, and the first connected block's parent the wallet's block below it. A
    /// new wallet (nothing above genesis yet) accepts any first block, which is how it
    /// starts at a birthday height. On an [`Error::Inconsistent`] the blocks before the
    /// offending one stay applied (and persisted), so [`BatcherWallet::tip`] says where to
    /// resume.
    pub fn apply_update(&mut self, update: &ChainUpdate) -> Result<()> {
        let reorged = self.check_disconnected(update)?;
        if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() {
            // A connected block at the lowest disconnected height replaces the old one
            // there and, with it, everything above (BDK's rule). Without one, the chain
            // only shrank: rewind explicitly.
            if !update.connected.iter().any(|(h, _)| *h == lowest) {
                self.rewind_to(lowest)?;
            }
        }
        let mut result = Ok(());
        for (height, block) in &update.connected {
            if let Err(e) = self.connect(*height, block) {
                result = Err(e);
                break;
            }
        }
        if !reorged.is_empty() {
            let stamp = self.next_stamp();
            self.wallet
                .apply_unconfirmed_txs(reorged.into_iter().map(|tx| (tx, stamp)));
        }
        self.persist()?;
        if let Some((from, to)) = update.disconnected.last().zip(update.disconnected.first()) {
            tracing::warn!(target: TARGET, from = from.0, to = to.0, tip = ?self.tip(), "batcher wallet: blocks disconnected");
        }
        if !update.connected.is_empty() {
            tracing::debug!(target: TARGET, blocks = update.connected.len(), tip = ?self.tip(), balance = %self.balance().total(), "batcher wallet: blocks applied");
        }
        result
    }

    /// Applies an update from a block source that may start below the wallet's tip (a
    /// restarted node reads Bitcoin again from its network's start height): blocks the
    /// wallet already has, or that lie below its first block, are skipped; a block that
    /// differs from the wallet's at its height first disconnects the wallet's blocks from
    /// there (a reorganisation while the node was down). Otherwise as
    /// [`BatcherWallet::apply_update`].
    pub fn sync(&mut self, update: &ChainUpdate) -> Result<()> {
        let chain = self.wallet.local_chain();
        let tip = chain.tip().height();
        let mut disconnected: Vec<(u32, bitcoin::BlockHash)> = update
            .disconnected
            .iter()
            .filter(|(height, hash)| chain.get(*height).is_some_and(|cp| cp.hash() == *hash))
            .copied()
            .collect();
        let mut connected = Vec::new();
        for (height, block) in &update.connected {
            if connected.is_empty() && tip > 0 && *height <= tip {
                match chain.get(*height) {
                    Some(cp) if cp.hash() == block.block_hash() => continue,
                    None => continue,
                    Some(_) => {
                        for cp in chain.iter_checkpoints() {
                            if cp.height() < *height {
                                break;
                            }
                            if !disconnected.iter().any(|(h, _)| *h == cp.height()) {
                                disconnected.push((cp.height(), cp.hash()));
                            }
                        }
                    }
                }
            }
            connected.push((*height, block.clone()));
        }
        disconnected.sort_by_key(|b| std::cmp::Reverse(b.0));
        if disconnected.is_empty() && connected.is_empty() {
            return Ok(());
        }
        self.apply_update(&ChainUpdate {
            disconnected,
            connected,
        })
    }

    /// Records transactions the batcher broadcast (or is about to), so their inputs count
    /// as spent and their change as pending. Transactions that neither pay nor spend the
    /// wallet are ignored.
    pub fn apply_unconfirmed(&mut self, txs: &[Transaction]) -> Result<()> {
        let stamp = self.next_stamp();
        self.wallet
            .apply_unconfirmed_txs(txs.iter().map(|tx| (tx.clone(), stamp)));
        self.persist()
    }

    /// Checks the disconnected blocks against the wallet's chain and returns the
    /// non-coinbase transactions confirmed in the wallet's blocks that go away.
    fn check_disconnected(&self, update: &ChainUpdate) -> Result<Vec<Arc<Transaction>>> {
        let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() else {
            return Ok(Vec::new());
        };
        let chain = self.wallet.local_chain();
        let tip = chain.tip();
        for &(height, hash) in &update.disconnected {
            if height == 0 {
                return Err(Error::Inconsistent(format!(
                    "it disconnects the genesis block {hash}"
                )));
            }
            if height > tip.height() {
                return Err(Error::Inconsistent(format!(
                    "it disconnects block {hash} at height {height}, above the wallet's tip {} at height {}",
                    tip.hash(),
                    tip.height()
                )));
            }
            if let Some(ours) = chain.get(height)
                && ours.hash() != hash
            {
                return Err(Error::Inconsistent(format!(
                    "it disconnects block {hash} at height {height}, but the wallet has {} there",
                    ours.hash()
                )));
            }
        }
        let undone: HashSet<BlockId> = chain
            .iter_checkpoints()
            .take_while(|cp| cp.height() >= lowest)
            .map(|cp| cp.block_id())
            .collect();
        let graph = self.wallet.tx_graph();
        Ok(graph
            .all_anchors()
            .iter()
            .filter(|(_, anchors)| anchors.iter().any(|a| undone.contains(&a.block_id)))
            .filter_map(|(txid, _)| graph.get_tx(*txid))
            .filter(|tx| !tx.is_coinbase())
            .collect())
    }

    /// Removes the wallet's blocks from height `lowest` up. BDK's wallet cannot drop blocks
    /// without replacing them, so the wallet is rebuilt from its state minus those blocks.
    fn rewind_to(&mut self, lowest: u32) -> Result<()> {
        let mut removal = local_chain::ChangeSet::default();
        for cp in self.wallet.local_chain().iter_checkpoints() {
            if cp.height() < lowest {
                break;
            }
            removal.blocks.insert(cp.height(), None);
        }
        if removal.blocks.is_empty() {
            return Ok(());
        }
        self.absorb_staged();
        let mut next = self.persisted.clone();
        next.merge(ChangeSet {
            local_chain: removal,
            ..ChangeSet::default()
        });
        self.reload(next)
    }

    /// Applies the block at `height`: its parent must be the wallet's block below it,
    /// unless the wallet has nothing above genesis yet.
    fn connect(&mut self, height: u32, block: &Block) -> Result<()> {
        let hash = block.block_hash();
        let parent = block.header.prev_blockhash;
        let chain = self.wallet.local_chain();
        let tip = chain.tip();
        let Some(below) = height.checked_sub(1) else {
            return if hash == chain.genesis_hash() {
                Ok(())
            } else {
                Err(Error::Inconsistent(format!(
                    "genesis block {hash} is not the network's {}",
                    chain.genesis_hash()
                )))
            };
        };
        let inconsistent = |e: &dyn std::fmt::Display| {
            Error::Inconsistent(format!("block {hash} at height {height}: {e}"))
        };
        if chain.get(below).is_some_and(|cp| cp.hash() == parent) {
            self.wallet
                .apply_block(block, height)
                .map_err(|e| inconsistent(&e))
        } else if tip.height() == 0 {
            let genesis = tip.block_id();
            self.wallet
                .apply_block_connected_to(block, height, genesis)
                .map_err(|e| match e {
                    ApplyHeaderError::InconsistentBlocks => {
                        inconsistent(&"its parent is not the genesis block")
                    }
                    ApplyHeaderError::CannotConnect(e) => inconsistent(&e),
                })
        } else {
            Err(Error::does_not_connect(
                height,
                hash,
                parent,
                (tip.height(), tip.hash()),
            ))
        }
    }
}
