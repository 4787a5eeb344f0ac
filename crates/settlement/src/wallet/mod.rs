//! The batcher's own L1 wallet: the coins that pay for batch commit transactions.
//!
//! [`BatcherWallet`] wraps a BDK [`Wallet`] over two BIP86 descriptors derived from the
//! batcher's seed (`tr(<key>/86'/<coin>'/0'/0/*)` for receiving, `.../1/*` for change).
//! BDK does the bookkeeping (which outputs are ours, which are spent, confirmed or
//! pending, coin selection, BIP125 replacements); this module feeds it Cairn's chain
//! updates, signs, and persists its state after every change.
//!
//! Layout: `keys` (seed, descriptors, signing), `store` (the wallet file), `sync`
//! (blocks, reorganisations, unconfirmed transactions), `spend` (commit transactions and
//! fee bumps).
//!
//! Concurrency: a `BatcherWallet` is one owner's `&mut` state; the file is not locked, so
//! two processes must not open the same directory.

mod error;
mod keys;
mod spend;
mod store;
mod sync;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bdk_wallet::chain::{ChainPosition, Merge};
use bdk_wallet::{ChangeSet, KeychainKind, LoadError, Wallet};
use bitcoin::{Address, Amount, BlockHash, Network, Script, Transaction, Txid};

pub use bdk_wallet::Balance;
pub use error::{Error, Result};
pub use store::FILE_NAME;

use keys::Keys;

const TARGET: &str = "cairn::settlement::wallet";

/// Where the wallet sees one of its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// In a block of the wallet's chain.
    Confirmed {
        /// The block's height.
        height: u32,
        /// The block's hash.
        hash: BlockHash,
    },
    /// Broadcast by the batcher (or put back by a reorganisation) and not in a block of
    /// the wallet's chain.
    Unconfirmed,
}

/// The batcher's L1 wallet. See the module documentation.
pub struct BatcherWallet {
    wallet: Wallet,
    keys: Keys,
    path: PathBuf,
    /// The wallet's state minus what BDK still has staged. Equal to the file's contents
    /// unless `dirty`.
    persisted: ChangeSet,
    /// `persisted` holds changes the file does not have yet (a write failed, or a rewind
    /// rebuilt the wallet).
    dirty: bool,
    /// The last "seen"/"evicted" time given to BDK: times strictly increase, so that a
    /// replacement always outranks what it replaces even within one second.
    last_stamp: u64,
}

impl BatcherWallet {
    /// Opens the wallet in `dir` (creating the directory and a new wallet if there is no
    /// [`FILE_NAME`] in it), with keys derived from `secret` as a BIP32 seed.
    ///
    /// A file written for another seed or network is an [`Error::Mismatch`]; one that
    /// cannot be read an [`Error::Corrupt`].
    pub fn open(dir: &Path, secret: &[u8; 32], network: Network) -> Result<Self> {
        let keys = Keys::from_seed(secret, network)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(FILE_NAME);
        let (wallet, persisted, dirty) = match store::load(&path)? {
            Some(changeset) => {
                let wallet = load(&keys, &path, changeset.clone())?;
                (wallet, changeset, false)
            }
            None => {
                let mut wallet = keys.create_wallet()?;
                let changeset = wallet.take_staged().unwrap_or_default();
                (wallet, changeset, true)
            }
        };
        let last_stamp = latest_stamp(&persisted);
        let mut this = Self {
            wallet,
            keys,
            path,
            persisted,
            dirty,
            last_stamp,
        };
        this.persist()?;
        tracing::info!(
            target: TARGET,
            path = %this.path.display(),
            %network,
            tip = ?this.tip(),
            balance = %this.balance().total(),
            "batcher wallet opened"
        );
        Ok(this)
    }

    /// The network the wallet is for.
    pub fn network(&self) -> Network {
        self.wallet.network()
    }

    /// The wallet file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest block the wallet has applied, or `None` while it has seen nothing above
    /// genesis. A restarted batcher resumes its `cairn_l1::BlockSource` from here (or from
    /// [`BatcherWallet::recent_blocks`]); a new wallet starts at its birthday height.
    pub fn tip(&self) -> Option<(u32, BlockHash)> {
        let tip = self.wallet.latest_checkpoint();
        (tip.height() > 0).then(|| (tip.height(), tip.hash()))
    }

    /// Up to `count` of the wallet's most recent blocks, highest first (without genesis):
    /// what `cairn_l1::BlockSource::after_blocks` needs to report a reorganisation of the
    /// wallet's tip after a restart.
    pub fn recent_blocks(&self, count: usize) -> Vec<(u32, BlockHash)> {
        self.wallet
            .checkpoints()
            .filter(|cp| cp.height() > 0)
            .take(count)
            .map(|cp| (cp.height(), cp.hash()))
            .collect()
    }

    /// Confirmed, immature (coinbase), trusted pending (the wallet's own unconfirmed
    /// change) and untrusted pending (unconfirmed payments to it) amounts.
    pub fn balance(&self) -> Balance {
        self.wallet.balance()
    }

    /// A new receiving address, revealed and persisted before it is returned, so that the
    /// wallet recognises payments to it after a restart.
    pub fn next_address(&mut self) -> Result<Address> {
        let info = self.wallet.reveal_next_address(KeychainKind::External);
        self.persist()?;
        tracing::debug!(target: TARGET, index = info.index, address = %info.address, "address revealed");
        Ok(info.address)
    }

    /// The first revealed receiving address that has not received anything (revealing a
    /// new one if all have): the address to print for funding at every start without
    /// revealing a new one each time.
    pub fn unused_address(&mut self) -> Result<Address> {
        let info = self.wallet.next_unused_address(KeychainKind::External);
        self.persist()?;
        Ok(info.address)
    }

    /// Whether `script` pays one of the wallet's addresses (revealed, or within BDK's
    /// lookahead of 25 past them).
    pub fn is_mine(&self, script: &Script) -> bool {
        self.wallet.is_mine(script.to_owned())
    }

    /// Where the wallet sees `txid`; `None` for a transaction it does not know or that is
    /// no longer part of its view (replaced, abandoned, or a coinbase whose block was
    /// reorganised away).
    pub fn tx_status(&self, txid: Txid) -> Option<TxStatus> {
        let tx = self.wallet.get_tx(txid)?;
        Some(match tx.chain_position {
            ChainPosition::Confirmed { anchor, .. } => TxStatus::Confirmed {
                height: anchor.block_id.height,
                hash: anchor.block_id.hash,
            },
            ChainPosition::Unconfirmed { .. } => TxStatus::Unconfirmed,
        })
    }

    /// The wallet's unconfirmed transactions, parents before children: what a restarted
    /// batcher rebroadcasts.
    pub fn unconfirmed_transactions(&self) -> Vec<Transaction> {
        let mut txs: Vec<_> = self
            .wallet
            .transactions()
            .filter(|tx| !tx.chain_position.is_confirmed())
            .map(|tx| tx.tx_node.tx.as_ref().clone())
            .collect();
        // A child spends an output of its parent, so ordering by "spends an unconfirmed
        // sibling" puts parents first; the list is short (pending commits).
        let mut ordered = Vec::with_capacity(txs.len());
        while !txs.is_empty() {
            let pending: std::collections::HashSet<Txid> =
                txs.iter().map(Transaction::compute_txid).collect();
            let (ready, rest): (Vec<_>, Vec<_>) = txs.into_iter().partition(|tx| {
                !tx.input
                    .iter()
                    .any(|input| pending.contains(&input.previous_output.txid))
            });
            if ready.is_empty() {
                // A cycle cannot happen between valid transactions; keep what is left.
                ordered.extend(rest);
                break;
            }
            ordered.extend(ready);
            txs = rest;
        }
        ordered
    }

    /// The fee `tx` pays, if the wallet knows all its inputs.
    pub fn fee(&self, tx: &Transaction) -> Result<Amount> {
        self.wallet.calculate_fee(tx).map_err(|e| Error::Fee {
            txid: tx.compute_txid(),
            reason: e.to_string(),
        })
    }

    /// Writes BDK's staged changes (and anything not yet written) to the wallet file.
    fn persist(&mut self) -> Result<()> {
        self.absorb_staged();
        if self.dirty {
            store::save(&self.path, &self.persisted)?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Moves BDK's staged changes into `persisted` (to be written by the next persist).
    fn absorb_staged(&mut self) {
        if let Some(staged) = self.wallet.take_staged() {
            self.persisted.merge(staged);
            self.dirty = true;
        }
    }

    /// Replaces the BDK wallet with one loaded from `changeset`, the whole new state (which
    /// must include the old one's staged changes: see [`Self::absorb_staged`]).
    fn reload(&mut self, changeset: ChangeSet) -> Result<()> {
        self.wallet = load(&self.keys, &self.path, changeset.clone())?;
        self.persisted = changeset;
        self.dirty = true;
        Ok(())
    }

    /// A "seen at"/"evicted at" time: now in seconds, but always above the last one.
    fn next_stamp(&mut self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_stamp = now.max(self.last_stamp.saturating_add(1));
        self.last_stamp
    }
}

impl std::fmt::Debug for BatcherWallet {
    /// No keys and no descriptors: the path, network and tip.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatcherWallet")
            .field("path", &self.path)
            .field("network", &self.network())
            .field("tip", &self.tip())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Loads the wallet in `changeset`, sorting BDK's refusals into mismatch and corruption.
fn load(keys: &Keys, path: &Path, changeset: ChangeSet) -> Result<Wallet> {
    match keys.load_wallet(changeset) {
        Ok(Some(wallet)) => Ok(wallet),
        Ok(None) => Err(Error::Corrupt {
            path: path.to_owned(),
            reason: "it holds no wallet".into(),
        }),
        Err(LoadError::Mismatch(mismatch)) => Err(Error::Mismatch {
            path: path.to_owned(),
            reason: mismatch_reason(&mismatch),
        }),
        Err(e) => Err(Error::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// What differs, without printing descriptors.
fn mismatch_reason(mismatch: &bdk_wallet::LoadMismatch) -> String {
    match mismatch {
        bdk_wallet::LoadMismatch::Descriptor { keychain, .. } => {
            format!("its {keychain:?} descriptor is for another key")
        }
        other => other.to_string(),
    }
}

/// The highest seen/evicted time in a changeset.
fn latest_stamp(changeset: &ChangeSet) -> u64 {
    let graph = &changeset.tx_graph;
    graph
        .last_seen
        .values()
        .chain(graph.last_evicted.values())
        .chain(graph.first_seen.values())
        .copied()
        .max()
        .unwrap_or(0)
}
