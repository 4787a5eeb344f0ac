//! The deterministic chain state: block index (every block ever seen), active chain,
//! UTXO set with per-block undo data, chain selection by most work, reorgs,
//! `invalidateblock` / `reconsiderblock`, the mempool and block assembly.
//!
//! Nothing here does I/O or reads the clock: callers pass the time in.

use std::collections::{HashMap, HashSet};

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::pow::Work;
use bitcoin::{
    Amount, Block, BlockHash, Network, OutPoint, Script, Transaction, TxOut, Txid, Wtxid,
};

use crate::error::{Error, Reject, Result};
use crate::mempool::Mempool;
use crate::params::{MAX_BLOCK_SIGOPS_COST, block_subsidy};
use crate::validation::{
    Coin, check_tx_inputs, sequence_locks, sequence_locks_met, sigop_cost, verify_scripts,
};

mod accept;
mod check;
mod mining;

/// One change to the UTXO set while connecting a block, for rollback and undo data.
enum UtxoChange {
    Spent(OutPoint, Coin),
    Created(OutPoint),
}

/// A block in the index.
#[derive(Debug, Clone)]
pub struct BlockEntry {
    /// The full block.
    pub block: Block,
    /// Its height.
    pub height: u32,
    /// Total work of the chain ending here.
    pub chainwork: Work,
    /// Arrival order: among equal work the earlier block wins, as in bitcoind.
    pub seq: u64,
}

/// A transaction accepted (or, for a test, acceptable) into the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Its fee.
    pub fee: Amount,
    /// Its virtual size.
    pub vsize: u64,
    /// Mempool transactions it replaced (BIP125), sorted.
    pub replaced: Vec<Txid>,
}

/// The in-memory regtest chain.
#[derive(Debug, Clone)]
pub struct Chain {
    index: HashMap<BlockHash, BlockEntry>,
    active: Vec<BlockHash>,
    utxo: HashMap<OutPoint, Coin>,
    undo: HashMap<BlockHash, Vec<(OutPoint, Coin)>>,
    tx_index: HashMap<Txid, BlockHash>,
    invalid: HashSet<BlockHash>,
    failures: HashMap<BlockHash, Reject>,
    mempool: Mempool,
    next_seq: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A chain holding only the regtest genesis block (whose coinbase is unspendable).
    pub fn new() -> Self {
        let genesis = genesis_block(Network::Regtest);
        let hash = genesis.block_hash();
        let entry = BlockEntry {
            chainwork: genesis.header.work(),
            block: genesis,
            height: 0,
            seq: 0,
        };
        Self {
            index: HashMap::from([(hash, entry)]),
            active: vec![hash],
            utxo: HashMap::new(),
            undo: HashMap::new(),
            tx_index: HashMap::new(),
            invalid: HashSet::new(),
            failures: HashMap::new(),
            mempool: Mempool::default(),
            next_seq: 1,
        }
    }

    // ---- reading -------------------------------------------------------------------------

    /// Hash of the active tip.
    pub fn tip(&self) -> BlockHash {
        *self
            .active
            .last()
            .expect("the active chain always holds genesis")
    }

    /// Height of the active tip.
    pub fn height(&self) -> u32 {
        u32::try_from(self.active.len() - 1).expect("fewer than 2^32 blocks")
    }

    /// Hash of the regtest genesis block.
    pub fn genesis_hash(&self) -> BlockHash {
        self.active[0]
    }

    /// A block from the index, active or not.
    pub fn block(&self, hash: &BlockHash) -> Option<&BlockEntry> {
        self.index.get(hash)
    }

    /// Every block in the index.
    pub fn blocks(&self) -> impl Iterator<Item = &BlockEntry> {
        self.index.values()
    }

    /// Hash of the active block at `height`.
    pub fn block_hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// Whether `hash` is on the active chain.
    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.index
            .get(hash)
            .is_some_and(|e| self.active.get(e.height as usize) == Some(hash))
    }

    /// An unspent output of the active chain.
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.utxo.get(outpoint)
    }

    /// The whole UTXO set.
    pub fn utxos(&self) -> &HashMap<OutPoint, Coin> {
        &self.utxo
    }

    /// The active block that confirmed `txid`.
    pub fn tx_block(&self, txid: &Txid) -> Option<BlockHash> {
        self.tx_index.get(txid).copied()
    }

    /// Drops `txid` and its descendants from the mempool.
    pub fn remove_from_mempool(&mut self, txid: &Txid) {
        self.mempool.remove_with_descendants(txid);
    }

    /// The coins an active block spent, in spending order (its undo data).
    pub fn spent_coins(&self, hash: &BlockHash) -> Option<&[(OutPoint, Coin)]> {
        self.undo.get(hash).map(Vec::as_slice)
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Blocks marked invalid (by `invalidate_block` or because they failed validation).
    pub fn invalid_blocks(&self) -> &HashSet<BlockHash> {
        &self.invalid
    }

    /// Why a block failed validation, if it did.
    pub fn block_failure(&self, hash: &BlockHash) -> Option<&Reject> {
        self.failures.get(hash)
    }

    /// Median time past of the block `hash` (median of it and its 10 ancestors).
    pub fn median_time_past(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(11);
        let mut cur = self.index.get(hash);
        while let Some(e) = cur {
            times.push(e.block.header.time);
            if times.len() == 11 || e.height == 0 {
                break;
            }
            cur = self.index.get(&e.block.header.prev_blockhash);
        }
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Median time past of the active block at `height` (the tip's if beyond it).
    fn mtp_at(&self, height: u32) -> u32 {
        let hash = self
            .active
            .get(height as usize)
            .copied()
            .unwrap_or_else(|| self.tip());
        self.median_time_past(&hash)
    }

    // ---- blocks --------------------------------------------------------------------------

    /// Validates a block's header and context-free rules against its parent, adds it to the
    /// index, and activates the most-work valid chain. Returns `Ok(false)` for a block
    /// already known. A block that fails full validation stays in the index, marked invalid.
    pub fn submit_block(&mut self, block: Block) -> Result<bool> {
        let hash = block.block_hash();
        if self.index.contains_key(&hash) {
            if let Some(reject) = self.failures.get(&hash) {
                return Err(reject.clone().into());
            }
            return Ok(false);
        }
        self.check_block(&block)?;
        self.insert_entry(hash, block);
        self.activate_best_chain();
        match self.failures.get(&hash) {
            Some(reject) => Err(reject.clone().into()),
            None => Ok(true),
        }
    }

    /// Adds a block read back from disk to the index without activating: like
    /// `submit_block`, except that a parent marked invalid is allowed (its descendants were
    /// stored before the mark and must survive a restart for `reconsider_block`).
    pub fn load_block(&mut self, block: Block) -> Result<(), Reject> {
        let hash = block.block_hash();
        if self.index.contains_key(&hash) {
            return Ok(());
        }
        self.check_block_inner(&block, true)?;
        self.insert_entry(hash, block);
        Ok(())
    }

    /// Switches to the most-work valid chain (after `load_block`).
    pub fn activate(&mut self) {
        self.activate_best_chain();
    }

    fn insert_entry(&mut self, hash: BlockHash, block: Block) {
        let parent = self
            .index
            .get(&block.header.prev_blockhash)
            .expect("check_block found the parent");
        let entry = BlockEntry {
            height: parent.height + 1,
            chainwork: parent.chainwork + block.header.work(),
            seq: self.next_seq,
            block,
        };
        self.next_seq += 1;
        self.index.insert(hash, entry);
    }

    /// Whether neither `hash` nor any ancestor is marked invalid.
    fn chain_valid(&self, hash: &BlockHash) -> bool {
        let mut cur = *hash;
        loop {
            if self.invalid.contains(&cur) {
                return false;
            }
            if self.is_active(&cur) {
                return true;
            }
            match self.index.get(&cur) {
                Some(e) if e.height > 0 => cur = e.block.header.prev_blockhash,
                _ => return true,
            }
        }
    }

    /// The most-work valid block; the current tip wins ties, then the earliest arrival.
    fn best_candidate(&self) -> BlockHash {
        let tip = self.tip();
        let tip_entry = &self.index[&tip];
        let (mut best, mut work, mut seq) = (tip, tip_entry.chainwork, tip_entry.seq);
        for (hash, e) in &self.index {
            let better = e.chainwork > work || (e.chainwork == work && best != tip && e.seq < seq);
            if better && !self.is_active(hash) && self.chain_valid(hash) {
                (best, work, seq) = (*hash, e.chainwork, e.seq);
            }
        }
        best
    }

    /// Reorganises to the most-work valid chain, marking blocks that fail to connect.
    fn activate_best_chain(&mut self) {
        loop {
            let best = self.best_candidate();
            if best == self.tip() {
                return;
            }
            let mut path = Vec::new();
            let mut cur = best;
            while !self.is_active(&cur) {
                path.push(cur);
                cur = self.index[&cur].block.header.prev_blockhash;
            }
            let fork = cur;
            let mut disconnected = Vec::new();
            while self.tip() != fork {
                disconnected.push(self.disconnect_tip());
            }
            for hash in path.into_iter().rev() {
                if let Err(reject) = self.connect_block(hash) {
                    tracing::info!(target: "cairn::devnet::chain", %hash, %reject, "block failed validation");
                    self.invalid.insert(hash);
                    self.failures.insert(hash, reject);
                    break;
                }
            }
            if !disconnected.is_empty() {
                self.refill_mempool(disconnected);
            }
        }
    }

    /// Connects the child of the tip: full validation, UTXO update with undo data.
    fn connect_block(&mut self, hash: BlockHash) -> Result<(), Reject> {
        let entry = self.index[&hash].clone();
        let block = &entry.block;
        let height = entry.height;
        let prev_mtp = self.median_time_past(&block.header.prev_blockhash);
        let mut journal = Vec::new();
        let result = self.connect_txs(block, height, prev_mtp, &mut journal);
        if let Err(reject) = result {
            // Undo in reverse order, so a coin created and spent in this block ends absent.
            for change in journal.into_iter().rev() {
                match change {
                    UtxoChange::Spent(op, coin) => self.utxo.insert(op, coin),
                    UtxoChange::Created(op) => self.utxo.remove(&op),
                };
            }
            return Err(reject);
        }
        let undo = journal
            .into_iter()
            .filter_map(|change| match change {
                UtxoChange::Spent(op, coin) => Some((op, coin)),
                UtxoChange::Created(_) => None,
            })
            .collect();
        self.undo.insert(hash, undo);
        self.active.push(hash);
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            self.tx_index.insert(txid, hash);
            if tx.is_coinbase() {
                continue;
            }
            self.mempool.remove(&txid);
            for input in &tx.input {
                if let Some(other) = self.mempool.spender(&input.previous_output) {
                    self.mempool.remove_with_descendants(&other);
                }
            }
        }
        tracing::debug!(target: "cairn::devnet::chain", %hash, height, txs = block.txdata.len(), "connected block");
        Ok(())
    }

    fn connect_txs(
        &mut self,
        block: &Block,
        height: u32,
        prev_mtp: u32,
        journal: &mut Vec<UtxoChange>,
    ) -> Result<(), Reject> {
        let mut fees = Amount::ZERO;
        let mut sigops = 0u64;
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            if tx.is_coinbase() {
                sigops = sigops.saturating_add(sigop_cost(tx, &[]));
            } else {
                let mut coins = Vec::with_capacity(tx.input.len());
                for input in &tx.input {
                    let Some(coin) = self.utxo.remove(&input.previous_output) else {
                        return Err(Reject::invalid("bad-txns-inputs-missingorspent")
                            .with_details("CheckTxInputs: inputs missing/spent"));
                    };
                    journal.push(UtxoChange::Spent(input.previous_output, coin.clone()));
                    coins.push(coin);
                }
                let fee = check_tx_inputs(tx, &coins, height)?;
                fees = fees
                    .checked_add(fee)
                    .ok_or_else(|| Reject::invalid("bad-txns-accumulated-fee-outofrange"))?;
                let lp = sequence_locks(tx, &coins, |h| self.mtp_at(h.saturating_sub(1)));
                if !sequence_locks_met(lp, height, prev_mtp) {
                    return Err(Reject::invalid("bad-txns-nonfinal")
                        .with_details("contains a non-BIP68-final transaction"));
                }
                let spent: Vec<TxOut> = coins.into_iter().map(|c| c.output).collect();
                sigops = sigops.saturating_add(sigop_cost(tx, &spent));
                if sigops > MAX_BLOCK_SIGOPS_COST {
                    return Err(Reject::invalid("bad-blk-sigops").with_details("too many sigops"));
                }
                verify_scripts(tx, &spent)?;
            }
            for (vout, output) in tx.output.iter().enumerate() {
                let vout = u32::try_from(vout).map_err(|_| Reject::invalid("bad-txns-oversize"))?;
                if is_unspendable(&output.script_pubkey) {
                    continue;
                }
                let op = OutPoint { txid, vout };
                if self.utxo.contains_key(&op) {
                    return Err(Reject::invalid("bad-txns-BIP30")
                        .with_details("tried to overwrite transaction"));
                }
                self.utxo.insert(
                    op,
                    Coin {
                        output: output.clone(),
                        height,
                        is_coinbase: tx.is_coinbase(),
                    },
                );
                journal.push(UtxoChange::Created(op));
            }
        }
        let coinbase_out = block.txdata[0]
            .output
            .iter()
            .try_fold(Amount::ZERO, |acc, o| acc.checked_add(o.value))
            .unwrap_or(Amount::MAX);
        let limit = block_subsidy(height)
            .checked_add(fees)
            .unwrap_or(Amount::MAX);
        if coinbase_out > limit {
            return Err(Reject::invalid("bad-cb-amount").with_details(format!(
                "coinbase pays too much (actual={} vs limit={})",
                coinbase_out.to_sat(),
                limit.to_sat()
            )));
        }
        Ok(())
    }

    /// Disconnects the tip, restoring spent coins; returns its non-coinbase transactions.
    fn disconnect_tip(&mut self) -> Vec<Transaction> {
        assert!(self.active.len() > 1, "genesis is never disconnected");
        let hash = self.active.pop().expect("checked above");
        let block = self.index[&hash].block.clone();
        // Undo data holds spent coins in (transaction, input) order; walk it backwards
        // alongside the transactions so coins created and spent inside the block vanish.
        let mut undo = self.undo.remove(&hash).unwrap_or_default();
        for tx in block.txdata.iter().rev() {
            let txid = tx.compute_txid();
            self.tx_index.remove(&txid);
            for vout in 0..tx.output.len() {
                if let Ok(vout) = u32::try_from(vout) {
                    self.utxo.remove(&OutPoint { txid, vout });
                }
            }
            if tx.is_coinbase() {
                continue;
            }
            for _ in &tx.input {
                if let Some((op, coin)) = undo.pop() {
                    self.utxo.insert(op, coin);
                }
            }
        }
        tracing::debug!(target: "cairn::devnet::chain", %hash, "disconnected block");
        block
            .txdata
            .into_iter()
            .filter(|t| !t.is_coinbase())
            .collect()
    }

    /// Marks `hash` invalid as `invalidateblock` does: disconnects back to its parent if it
    /// is active (returning still-valid transactions to the mempool) and switches to the
    /// most-work chain without it.
    pub fn invalidate_block(&mut self, hash: &BlockHash) -> Result<()> {
        let Some(entry) = self.index.get(hash) else {
            return Err(Error::UnknownBlock(*hash));
        };
        if entry.height == 0 {
            return Err(Reject::invalid("cannot invalidate the genesis block").into());
        }
        self.invalid.insert(*hash);
        let mut disconnected = Vec::new();
        while self.is_active(hash) {
            disconnected.push(self.disconnect_tip());
        }
        if !disconnected.is_empty() {
            self.refill_mempool(disconnected);
        }
        self.activate_best_chain();
        Ok(())
    }

    /// Clears invalid marks on `hash`, its ancestors and descendants, as `reconsiderblock`
    /// does, and activates the most-work chain.
    pub fn reconsider_block(&mut self, hash: &BlockHash) -> Result<()> {
        let Some(entry) = self.index.get(hash) else {
            return Err(Error::UnknownBlock(*hash));
        };
        let height = entry.height;
        let cleared: Vec<BlockHash> = self
            .invalid
            .iter()
            .filter(|m| self.is_ancestor(m, hash) || self.is_ancestor(hash, m))
            .copied()
            .collect();
        for m in cleared {
            self.invalid.remove(&m);
            self.failures.remove(&m);
        }
        tracing::debug!(target: "cairn::devnet::chain", %hash, height, "reconsidered block");
        self.activate_best_chain();
        Ok(())
    }

    /// Restores invalid marks read from disk (before replaying blocks).
    pub fn restore_invalid(&mut self, hashes: impl IntoIterator<Item = BlockHash>) {
        self.invalid.extend(hashes);
    }

    /// Whether `a` is `b` or an ancestor of `b`.
    fn is_ancestor(&self, a: &BlockHash, b: &BlockHash) -> bool {
        let Some(target) = self.index.get(a) else {
            return false;
        };
        let mut cur = *b;
        while let Some(e) = self.index.get(&cur) {
            if e.height < target.height {
                return false;
            }
            if cur == *a {
                return true;
            }
            if e.height == 0 {
                return false;
            }
            cur = e.block.header.prev_blockhash;
        }
        false
    }
}

/// bitcoind's `CScript::IsUnspendable`: never added to the UTXO set.
fn is_unspendable(script: &Script) -> bool {
    script.is_op_return() || script.len() > 10_000
}
