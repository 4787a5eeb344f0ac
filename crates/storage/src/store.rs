//! [`Storage`]: the database, the latest state in memory, recent blocks, and the
//! commitment, behind one handle shared by the sequencer and the RPC.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_consensus::EMPTY_ROOT_HASH;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use cairn_primitives::{Block, ChainSpec, Receipt, header_template};
use fjall::PersistMode;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::commitment::{AccountProof, Commitment};
use crate::db::{
    Tables, corrupt, decode_location, decode_u64, encode_account, location_bytes, storage_key,
};
use crate::history::{Direction, HISTORY_INDEX_VERSION};
use crate::state::{Account, ChangeSet, FlatState, StateChanges, account_at, storage_at};
use crate::{Result, StorageError};

/// Tuning of the storage layer.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// How many recent blocks' state stays readable (geth keeps 128).
    pub history_blocks: usize,
    /// How many recent blocks stay decoded in memory.
    pub cached_blocks: usize,
    /// fsync every block commit (survives power loss, not only process crashes).
    pub sync_writes: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            history_blocks: 128,
            cached_blocks: 64,
            sync_writes: true,
        }
    }
}

/// A block and its receipts.
#[derive(Debug, Clone)]
pub struct BlockWithReceipts {
    pub block: Arc<Block>,
    pub receipts: Arc<Vec<Receipt>>,
}

/// The node's storage handle.
pub struct Storage {
    tables: Tables,
    options: StorageOptions,
    state: RwLock<FlatState>,
    commitment: Mutex<Commitment>,
    recent: RwLock<VecDeque<BlockWithReceipts>>,
    finality: RwLock<Option<Finality>>,
    /// The first block that exists only on this node (see [`Storage::mark_local_from`]);
    /// `u64::MAX`: none.
    local_from: AtomicU64,
}

/// How far Bitcoin has settled the chain: the last L2 block whose batch is in a Bitcoin
/// block (`safe`) and the last whose batch is buried `finality_depth` deep (`finalized`).
/// Settlement sets it; derivation and reorgs move it both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Finality {
    /// The `safe` block number.
    pub safe: u64,
    /// The `finalized` block number.
    pub finalized: u64,
}

/// A read view of the state as of one block.
pub struct StateView<'a> {
    flat: RwLockReadGuard<'a, FlatState>,
    sets: Vec<Arc<ChangeSet>>,
}

impl StateView<'_> {
    pub fn account(&self, address: &Address) -> Option<Account> {
        account_at(&self.flat, &self.sets, address)
    }
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        storage_at(&self.flat, &self.sets, address, slot)
    }
    pub fn code(&self, hash: &B256) -> Option<Bytes> {
        self.flat.code(hash)
    }
}

impl Storage {
    /// Open (or create, with the genesis of `spec`) the database at `path`.
    pub fn open(path: &Path, spec: &ChainSpec, options: StorageOptions) -> Result<Self> {
        let tables = Tables::open(path)?;
        let spec_json = serde_json::to_vec(spec).map_err(|e| corrupt("meta", &e.to_string()))?;
        let storage = match tables.head()? {
            None => Self::create(tables, spec, &spec_json, options)?,
            Some(head) => Self::load(tables, spec, &spec_json, head, options)?,
        };
        Ok(storage)
    }

    fn create(
        tables: Tables,
        spec: &ChainSpec,
        spec_json: &[u8],
        options: StorageOptions,
    ) -> Result<Self> {
        let mut changes = StateChanges::default();
        for (address, genesis) in &spec.alloc {
            let mut account = Account {
                balance: genesis.balance,
                ..Default::default()
            };
            if let Some(code) = genesis.code.as_ref().filter(|c| !c.is_empty()) {
                account.code_hash = keccak256(code);
                changes.codes.push((account.code_hash, code.clone()));
            }
            changes.accounts.push((*address, Some(account)));
        }
        let mut commitment = Commitment::default();
        let state_root = commitment.apply(&changes);
        let mut header = header_template();
        header.number = 0;
        header.state_root = state_root;
        header.transactions_root = EMPTY_ROOT_HASH;
        header.receipts_root = EMPTY_ROOT_HASH;
        header.gas_limit = spec.block_gas_limit;
        header.base_fee_per_gas = Some(spec.base_fee_floor);
        header.timestamp = spec.genesis_timestamp;
        let block = Block {
            hash: header.hash_slow(),
            header,
            transactions: vec![],
            deposits: vec![],
            payouts: Vec::new(),
        };
        tables.meta.insert("chain", spec_json)?;
        let storage = Self {
            tables,
            options,
            state: RwLock::new(FlatState::default()),
            commitment: Mutex::new(commitment),
            recent: RwLock::new(VecDeque::new()),
            finality: RwLock::new(None),
            local_from: AtomicU64::new(u64::MAX),
        };
        storage
            .tables
            .meta
            .insert("history_index", HISTORY_INDEX_VERSION.to_be_bytes())?;
        storage.commit(block, Vec::new(), changes)?;
        tracing::info!(target: "cairn::storage", %state_root, accounts = spec.alloc.len(), "created genesis");
        Ok(storage)
    }

    fn load(
        tables: Tables,
        spec: &ChainSpec,
        spec_json: &[u8],
        head: u64,
        options: StorageOptions,
    ) -> Result<Self> {
        let stored = tables
            .meta
            .get("chain")?
            .ok_or_else(|| corrupt("meta", "no chain"))?;
        if stored.as_ref() != spec_json {
            let stored: ChainSpec =
                serde_json::from_slice(&stored).map_err(|e| corrupt("meta", &e.to_string()))?;
            return Err(StorageError::WrongChain(format!(
                "the data dir holds chain id {} (gas limit {}, base fee floor {}); the config says chain id {} (gas limit {}, base fee floor {})",
                stored.chain_id,
                stored.block_gas_limit,
                stored.base_fee_floor,
                spec.chain_id,
                spec.block_gas_limit,
                spec.base_fee_floor
            )));
        }
        let started = std::time::Instant::now();
        let mut state = tables.load_state()?;
        state.history = tables
            .load_change_sets(head, options.history_blocks)?
            .into();
        let mut commitment = Commitment::from_state(&state);
        let root = commitment.root();
        let storage = Self {
            tables,
            options,
            state: RwLock::new(state),
            commitment: Mutex::new(commitment),
            recent: RwLock::new(VecDeque::new()),
            finality: RwLock::new(None),
            local_from: AtomicU64::new(u64::MAX),
        };
        if let Some(from) = storage.tables.meta.get("local_from")? {
            storage
                .local_from
                .store(decode_u64(&from, "meta")?, Ordering::SeqCst);
        }
        let head_block = storage
            .read_block(head)?
            .ok_or(StorageError::BlockNotFound(head))?;
        if head_block.block.header.state_root != root {
            return Err(StorageError::RootMismatch {
                block: head,
                expected: head_block.block.header.state_root,
                actual: root,
            });
        }
        storage.recent.write().push_back(head_block);
        let indexed = storage.tables.meta.get("history_index")?;
        if indexed
            .as_deref()
            .map(|v| decode_u64(v, "meta"))
            .transpose()?
            != Some(HISTORY_INDEX_VERSION)
        {
            storage.build_history_index(head)?;
        }
        tracing::info!(
            target: "cairn::storage", head, %root,
            accounts = storage.state.read().account_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded state and verified the state root"
        );
        Ok(storage)
    }

    /// Fold `changes` into the commitment and return the state root they give.
    /// The caller must then [`commit`](Self::commit) a block with that root:
    /// blocks are built one at a time, on top of the head.
    pub fn state_root_after(&self, changes: &StateChanges) -> B256 {
        self.commitment.lock().apply(changes)
    }

    /// EIP-1186 proofs of `address` and `slots` in the head's state, with the head's number.
    /// While a block is being sealed the commitment runs one block ahead of the head; the
    /// proof then waits for the commit, so it always matches a block users can see.
    pub fn proof(&self, address: &Address, slots: &[U256]) -> Result<(u64, AccountProof)> {
        for _ in 0..1000 {
            let head = self.head();
            let proof = self.commitment.lock().proof(address, slots);
            if proof.root == head.block.header.state_root {
                return Ok((head.block.number(), proof));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(StorageError::Corrupt {
            table: "commitment",
            reason: "the state commitment does not match the head".into(),
        })
    }

    /// Persist a block atomically (block, receipts, indexes, state, head), then
    /// make it the head in memory.
    pub fn commit(
        &self,
        block: Block,
        receipts: Vec<Receipt>,
        changes: StateChanges,
    ) -> Result<BlockWithReceipts> {
        let t = &self.tables;
        let number = block.number();
        let mut batch = t.db.batch();
        batch.insert(&t.blocks, number.to_be_bytes(), block.encode());
        batch.insert(&t.hashes, block.hash.as_slice(), number.to_be_bytes());
        batch.insert(
            &t.receipts,
            number.to_be_bytes(),
            Receipt::encode_block(&receipts),
        );
        for (index, tx) in block.transactions.iter().enumerate() {
            batch.insert(&t.txs, tx.hash.as_slice(), location_bytes(number, index));
        }
        for (index, deposit) in block.deposits.iter().enumerate() {
            let mut value = [0u8; 20];
            value[..12].copy_from_slice(&location_bytes(number, index));
            value[12..].copy_from_slice(&deposit.amount_sat.to_be_bytes());
            batch.insert(&t.deposits, deposit.outpoint_key(), value);
        }
        for (index, payout) in block.payouts.iter().enumerate() {
            batch.insert(
                &t.payouts,
                payout.txid.as_slice(),
                location_bytes(number, index),
            );
        }
        crate::history::index_block(t, &mut batch, &block, &receipts, false);
        self.write_state(&mut batch, &changes);
        // What the block overwrites, on disk with it: unwinds and historical reads
        // survive a restart.
        let keep = self.options.history_blocks;
        let set = Arc::new(self.state.read().reverse_of(&changes));
        if keep > 0 {
            batch.insert(
                &t.changesets,
                number.to_be_bytes(),
                crate::db::encode_change_set(&set),
            );
            if let Some(old) = number.checked_sub(keep as u64) {
                batch.remove(&t.changesets, old.to_be_bytes());
            }
        }
        batch.insert(&t.meta, "head", number.to_be_bytes());
        batch.commit()?;
        if self.options.sync_writes {
            t.db.persist(PersistMode::SyncData)?;
        }

        self.state.write().apply_with(number, &changes, set, keep);
        let entry = BlockWithReceipts {
            block: Arc::new(block),
            receipts: Arc::new(receipts),
        };
        let mut recent = self.recent.write();
        recent.push_back(entry.clone());
        while recent.len() > self.options.cached_blocks.max(1) {
            recent.pop_front();
        }
        Ok(entry)
    }

    /// Writes a block's state changes into `batch` (the flat state must not have applied
    /// them yet: deleted accounts' storage rows are found there).
    fn write_state(&self, batch: &mut fjall::OwnedWriteBatch, changes: &StateChanges) {
        let t = &self.tables;
        for (hash, code) in &changes.codes {
            batch.insert(&t.code, hash.as_slice(), code.as_ref());
        }
        let state = self.state.read();
        for (address, info) in &changes.accounts {
            match info {
                Some(account) => {
                    batch.insert(&t.accounts, address.as_slice(), encode_account(account))
                }
                None => {
                    batch.remove(&t.accounts, address.as_slice());
                    if let Some(slots) = state.storage.get(address) {
                        for slot in slots.keys() {
                            batch.remove(&t.storage, storage_key(address, slot));
                        }
                    }
                }
            }
        }
        for (address, slot, value) in &changes.storage {
            let key = storage_key(address, slot);
            if value.is_zero() {
                batch.remove(&t.storage, key);
            } else {
                batch.insert(&t.storage, key, value.to_be_bytes::<32>());
            }
        }
    }

    /// Rolls the chain back so that block `target` is the head again: the state is
    /// restored from the kept change sets (the last `history_blocks` blocks), checked
    /// against `target`'s state root, and the later blocks, receipts and transaction
    /// index entries are deleted, all in one atomic write. Derivation uses it when a
    /// Bitcoin reorg drops batches or a batch turns out invalid.
    pub fn unwind_to(&self, target: u64) -> Result<()> {
        let head = self.head_number();
        if target >= head {
            return Ok(());
        }
        let target_block = self
            .block_by_number(target)?
            .ok_or(StorageError::BlockNotFound(target))?;
        let changes = self.state.read().revert_changes(target, head).ok_or(
            StorageError::HistoryUnavailable {
                requested: target,
                kept: self.options.history_blocks as u64,
            },
        )?;
        let root = self.commitment.lock().apply(&changes);
        if root != target_block.block.header.state_root {
            return Err(StorageError::RootMismatch {
                block: target,
                expected: target_block.block.header.state_root,
                actual: root,
            });
        }
        let t = &self.tables;
        let mut batch = t.db.batch();
        self.write_state(&mut batch, &changes);
        for number in target + 1..=head {
            let block = self
                .block_by_number(number)?
                .ok_or(StorageError::BlockNotFound(number))?;
            batch.remove(&t.blocks, number.to_be_bytes());
            batch.remove(&t.receipts, number.to_be_bytes());
            batch.remove(&t.changesets, number.to_be_bytes());
            batch.remove(&t.hashes, block.block.hash.as_slice());
            for tx in &block.block.transactions {
                batch.remove(&t.txs, tx.hash.as_slice());
            }
            for deposit in &block.block.deposits {
                batch.remove(&t.deposits, deposit.outpoint_key());
            }
            for payout in &block.block.payouts {
                batch.remove(&t.payouts, payout.txid.as_slice());
            }
            crate::history::index_block(t, &mut batch, &block.block, &block.receipts, true);
        }
        batch.insert(&t.meta, "head", target.to_be_bytes());
        batch.commit()?;
        if self.options.sync_writes {
            t.db.persist(PersistMode::SyncData)?;
        }
        {
            let mut state = self.state.write();
            state.apply(target, &changes, 0);
            state.forget_after(target);
        }
        let mut recent = self.recent.write();
        recent.retain(|b| b.block.number() <= target);
        if recent.is_empty() {
            recent.push_back(target_block);
        }
        tracing::warn!(target: "cairn::storage", from = head, to = target, "unwound the chain");
        Ok(())
    }

    /// Where `address`'s transactions are (sent, received or deployed by them), as
    /// `(block, index)`: from block `from` (exclusive; `None`: the chain's end in that
    /// direction) towards `direction`, at least `limit` of them if there are, and never
    /// half a block (the block of the last one is finished).
    pub fn address_history(
        &self,
        address: &Address,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<(u64, usize)>> {
        crate::history::address_history(&self.tables, address, from, direction, limit)
    }

    /// The transaction that deployed `contract` (top-level creations), as `(block, index)`.
    pub fn contract_creation(&self, contract: &Address) -> Result<Option<(u64, usize)>> {
        crate::history::contract_creation(&self.tables, contract)
    }

    /// Where `sender`'s transaction with `nonce` is, as `(block, index)`.
    pub fn sender_nonce_location(
        &self,
        sender: &Address,
        nonce: u64,
    ) -> Result<Option<(u64, usize)>> {
        crate::history::sender_nonce_location(&self.tables, sender, nonce)
    }

    /// Indexes every stored block (a data dir written before the index existed).
    fn build_history_index(&self, head: u64) -> Result<()> {
        let t = &self.tables;
        let started = std::time::Instant::now();
        let mut batch = t.db.batch();
        for number in 1..=head {
            let block = self
                .block_by_number(number)?
                .ok_or(StorageError::BlockNotFound(number))?;
            crate::history::index_block(t, &mut batch, &block.block, &block.receipts, false);
            if number % 10_000 == 0 {
                std::mem::replace(&mut batch, t.db.batch()).commit()?;
            }
        }
        batch.insert(
            &t.meta,
            "history_index",
            HISTORY_INDEX_VERSION.to_be_bytes(),
        );
        batch.commit()?;
        tracing::info!(target: "cairn::storage", blocks = head, elapsed_ms = started.elapsed().as_millis() as u64, "indexed address history");
        Ok(())
    }

    /// Marks the chain from block `number` on as this node's alone: `cairn dev` edited its
    /// state outside any transaction, or took a snapshot it may return to, so no batch can
    /// carry those blocks and settlement must never post them. An earlier mark stays; the
    /// mark survives restarts. Returns the mark now in force.
    pub fn mark_local_from(&self, number: u64) -> Result<u64> {
        let from = self.local_from.load(Ordering::SeqCst).min(number);
        if from != self.local_from.load(Ordering::SeqCst) {
            self.tables.meta.insert("local_from", from.to_be_bytes())?;
            self.tables.db.persist(PersistMode::SyncData)?;
            self.local_from.store(from, Ordering::SeqCst);
            tracing::warn!(target: "cairn::storage", from, "blocks from here on exist only on this node: settlement stops posting them");
        }
        Ok(from)
    }

    /// The first block that exists only on this node, if any (see
    /// [`Storage::mark_local_from`]).
    pub fn local_from(&self) -> Option<u64> {
        Some(self.local_from.load(Ordering::SeqCst)).filter(|n| *n != u64::MAX)
    }

    /// The last block settlement may post: the head, or the block before the first local
    /// one.
    pub fn settleable_head(&self) -> u64 {
        let head = self.head_number();
        self.local_from()
            .map_or(head, |from| head.min(from.saturating_sub(1)))
    }

    /// Records why derivation skipped the forced transaction `hash` (it was not valid where
    /// it had to be included): the reason outlives a restart, when derivation finds the
    /// block again instead of building it.
    pub fn record_forced_skip(&self, hash: &B256, reason: &str) -> Result<()> {
        self.tables
            .meta
            .insert(forced_skip_key(hash), reason.as_bytes())?;
        Ok(())
    }

    /// Why derivation skipped the forced transaction `hash`, if it did.
    pub fn forced_skip(&self, hash: &B256) -> Result<Option<String>> {
        let value = self.tables.meta.get(forced_skip_key(hash))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records how far Bitcoin has settled the chain (see [`Finality`]).
    pub fn set_finality(&self, finality: Finality) {
        *self.finality.write() = Some(finality);
    }

    /// The settled blocks, never beyond the head; `None` while nothing tracks settlement
    /// (a node without L1), in which case `safe` and `finalized` mean the head.
    pub fn finality(&self) -> Option<Finality> {
        let head = self.head_number();
        self.finality.read().map(|f| Finality {
            safe: f.safe.min(head),
            finalized: f.finalized.min(f.safe).min(head),
        })
    }

    /// The latest sealed block.
    pub fn head(&self) -> BlockWithReceipts {
        self.recent
            .read()
            .back()
            .cloned()
            .expect("storage always holds at least the genesis block")
    }

    pub fn head_number(&self) -> u64 {
        self.head().block.number()
    }

    /// A read view of the latest state.
    pub fn latest_state(&self) -> StateView<'_> {
        StateView {
            flat: self.state.read(),
            sets: Vec::new(),
        }
    }

    /// A read view of the state after block `number`, if still kept.
    pub fn state_at(&self, number: u64) -> Result<StateView<'_>> {
        let flat = self.state.read();
        let head = self.head_number();
        let sets = flat
            .changes_after(number, head)
            .ok_or(StorageError::HistoryUnavailable {
                requested: number,
                kept: self.options.history_blocks as u64,
            })?;
        Ok(StateView { flat, sets })
    }

    /// The oldest block whose state can be read.
    pub fn oldest_state_block(&self) -> u64 {
        let head = self.head_number();
        self.state.read().oldest_readable(head)
    }

    pub fn block_by_number(&self, number: u64) -> Result<Option<BlockWithReceipts>> {
        {
            let recent = self.recent.read();
            if let (Some(first), Some(last)) = (recent.front(), recent.back()) {
                let first = first.block.number();
                if number > last.block.number() {
                    return Ok(None);
                }
                if number >= first {
                    return Ok(recent.get((number - first) as usize).cloned());
                }
            }
        }
        self.read_block(number)
    }

    pub fn block_number_by_hash(&self, hash: &B256) -> Result<Option<u64>> {
        match self.tables.hashes.get(hash.as_slice())? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_u64(&v, "hashes")?)),
        }
    }

    pub fn block_by_hash(&self, hash: &B256) -> Result<Option<BlockWithReceipts>> {
        match self.block_number_by_hash(hash)? {
            None => Ok(None),
            Some(n) => self.block_by_number(n),
        }
    }

    /// Where a transaction was included: `(block number, index)`.
    pub fn transaction_location(&self, hash: &B256) -> Result<Option<(u64, usize)>> {
        let value = self.tables.txs.get(hash.as_slice())?;
        decode_location(value.as_deref(), "txs", 12)
    }

    /// Where the Bitcoin deposit `txid:vout` was credited: `(block number, index)`.
    pub fn deposit_location(&self, txid: &B256, vout: u32) -> Result<Option<(u64, usize)>> {
        let mut key = [0u8; 36];
        key[..32].copy_from_slice(txid.as_slice());
        key[32..].copy_from_slice(&vout.to_be_bytes());
        let value = self.tables.deposits.get(key)?;
        decode_location(value.as_deref(), "deposits", 20)
    }

    /// Where the Bitcoin payout `txid` was recorded: `(block number, index)`.
    pub fn payout_location(&self, txid: &B256) -> Result<Option<(u64, usize)>> {
        let value = self.tables.payouts.get(txid.as_slice())?;
        decode_location(value.as_deref(), "payouts", 12)
    }

    /// Every block that credits a deposit or records a payout, in order: where the peg's
    /// coins come from and go.
    pub fn peg_blocks(&self) -> Result<std::collections::BTreeSet<u64>> {
        let mut blocks = std::collections::BTreeSet::new();
        for (table, name, len) in [
            (&self.tables.deposits, "deposits", 20),
            (&self.tables.payouts, "payouts", 12),
        ] {
            for item in table.iter() {
                let (_, value) = item.into_inner()?;
                if let Some((number, _)) = decode_location(Some(&value), name, len)? {
                    blocks.insert(number);
                }
            }
        }
        Ok(blocks)
    }

    /// How many deposits the chain has credited and their total in satoshis.
    pub fn credited_deposits(&self) -> Result<(u64, u64)> {
        let mut count = 0u64;
        let mut total = 0u64;
        for item in self.tables.deposits.iter() {
            let (_, value) = item.into_inner()?;
            if value.len() != 20 {
                return Err(corrupt("deposits", "expected 20 bytes"));
            }
            count += 1;
            total = total.saturating_add(decode_u64(&value[12..], "deposits")?);
        }
        Ok((count, total))
    }

    /// The L2's BTC supply (every balance summed) in wei, at the head.
    pub fn total_balance(&self) -> U256 {
        self.state.read().total_balance()
    }

    fn read_block(&self, number: u64) -> Result<Option<BlockWithReceipts>> {
        let key = number.to_be_bytes();
        let Some(raw) = self.tables.blocks.get(key)? else {
            return Ok(None);
        };
        let block = Block::decode(&raw).map_err(|e| corrupt("blocks", &e.to_string()))?;
        let raw = self
            .tables
            .receipts
            .get(key)?
            .ok_or_else(|| corrupt("receipts", "missing"))?;
        let receipts =
            Receipt::decode_block(&raw).map_err(|e| corrupt("receipts", &e.to_string()))?;
        Ok(Some(BlockWithReceipts {
            block: Arc::new(block),
            receipts: Arc::new(receipts),
        }))
    }
}

/// The meta key of a skipped forced transaction's reason.
fn forced_skip_key(hash: &B256) -> Vec<u8> {
    [b"forced_skip/".as_slice(), hash.as_slice()].concat()
}
