//! The devnet: the deterministic [`Chain`] plus its data dir and the wall clock.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::{Block, BlockHash, Script, Transaction};

use crate::chain::{Accepted, Chain};
use crate::error::{Reject, Result};
use crate::store::{MempoolJournal, Store};

/// How far ahead of the clock a block's time may be (bitcoind's `MAX_FUTURE_BLOCK_TIME`).
const MAX_FUTURE_BLOCK_TIME: u32 = 2 * 60 * 60;

/// A persistent regtest chain in a data dir.
#[derive(Debug)]
pub struct Devnet {
    chain: Chain,
    store: Store,
    journal: MempoolJournal,
    dir: PathBuf,
    saved_invalid: HashSet<BlockHash>,
    mock_time: Option<u32>,
}

impl Devnet {
    /// Opens the devnet in `dir`, replaying its blocks; a new dir starts at genesis.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        let (store, blocks, invalid) = Store::open(&dir)?;
        let mut chain = Chain::new();
        chain.restore_invalid(invalid.iter().copied());
        let count = blocks.len();
        for block in blocks {
            let hash = block.block_hash();
            if let Err(reject) = chain.load_block(block) {
                tracing::warn!(target: "cairn::devnet", %hash, %reject, "stored block not loaded");
            }
        }
        chain.activate();
        let (journal, pending) = MempoolJournal::open(&dir)?;
        let restored = pending
            .iter()
            .filter(|tx| chain.accept_transaction(tx, false).is_ok())
            .count();
        tracing::info!(target: "cairn::devnet", dir = %dir.display(), blocks = count, height = chain.height(), tip = %chain.tip(), mempool = restored, "devnet opened");
        let saved_invalid = chain.invalid_blocks().clone();
        Ok(Self {
            chain,
            store,
            journal,
            dir,
            saved_invalid,
            mock_time: None,
        })
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The chain state.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Validates `tx` and adds it to the mempool (`sendrawtransaction`), journaling it
    /// before answering.
    pub fn send_transaction(&mut self, tx: &Transaction) -> Result<Accepted, Reject> {
        let accepted = self.chain.accept_transaction(tx, false)?;
        if let Err(e) = self.journal.append(tx) {
            tracing::error!(target: "cairn::devnet", error = %e, "mempool journal write failed");
            self.chain.remove_from_mempool(&accepted.txid);
            return Err(Reject::invalid("mempool-journal-failed").with_details(e.to_string()));
        }
        Ok(accepted)
    }

    /// Validates `tx` without adding it (`testmempoolaccept`).
    pub fn test_transaction(&mut self, tx: &Transaction) -> Result<Accepted, Reject> {
        self.chain.accept_transaction(tx, true)
    }

    /// Submits a block from outside (`submitblock`); `Ok(false)` if already known.
    pub fn submit_block(&mut self, block: Block) -> Result<bool> {
        let hash = block.block_hash();
        if block.header.time > self.now().saturating_add(MAX_FUTURE_BLOCK_TIME) {
            return Err(Reject::invalid("time-too-new")
                .with_details("block timestamp too far in the future")
                .into());
        }
        let known = self.chain.block(&hash).is_some();
        let stored = block.clone();
        let result = self.chain.submit_block(block);
        if !known && self.chain.block(&hash).is_some() {
            self.store.append_block(&stored)?;
        }
        self.save_marks_if_changed()?;
        self.compact_journal()?;
        result
    }

    /// Rewrites the mempool journal to the current mempool once it holds twice as many
    /// records (confirmed and replaced transactions are dropped).
    fn compact_journal(&mut self) -> Result<()> {
        let live = self.chain.mempool().len();
        if self.journal.records() > 2 * live + 64 {
            let txs: Vec<Transaction> = self
                .chain
                .mempool()
                .txids()
                .iter()
                .filter_map(|id| self.chain.mempool().get(id).map(|e| e.tx.clone()))
                .collect();
            self.journal.rewrite(&txs)?;
        }
        Ok(())
    }

    /// Mines `count` blocks on the tip from the mempool, paying `script_pubkey`.
    pub fn mine_blocks(&mut self, count: u32, script_pubkey: &Script) -> Result<Vec<BlockHash>> {
        let mut hashes = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let block =
                self.chain
                    .create_block(self.chain.tip(), script_pubkey, None, self.now())?;
            hashes.push(block.block_hash());
            self.submit_block(block)?;
        }
        Ok(hashes)
    }

    /// Mines one block on `parent` with exactly `txs` (`generateblock`, or a competing
    /// branch when `parent` is not the tip).
    pub fn mine_block_on(
        &mut self,
        parent: BlockHash,
        script_pubkey: &Script,
        txs: Vec<Transaction>,
    ) -> Result<BlockHash> {
        let block = self
            .chain
            .create_block(parent, script_pubkey, Some(txs), self.now())?;
        let hash = block.block_hash();
        self.submit_block(block)?;
        Ok(hash)
    }

    /// `invalidateblock`.
    pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<()> {
        self.chain.invalidate_block(hash)?;
        self.save_marks_if_changed()
    }

    /// `reconsiderblock`.
    pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<()> {
        self.chain.reconsider_block(hash)?;
        self.save_marks_if_changed()
    }

    /// Pins the clock used for new blocks (bitcoind's `setmocktime`); `None` follows the
    /// system clock again.
    pub fn set_mock_time(&mut self, time: Option<u32>) {
        self.mock_time = time;
    }

    /// The devnet's clock: the mock time if set, else the system clock.
    pub fn now(&self) -> u32 {
        self.mock_time.unwrap_or_else(system_now)
    }

    fn save_marks_if_changed(&mut self) -> Result<()> {
        if *self.chain.invalid_blocks() != self.saved_invalid {
            let mut marks: Vec<BlockHash> = self.chain.invalid_blocks().iter().copied().collect();
            marks.sort_unstable();
            self.store.save_marks(&marks)?;
            self.saved_invalid = self.chain.invalid_blocks().clone();
        }
        Ok(())
    }
}

/// Seconds since the UNIX epoch (the devnet's only clock read).
fn system_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}
