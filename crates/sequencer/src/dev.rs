//! `cairn dev`'s controls over its own chain beyond the producer's knobs: snapshots by
//! id, the unlocked dev accounts `eth_sendTransaction` signs for, and the impersonated
//! senders. The RPC's `evm_`/`anvil_`/`hardhat_` methods act through [`DevChain`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use alloy_consensus::{SignableTransaction as _, TxEnvelope, TypedTransaction};
use alloy_network::TxSignerSync as _;
use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use cairn_primitives::RecoveredTx;
use parking_lot::Mutex;

use crate::producer::{ChainSnapshot, RevertError};
use crate::{Producer, Result};

/// The producer of a `cairn dev` chain and the dev state around it.
pub struct DevChain {
    producer: Arc<Producer>,
    unlocked: Vec<PrivateKeySigner>,
    impersonated: Mutex<HashSet<Address>>,
    auto_impersonate: AtomicBool,
    snapshots: Mutex<BTreeMap<u64, ChainSnapshot>>,
    next_snapshot: AtomicU64,
}

impl DevChain {
    /// Controls over `producer`'s chain, signing for `unlocked`.
    pub fn new(producer: Arc<Producer>, unlocked: Vec<PrivateKeySigner>) -> Self {
        Self {
            producer,
            unlocked,
            impersonated: Mutex::new(HashSet::new()),
            auto_impersonate: AtomicBool::new(false),
            snapshots: Mutex::new(BTreeMap::new()),
            next_snapshot: AtomicU64::new(0),
        }
    }

    /// The block producer (mining, time and block knobs).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Remember the chain as it is now; the snapshot's id.
    pub fn snapshot(&self) -> Result<u64> {
        let snapshot = self.producer.snapshot()?;
        let id = self.next_snapshot.fetch_add(1, Ordering::SeqCst);
        self.snapshots.lock().insert(id, snapshot);
        Ok(id)
    }

    /// Go back to snapshot `id`; `false` if there is none. Hardhat's rule: a snapshot is
    /// used up by reverting to it, and so are later ones.
    pub fn revert(&self, id: u64) -> std::result::Result<bool, RevertError> {
        let mut snapshots = self.snapshots.lock();
        let Some(snapshot) = snapshots.get(&id).copied() else {
            return Ok(false);
        };
        self.producer.revert_to(&snapshot)?;
        snapshots.retain(|other, _| *other < id);
        Ok(true)
    }

    /// Send transactions as `address` without its key (or stop).
    pub fn impersonate(&self, address: Address, on: bool) {
        let mut impersonated = self.impersonated.lock();
        if on {
            impersonated.insert(address);
        } else {
            impersonated.remove(&address);
        }
    }

    /// Send transactions as any address without its key (or stop).
    pub fn auto_impersonate(&self, on: bool) {
        self.auto_impersonate.store(on, Ordering::SeqCst);
    }

    fn impersonates(&self, address: Address) -> bool {
        self.auto_impersonate.load(Ordering::SeqCst) || self.impersonated.lock().contains(&address)
    }

    /// The accounts `eth_sendTransaction` signs for.
    pub fn accounts(&self) -> Vec<Address> {
        self.unlocked.iter().map(|s| s.address()).collect()
    }

    /// Whether `eth_sendTransaction` can send as `from` (a dev key, or impersonated).
    pub fn can_send_as(&self, from: Address) -> bool {
        self.unlocked.iter().any(|s| s.address() == from) || self.impersonates(from)
    }

    /// `tx` signed as `from`: with its dev key, or impersonated (with `impersonate`,
    /// impersonated whoever `from` is); `None` if there is no key for `from` and it is not
    /// impersonated. An impersonated sender makes the chain local from the next block.
    pub fn sign(
        &self,
        from: Address,
        mut tx: TypedTransaction,
        impersonate: bool,
    ) -> std::result::Result<Option<RecoveredTx>, String> {
        let key = self
            .unlocked
            .iter()
            .find(|s| s.address() == from)
            .filter(|_| !impersonate);
        if let Some(signer) = key {
            let signature = signer
                .sign_transaction_sync(&mut tx)
                .map_err(|e| format!("cannot sign: {e}"))?;
            let envelope: TxEnvelope = tx.into_signed(signature).into();
            return Ok(Some(RecoveredTx::from_signed(envelope, from)));
        }
        if !(impersonate || self.impersonates(from)) {
            return Ok(None);
        }
        // No follower could check this sender: the chain is local from here on.
        self.producer.go_local().map_err(|e| e.to_string())?;
        Ok(Some(RecoveredTx::impersonated(tx, from)))
    }
}
