//! The mempool, with geth's admission rules and error messages.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::Path;
use std::sync::Arc;

use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, U256};
use cairn_execution::l1fee::l1_gas;
use cairn_execution::{L1FeeRate, fees::next_base_fee, intrinsic_gas};
use cairn_primitives::{ChainSpec, RecoveredTx, decode_raw_transaction};
use cairn_storage::Storage;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::journal::Journal;

/// Mempool limits (geth's names in brackets).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most transactions in the pool [GlobalSlots + GlobalQueue].
    pub max_transactions: usize,
    /// Most transactions one sender may have in the pool.
    pub max_per_sender: usize,
    /// Most future-nonce (queued) transactions per sender [AccountQueue].
    pub max_queued_per_sender: usize,
    /// Minimum fee bump, in percent, to replace a transaction [PriceBump].
    pub price_bump_percent: u128,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_transactions: 200_000,
            max_per_sender: 1_000,
            max_queued_per_sender: 64,
            price_bump_percent: 10,
        }
    }
}

/// Why a transaction was refused, worded as geth words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Decode(#[from] cairn_primitives::TxDecodeError),
    #[error("already known")]
    AlreadyKnown,
    #[error("nonce too low: next nonce {state}, tx nonce {tx}")]
    NonceTooLow { state: u64, tx: u64 },
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    #[error(
        "insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {overshot}"
    )]
    InsufficientFunds {
        balance: U256,
        cost: U256,
        overshot: U256,
    },
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas { gas: u64, needed: u64 },
    #[error("exceeds block gas limit")]
    GasLimit,
    #[error("invalid chain id")]
    InvalidChainId,
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    #[error(
        "max fee per gas less than block base fee: address {sender}, maxFeePerGas: {fee_cap}, baseFee: {base_fee}"
    )]
    FeeCapBelowBaseFee {
        sender: Address,
        fee_cap: u128,
        base_fee: u64,
    },
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    #[error("txpool is full")]
    PoolFull,
    #[error("account limit exceeded")]
    AccountLimit,
    #[error("transaction gas limit too high (cap: {cap}, tx: {gas})")]
    GasLimitAboveCap { cap: u64, gas: u64 },
    #[error("mempool journal write failed: {0}")]
    Journal(String),
}

/// Counts for `txpool_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    pub pending: usize,
    pub queued: usize,
}

struct Inner {
    by_hash: HashMap<B256, Arc<RecoveredTx>>,
    senders: HashMap<Address, BTreeMap<u64, Arc<RecoveredTx>>>,
    journal: Option<Journal>,
    live_bytes: u64,
}

impl Inner {
    fn remove(&mut self, tx: &RecoveredTx) {
        if self.by_hash.remove(&tx.hash).is_some() {
            self.live_bytes -= 4 + tx.encoded.len() as u64;
        }
        if let Some(q) = self.senders.get_mut(&tx.sender) {
            q.remove(&tx.nonce());
            if q.is_empty() {
                self.senders.remove(&tx.sender);
            }
        }
    }
}

/// The mempool.
pub struct Pool {
    config: PoolConfig,
    spec: ChainSpec,
    storage: Arc<Storage>,
    inner: Mutex<Inner>,
    pending_hashes: broadcast::Sender<B256>,
    l1_fee_rate: L1FeeRate,
    /// The most execution gas one transaction may ask for: the blocks' gas limit.
    block_gas_limit: std::sync::atomic::AtomicU64,
}

/// EIP-7825 cap on any transaction's gas.
const TX_GAS_CAP: u64 = 1 << 24;

impl Pool {
    /// A pool over `storage`; with `journal`, accepted transactions are
    /// journaled there and the journal's transactions are re-admitted now.
    pub fn new(
        config: PoolConfig,
        spec: ChainSpec,
        storage: Arc<Storage>,
        journal: Option<&Path>,
    ) -> std::io::Result<Self> {
        let (journal, replay) = match journal {
            Some(path) => {
                let (journal, entries) = Journal::open(path)?;
                (Some(journal), entries)
            }
            None => (None, Vec::new()),
        };
        let (pending_hashes, _) = broadcast::channel(65_536);
        let pool = Self {
            config,
            storage,
            inner: Mutex::new(Inner {
                by_hash: HashMap::new(),
                senders: HashMap::new(),
                journal: None,
                live_bytes: 0,
            }),
            pending_hashes,
            l1_fee_rate: L1FeeRate::default(),
            block_gas_limit: std::sync::atomic::AtomicU64::new(spec.block_gas_limit),
            spec,
        };
        let mut restored = 0usize;
        for raw in &replay {
            if let Ok(tx) = decode_raw_transaction(raw)
                && pool.add(Arc::new(tx)).is_ok()
            {
                restored += 1;
            }
        }
        let mut inner = pool.inner.lock();
        inner.journal = journal;
        let live: Vec<_> = inner
            .by_hash
            .values()
            .map(|tx| tx.encoded.clone())
            .collect();
        if let Some(journal) = inner.journal.as_mut() {
            journal.rewrite(live.iter().map(|b| b.as_ref()))?;
        }
        drop(inner);
        if !replay.is_empty() {
            tracing::info!(target: "cairn::sequencer::pool", journaled = replay.len(), restored, "restored mempool from journal");
        }
        Ok(pool)
    }

    /// The L1 data fee rate charged to new transactions and blocks (set by whoever reads
    /// Bitcoin's fee rate; 0 until then).
    pub fn l1_fee_rate(&self) -> &L1FeeRate {
        &self.l1_fee_rate
    }

    /// Blocks have this gas limit from now on (`cairn dev`'s `anvil_setBlockGasLimit`).
    pub fn set_block_gas_limit(&self, gas_limit: u64) {
        self.block_gas_limit
            .store(gas_limit, std::sync::atomic::Ordering::Relaxed);
    }

    /// Drop one waiting transaction; whether it was waiting.
    pub fn drop_transaction(&self, hash: &B256) -> bool {
        let waiting = self.get(hash).is_some();
        if waiting {
            self.on_block(&[], &[*hash]);
        }
        waiting
    }

    /// Drop every waiting transaction; how many.
    pub fn drop_all(&self) -> usize {
        let hashes: Vec<B256> = self.inner.lock().by_hash.keys().copied().collect();
        self.on_block(&[], &hashes);
        hashes.len()
    }

    /// New pending transaction hashes, for subscriptions and filters.
    pub fn subscribe_hashes(&self) -> broadcast::Receiver<B256> {
        self.pending_hashes.subscribe()
    }

    /// Decode, validate and admit raw transaction bytes.
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256, PoolError> {
        let tx = decode_raw_transaction(raw)?;
        self.add(Arc::new(tx))
    }

    /// Validate and admit a decoded transaction.
    pub fn add(&self, tx: Arc<RecoveredTx>) -> Result<B256, PoolError> {
        self.check_stateless(&tx)?;
        let head = self.storage.head();
        let base_fee = next_base_fee(&head.block.header, self.spec.base_fee_floor);
        if tx.max_fee_per_gas() < base_fee as u128 {
            return Err(PoolError::FeeCapBelowBaseFee {
                sender: tx.sender,
                fee_cap: tx.max_fee_per_gas(),
                base_fee,
            });
        }
        self.check_gas_limit(&tx, base_fee)?;
        let account = self
            .storage
            .latest_state()
            .account(&tx.sender)
            .unwrap_or_default();
        if tx.nonce() < account.nonce {
            return Err(PoolError::NonceTooLow {
                state: account.nonce,
                tx: tx.nonce(),
            });
        }
        let cost =
            U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.envelope.value();
        if account.balance < cost {
            return Err(PoolError::InsufficientFunds {
                balance: account.balance,
                cost,
                overshot: cost - account.balance,
            });
        }

        let mut inner = self.inner.lock();
        if inner.by_hash.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown);
        }
        let queue = inner.senders.get(&tx.sender);
        let replaced = queue.and_then(|q| q.get(&tx.nonce())).cloned();
        if let Some(old) = &replaced {
            let bump = 100 + self.config.price_bump_percent;
            if tx.max_fee_per_gas() * 100 < old.max_fee_per_gas() * bump
                || tx.max_priority_fee_per_gas() * 100 < old.max_priority_fee_per_gas() * bump
            {
                return Err(PoolError::ReplacementUnderpriced);
            }
        } else {
            let len = queue.map_or(0, BTreeMap::len);
            if len >= self.config.max_per_sender {
                return Err(PoolError::AccountLimit);
            }
            // A gap in nonces makes the transaction queued; bound those.
            if let Some(q) = queue {
                let expected = contiguous_end(q, account.nonce);
                if tx.nonce() > expected
                    && q.range(expected..).count() >= self.config.max_queued_per_sender
                {
                    return Err(PoolError::AccountLimit);
                }
            }
            if inner.by_hash.len() >= self.config.max_transactions {
                // Full: make room only by evicting a cheaper transaction, taken
                // from the end of a sender's queue so no nonce gap is left.
                let victim = inner
                    .senders
                    .values()
                    .filter_map(|q| q.values().next_back())
                    .filter(|last| last.sender != tx.sender)
                    // Ties broken by hash: the journal replay at start-up must make the
                    // same choices as the run that wrote it.
                    .min_by_key(|last| (last.max_fee_per_gas(), last.hash))
                    .filter(|last| last.max_fee_per_gas() < tx.max_fee_per_gas())
                    .cloned()
                    .ok_or(PoolError::PoolFull)?;
                inner.remove(&victim);
                tracing::debug!(target: "cairn::sequencer::pool", evicted = %victim.hash, "pool full: evicted the cheapest transaction");
            }
        }
        if let Some(journal) = inner.journal.as_mut() {
            journal
                .append(&tx.encoded)
                .map_err(|e| PoolError::Journal(e.to_string()))?;
        }
        inner.live_bytes += 4 + tx.encoded.len() as u64;
        if let Some(old) = replaced {
            inner.by_hash.remove(&old.hash);
            inner.live_bytes -= 4 + old.encoded.len() as u64;
        }
        inner.by_hash.insert(tx.hash, tx.clone());
        inner
            .senders
            .entry(tx.sender)
            .or_default()
            .insert(tx.nonce(), tx.clone());
        drop(inner);
        let _ = self.pending_hashes.send(tx.hash);
        Ok(tx.hash)
    }

    fn check_stateless(&self, tx: &RecoveredTx) -> Result<(), PoolError> {
        match tx.envelope.chain_id() {
            Some(id) if id != self.spec.chain_id => return Err(PoolError::InvalidChainId),
            None => return Err(PoolError::Unprotected),
            _ => {}
        }
        if let Some(tip) = tx.envelope.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(PoolError::TipAboveFeeCap);
        }
        let (intrinsic, floor) = intrinsic_gas(tx);
        let needed = intrinsic.max(floor);
        if tx.gas_limit() < needed {
            return Err(PoolError::IntrinsicGas {
                gas: tx.gas_limit(),
                needed,
            });
        }
        Ok(())
    }

    /// The gas limit must also cover the L1 data fee at the current rate (geth's intrinsic
    /// gas error, with the L1 gas counted in); the block and per-transaction caps apply to
    /// what is left, the execution gas (L1 gas is not block space).
    fn check_gas_limit(&self, tx: &RecoveredTx, base_fee: u64) -> Result<(), PoolError> {
        let l1_gas = l1_gas(
            tx.encoded.len(),
            self.l1_fee_rate.get().to_sat_per_kwu(),
            base_fee,
        );
        let (intrinsic, floor) = intrinsic_gas(tx);
        let needed = intrinsic.max(floor).saturating_add(l1_gas);
        if tx.gas_limit() < needed {
            return Err(PoolError::IntrinsicGas {
                gas: tx.gas_limit(),
                needed,
            });
        }
        let execution = tx.gas_limit() - l1_gas;
        if execution
            > self
                .block_gas_limit
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(PoolError::GasLimit);
        }
        if execution > TX_GAS_CAP {
            return Err(PoolError::GasLimitAboveCap {
                cap: TX_GAS_CAP,
                gas: execution,
            });
        }
        Ok(())
    }

    pub fn get(&self, hash: &B256) -> Option<Arc<RecoveredTx>> {
        self.inner.lock().by_hash.get(hash).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nonce a sender's next transaction should use, counting its
    /// transactions already waiting in the pool (`eth_getTransactionCount` at
    /// `pending`).
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        match self.inner.lock().senders.get(sender) {
            Some(q) => contiguous_end(q, state_nonce),
            None => state_nonce,
        }
    }

    /// Pending (executable) and queued (future-nonce) transactions by sender.
    #[allow(clippy::type_complexity)]
    pub fn content(
        &self,
    ) -> (
        Vec<(Address, Vec<Arc<RecoveredTx>>)>,
        Vec<(Address, Vec<Arc<RecoveredTx>>)>,
    ) {
        let state = self.storage.latest_state();
        let inner = self.inner.lock();
        let mut pending = Vec::new();
        let mut queued = Vec::new();
        for (sender, q) in &inner.senders {
            let nonce = state.account(sender).map(|a| a.nonce).unwrap_or_default();
            let end = contiguous_end(q, nonce);
            let p: Vec<_> = q.range(..end).map(|(_, tx)| tx.clone()).collect();
            let f: Vec<_> = q.range(end..).map(|(_, tx)| tx.clone()).collect();
            if !p.is_empty() {
                pending.push((*sender, p));
            }
            if !f.is_empty() {
                queued.push((*sender, f));
            }
        }
        (pending, queued)
    }

    pub fn status(&self) -> PoolStatus {
        let (pending, queued) = self.content();
        PoolStatus {
            pending: pending.iter().map(|(_, v)| v.len()).sum(),
            queued: queued.iter().map(|(_, v)| v.len()).sum(),
        }
    }

    /// Executable transactions, best first: per sender in nonce order, across
    /// senders by the tip they pay at `base_fee` (geth's price-and-nonce order).
    pub fn best(&self, base_fee: u64, max_count: usize) -> Vec<Arc<RecoveredTx>> {
        let state = self.storage.latest_state();
        let inner = self.inner.lock();
        let mut runs: Vec<Vec<Arc<RecoveredTx>>> = Vec::new();
        for (sender, q) in &inner.senders {
            let nonce = state.account(sender).map(|a| a.nonce).unwrap_or_default();
            let run: Vec<_> = q
                .range(nonce..)
                .map_while({
                    let mut next = nonce;
                    move |(n, tx)| {
                        (*n == next).then(|| {
                            next += 1;
                            tx.clone()
                        })
                    }
                })
                .collect();
            if !run.is_empty() {
                runs.push(run);
            }
        }
        drop(inner);
        drop(state);
        // Heap of (tip, earliest arrival proxy: lower hash tiebreak, run index, position).
        let mut heap = BinaryHeap::new();
        for (i, run) in runs.iter().enumerate() {
            if let Some(tip) = run[0].effective_tip(base_fee) {
                heap.push((tip, std::cmp::Reverse(run[0].sender), i, 0usize));
            }
        }
        let mut out = Vec::new();
        while let Some((_, _, i, pos)) = heap.pop() {
            out.push(runs[i][pos].clone());
            if out.len() >= max_count {
                break;
            }
            if let Some(next) = runs[i].get(pos + 1)
                && let Some(tip) = next.effective_tip(base_fee)
            {
                heap.push((tip, std::cmp::Reverse(next.sender), i, pos + 1));
            }
        }
        out
    }

    /// Drop what a new block made stale: included transactions and any with a
    /// nonce below its sender's new nonce. Then compact the journal if needed.
    pub fn on_block(&self, included: &[Arc<RecoveredTx>], invalid: &[B256]) {
        let state = self.storage.latest_state();
        let mut inner = self.inner.lock();
        let mut touched: Vec<Address> = included.iter().map(|tx| tx.sender).collect();
        for hash in invalid {
            if let Some(tx) = inner.by_hash.remove(hash) {
                inner.live_bytes -= 4 + tx.encoded.len() as u64;
                if let Some(q) = inner.senders.get_mut(&tx.sender) {
                    q.remove(&tx.nonce());
                }
                touched.push(tx.sender);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for sender in touched {
            let nonce = state.account(&sender).map(|a| a.nonce).unwrap_or_default();
            let Some(q) = inner.senders.get_mut(&sender) else {
                continue;
            };
            let stale: Vec<u64> = q.range(..nonce).map(|(n, _)| *n).collect();
            let mut removed = Vec::new();
            for n in stale {
                if let Some(tx) = q.remove(&n) {
                    removed.push(tx);
                }
            }
            if q.is_empty() {
                inner.senders.remove(&sender);
            }
            for tx in removed {
                inner.by_hash.remove(&tx.hash);
                inner.live_bytes -= 4 + tx.encoded.len() as u64;
            }
        }
        drop(state);
        let live_bytes = inner.live_bytes;
        let needs_compaction = inner
            .journal
            .as_ref()
            .is_some_and(|j| j.bytes > 2 * live_bytes + (4 << 20));
        if needs_compaction {
            let live: Vec<_> = inner
                .by_hash
                .values()
                .map(|tx| tx.encoded.clone())
                .collect();
            if let Some(journal) = inner.journal.as_mut()
                && let Err(e) = journal.rewrite(live.iter().map(|b| b.as_ref()))
            {
                tracing::error!(target: "cairn::sequencer::pool", error = %e, "journal compaction failed");
            }
        }
    }
}

/// First nonce at or after `from` that the sender's queue does not hold.
fn contiguous_end(q: &BTreeMap<u64, Arc<RecoveredTx>>, from: u64) -> u64 {
    let mut next = from;
    for (n, _) in q.range(from..) {
        if *n != next {
            break;
        }
        next += 1;
    }
    next
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_network::TxSignerSync;
    use alloy_primitives::{Bytes, TxKind};
    use alloy_signer_local::PrivateKeySigner;
    use cairn_primitives::{GenesisAccount, units::btc_to_wei};
    use cairn_storage::StorageOptions;

    use super::*;

    const FLOOR: u128 = cairn_primitives::DEFAULT_BASE_FEE_FLOOR as u128;

    fn raw(signer: &PrivateKeySigner, nonce: u64, max_fee: u128) -> Vec<u8> {
        let mut tx = TxEip1559 {
            chain_id: 7,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(0xee)),
            value: U256::from(1),
            input: Bytes::new(),
            access_list: Default::default(),
        };
        let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
    }

    fn setup(dir: &Path, n: usize) -> (Arc<Storage>, ChainSpec, Vec<PrivateKeySigner>) {
        let signers: Vec<_> = (0..n).map(|_| PrivateKeySigner::random()).collect();
        let alloc: BTreeMap<_, _> = signers
            .iter()
            .map(|s| {
                (
                    s.address(),
                    GenesisAccount {
                        balance: btc_to_wei(1),
                        code: None,
                    },
                )
            })
            .collect();
        let spec = ChainSpec::dev(7, alloc);
        let storage =
            Storage::open(&dir.join("db"), &spec, StorageOptions::default()).expect("open");
        (Arc::new(storage), spec, signers)
    }

    #[test]
    fn limits_eviction_pending_nonce_and_journal_replay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (storage, spec, s) = setup(dir.path(), 3);
        let config = PoolConfig {
            max_transactions: 3,
            max_queued_per_sender: 1,
            ..Default::default()
        };
        let journal = dir.path().join("pool.journal");
        let pool = Pool::new(
            config.clone(),
            spec.clone(),
            storage.clone(),
            Some(&journal),
        )
        .expect("pool");

        pool.submit_raw(&raw(&s[0], 0, 2 * FLOOR)).expect("pending");
        pool.submit_raw(&raw(&s[0], 5, 2 * FLOOR))
            .expect("one queued");
        assert_eq!(
            pool.submit_raw(&raw(&s[0], 7, 2 * FLOOR)),
            Err(PoolError::AccountLimit)
        );
        assert_eq!(pool.pending_nonce(&s[0].address(), 0), 1);
        assert_eq!(
            pool.status(),
            PoolStatus {
                pending: 1,
                queued: 1
            }
        );

        pool.submit_raw(&raw(&s[1], 0, 2 * FLOOR))
            .expect("fills the pool");
        // Full: a cheaper transaction is refused, a dearer one evicts the cheapest tail.
        assert_eq!(
            pool.submit_raw(&raw(&s[2], 0, FLOOR)),
            Err(PoolError::PoolFull)
        );
        let dear = pool.submit_raw(&raw(&s[2], 0, 5 * FLOOR)).expect("evicts");
        assert_eq!(pool.len(), 3);
        assert!(pool.get(&dear).is_some());

        // A restart restores exactly what was live.
        let live: Vec<B256> = {
            let (p, q) = pool.content();
            p.iter()
                .chain(q.iter())
                .flat_map(|(_, txs)| txs.iter().map(|t| t.hash))
                .collect()
        };
        drop(pool);
        let pool = Pool::new(config, spec, storage, Some(&journal)).expect("reopen");
        assert_eq!(pool.len(), 3);
        for hash in live {
            assert!(pool.get(&hash).is_some(), "{hash} restored");
        }
    }
}
