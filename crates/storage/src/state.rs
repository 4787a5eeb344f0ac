//! The flat state in memory: accounts, storage and code of the latest block,
//! plus reverse change sets for a short window of history.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256, map::HashMap as FastMap};

/// keccak256 of empty code.
pub const KECCAK_EMPTY: B256 = alloy_primitives::KECCAK256_EMPTY;

/// An account's fields, as kept in the flat state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub nonce: u64,
    pub balance: U256,
    pub code_hash: B256,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
        }
    }
}

impl Account {
    pub fn has_code(&self) -> bool {
        self.code_hash != KECCAK_EMPTY
    }
}

/// What one block changed, as execution reports it. Every account whose info or
/// storage changed is in `accounts` with its new info (`None`: deleted, with all
/// its storage).
#[derive(Debug, Clone, Default)]
pub struct StateChanges {
    pub accounts: Vec<(Address, Option<Account>)>,
    pub storage: Vec<(Address, U256, U256)>,
    pub codes: Vec<(B256, Bytes)>,
}

/// The values a block overwrote: reading through these backwards gives the
/// state as of an earlier block.
#[derive(Debug, Default)]
pub struct ChangeSet {
    pub accounts: FastMap<Address, Option<Account>>,
    pub storage: FastMap<(Address, U256), U256>,
    /// Accounts deleted by this block: their storage reads as it was before.
    pub wiped: FastMap<Address, HashMap<U256, U256>>,
}

/// The latest state, fully in memory.
#[derive(Debug, Default)]
pub struct FlatState {
    pub(crate) accounts: FastMap<Address, Account>,
    pub(crate) storage: FastMap<Address, FastMap<U256, U256>>,
    pub(crate) codes: FastMap<B256, Bytes>,
    /// `(block number, what that block overwrote)`, oldest first.
    pub(crate) history: VecDeque<(u64, Arc<ChangeSet>)>,
}

impl FlatState {
    pub fn account(&self, address: &Address) -> Option<Account> {
        self.accounts.get(address).copied()
    }

    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.storage
            .get(address)
            .and_then(|s| s.get(slot))
            .copied()
            .unwrap_or_default()
    }

    pub fn code(&self, hash: &B256) -> Option<Bytes> {
        self.codes.get(hash).cloned()
    }

    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The sum of every account's balance: the L2's BTC supply in wei.
    pub fn total_balance(&self) -> U256 {
        self.accounts
            .values()
            .fold(U256::ZERO, |sum, a| sum.saturating_add(a.balance))
    }

    /// Change sets of the blocks after `block`, oldest first, if all are kept.
    pub(crate) fn changes_after(&self, block: u64, head: u64) -> Option<Vec<Arc<ChangeSet>>> {
        if block >= head {
            return Some(Vec::new());
        }
        let first = self.history.front()?.0;
        if block + 1 < first {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|(n, _)| *n > block)
                .map(|(_, c)| c.clone())
                .collect(),
        )
    }

    /// The oldest block whose state can still be read.
    pub(crate) fn oldest_readable(&self, head: u64) -> u64 {
        self.history
            .front()
            .map(|(n, _)| n.saturating_sub(1))
            .unwrap_or(head)
    }

    /// The changes that take the state back to what it was after block `target`, merged
    /// from the kept change sets of the blocks after it (the earliest overwritten value of
    /// each key wins); `None` if some of those change sets are no longer kept.
    pub(crate) fn revert_changes(&self, target: u64, head: u64) -> Option<StateChanges> {
        let sets = self.changes_after(target, head)?;
        let mut accounts: FastMap<Address, Option<Account>> = FastMap::default();
        let mut storage: FastMap<(Address, U256), U256> = FastMap::default();
        for set in &sets {
            for (address, previous) in &set.accounts {
                accounts.entry(*address).or_insert(*previous);
            }
            // A wipe saw the slots before the block touched them: it comes first.
            for (address, slots) in &set.wiped {
                for (slot, value) in slots {
                    storage.entry((*address, *slot)).or_insert(*value);
                }
            }
            for (key, previous) in &set.storage {
                storage.entry(*key).or_insert(*previous);
            }
        }
        Some(StateChanges {
            accounts: accounts.into_iter().collect(),
            storage: storage
                .into_iter()
                .map(|((address, slot), value)| (address, slot, value))
                .collect(),
            codes: Vec::new(),
        })
    }

    /// Drops the change sets of blocks after `target` (after an unwind).
    pub(crate) fn forget_after(&mut self, target: u64) {
        self.history.retain(|(n, _)| *n <= target);
    }

    /// Apply a block's changes and remember what they overwrote.
    pub(crate) fn apply(&mut self, number: u64, changes: &StateChanges, keep: usize) {
        let set = Arc::new(self.reverse_of(changes));
        self.apply_with(number, changes, set, keep);
    }

    /// What applying `changes` would overwrite (the block's reverse change set), without
    /// applying them: accounts as they were, slots as they were (zero for those of an
    /// account the same changes delete first), and the storage of deleted accounts.
    pub(crate) fn reverse_of(&self, changes: &StateChanges) -> ChangeSet {
        let mut set = ChangeSet::default();
        let mut deleted = std::collections::HashSet::new();
        for (address, info) in &changes.accounts {
            set.accounts
                .entry(*address)
                .or_insert_with(|| self.accounts.get(address).copied());
            if info.is_none()
                && deleted.insert(*address)
                && let Some(slots) = self.storage.get(address)
            {
                set.wiped.insert(
                    *address,
                    slots.iter().map(|(slot, value)| (*slot, *value)).collect(),
                );
            }
        }
        for (address, slot, _) in &changes.storage {
            set.storage.entry((*address, *slot)).or_insert_with(|| {
                if deleted.contains(address) {
                    U256::ZERO
                } else {
                    self.storage
                        .get(address)
                        .and_then(|slots| slots.get(slot))
                        .copied()
                        .unwrap_or_default()
                }
            });
        }
        set
    }

    /// Applies `changes`, keeping `set` (their [`FlatState::reverse_of`]) as block
    /// `number`'s history while the window of `keep` blocks holds it.
    pub(crate) fn apply_with(
        &mut self,
        number: u64,
        changes: &StateChanges,
        set: Arc<ChangeSet>,
        keep: usize,
    ) {
        for (hash, code) in &changes.codes {
            self.codes.entry(*hash).or_insert_with(|| code.clone());
        }
        for (address, info) in &changes.accounts {
            match info {
                Some(info) => {
                    self.accounts.insert(*address, *info);
                }
                None => {
                    self.accounts.remove(address);
                    self.storage.remove(address);
                }
            }
        }
        for (address, slot, value) in &changes.storage {
            let slots = self.storage.entry(*address).or_default();
            if value.is_zero() {
                slots.remove(slot);
            } else {
                slots.insert(*slot, *value);
            }
            if slots.is_empty() {
                self.storage.remove(address);
            }
        }
        if keep > 0 {
            self.history.push_back((number, set));
            while self.history.len() > keep {
                self.history.pop_front();
            }
        }
    }
}

/// Read an account as of an older block through reverse change sets.
pub(crate) fn account_at(
    flat: &FlatState,
    sets: &[Arc<ChangeSet>],
    address: &Address,
) -> Option<Account> {
    for set in sets {
        if let Some(previous) = set.accounts.get(address) {
            return *previous;
        }
    }
    flat.account(address)
}

/// Read a storage slot as of an older block through reverse change sets.
pub(crate) fn storage_at(
    flat: &FlatState,
    sets: &[Arc<ChangeSet>],
    address: &Address,
    slot: &U256,
) -> U256 {
    for set in sets {
        if let Some(wiped) = set.wiped.get(address) {
            return wiped.get(slot).copied().unwrap_or_default();
        }
        if let Some(previous) = set.storage.get(&(*address, *slot)) {
            return *previous;
        }
    }
    flat.storage(address, slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_reads_see_old_values() {
        let a = Address::repeat_byte(1);
        let mut flat = FlatState::default();
        let acct = |n| Account {
            nonce: n,
            ..Default::default()
        };
        let block = |n: u64, v: u64| StateChanges {
            accounts: vec![(a, Some(acct(n)))],
            storage: vec![(a, U256::from(1), U256::from(v))],
            codes: vec![],
        };
        flat.apply(1, &block(1, 10), 2);
        flat.apply(2, &block(2, 20), 2);
        flat.apply(3, &block(3, 0), 2);
        assert_eq!(flat.account(&a), Some(acct(3)));
        assert_eq!(flat.storage(&a, &U256::from(1)), U256::ZERO);
        let sets = flat.changes_after(1, 3).expect("kept");
        assert_eq!(account_at(&flat, &sets, &a), Some(acct(1)));
        assert_eq!(storage_at(&flat, &sets, &a, &U256::from(1)), U256::from(10));
        let sets = flat.changes_after(2, 3).expect("kept");
        assert_eq!(storage_at(&flat, &sets, &a, &U256::from(1)), U256::from(20));
        assert!(
            flat.changes_after(0, 3).is_none(),
            "block 1's changes were dropped"
        );
        assert_eq!(flat.oldest_readable(3), 1);
    }
}
