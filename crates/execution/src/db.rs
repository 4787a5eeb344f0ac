//! [`StateDb`]: the one seam between revm and storage. It reads a storage view
//! through an overlay holding what earlier transactions of the same block (or an
//! `eth_call`'s state overrides) changed, and turns revm's output into
//! [`StateChanges`].

use std::cell::RefCell;

use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{HashMap as FastMap, HashSet as FastSet},
};
use cairn_storage::{Account, StateChanges, StateView, Storage};
use revm::bytecode::Bytecode;
use revm::database_interface::DatabaseRef;
use revm::state::{AccountInfo, EvmState};

use crate::ExecutionError;

#[derive(Debug, Default)]
struct Overlay {
    /// Final value of every account changed so far (`None`: deleted).
    accounts: FastMap<Address, Option<Account>>,
    /// Order in which accounts were first changed (deterministic output).
    order: Vec<Address>,
    storage: FastMap<(Address, U256), U256>,
    /// Accounts whose earlier storage no longer counts (deleted or replaced).
    wiped: FastSet<Address>,
    codes: FastMap<B256, Bytes>,
}

impl Overlay {
    fn set_account(&mut self, address: Address, account: Option<Account>) {
        if self.accounts.insert(address, account).is_none() {
            self.order.push(address);
        }
    }
}

/// The state revm executes against.
pub struct StateDb<'a> {
    view: StateView<'a>,
    storage: &'a Storage,
    overlay: RefCell<Overlay>,
    code_cache: RefCell<FastMap<B256, Bytecode>>,
}

impl<'a> StateDb<'a> {
    pub fn new(view: StateView<'a>, storage: &'a Storage) -> Self {
        Self {
            view,
            storage,
            overlay: RefCell::default(),
            code_cache: RefCell::default(),
        }
    }

    /// The account as this database currently sees it.
    pub fn account(&self, address: &Address) -> Option<Account> {
        match self.overlay.borrow().accounts.get(address) {
            Some(changed) => *changed,
            None => self.view.account(address),
        }
    }

    /// Replace an account's fields (state overrides, system transactions).
    pub fn set_account(&self, address: Address, account: Account) {
        self.overlay
            .borrow_mut()
            .set_account(address, Some(account));
    }

    /// This block's change to an account so far: `None` if unchanged, `Some(None)` if
    /// deleted. For undoing a tentative change with [`StateDb::restore_change`].
    pub fn change_of(&self, address: &Address) -> Option<Option<Account>> {
        self.overlay.borrow().accounts.get(address).copied()
    }

    /// Puts an account's change back to what [`StateDb::change_of`] returned.
    pub fn restore_change(&self, address: Address, change: Option<Option<Account>>) {
        let mut overlay = self.overlay.borrow_mut();
        match change {
            Some(account) => overlay.set_account(address, account),
            None => {
                if overlay.accounts.remove(&address).is_some() {
                    overlay.order.retain(|a| *a != address);
                }
            }
        }
    }

    /// Replace an account's code (state overrides).
    pub fn set_code(&self, address: Address, code: Bytes) {
        let hash = keccak256(&code);
        let mut account = self.account(&address).unwrap_or_default();
        account.code_hash = hash;
        let mut overlay = self.overlay.borrow_mut();
        overlay.codes.insert(hash, code);
        overlay.set_account(address, Some(account));
    }

    /// Set one storage slot (state overrides).
    pub fn set_storage(&self, address: Address, slot: U256, value: U256) {
        self.overlay
            .borrow_mut()
            .storage
            .insert((address, slot), value);
    }

    /// Forget all stored slots of an account (a full `state` override).
    pub fn clear_storage(&self, address: Address) {
        let mut overlay = self.overlay.borrow_mut();
        overlay.wiped.insert(address);
        overlay.storage.retain(|(a, _), _| *a != address);
    }

    /// Fold one transaction's output into the overlay.
    pub fn commit(&self, state: EvmState) {
        let mut overlay = self.overlay.borrow_mut();
        for (address, account) in state {
            if !account.is_touched() {
                continue;
            }
            // EIP-161: touched accounts left empty are removed.
            if account.is_selfdestructed() || account.is_empty() {
                overlay.set_account(address, None);
                overlay.wiped.insert(address);
                overlay.storage.retain(|(a, _), _| *a != address);
                continue;
            }
            if account.is_created() {
                overlay.wiped.insert(address);
                overlay.storage.retain(|(a, _), _| *a != address);
            }
            let info = &account.info;
            if let Some(code) = &info.code
                && info.code_hash != revm::primitives::KECCAK_EMPTY
                && !overlay.codes.contains_key(&info.code_hash)
                && self.view.code(&info.code_hash).is_none()
            {
                overlay.codes.insert(info.code_hash, code.original_bytes());
            }
            overlay.set_account(
                address,
                Some(Account {
                    nonce: info.nonce,
                    balance: info.balance,
                    code_hash: info.code_hash,
                }),
            );
            for (slot, value) in account.changed_storage_slots() {
                overlay
                    .storage
                    .insert((address, *slot), value.present_value);
            }
        }
    }

    /// Everything the block changed, in a deterministic order.
    pub fn into_changes(self) -> StateChanges {
        let overlay = self.overlay.into_inner();
        let mut changes = StateChanges::default();
        for address in &overlay.order {
            let info = overlay.accounts.get(address).copied().flatten();
            if overlay.wiped.contains(address) {
                // Drop whatever was stored before, then write the new account.
                changes.accounts.push((*address, None));
            }
            if info.is_some() || !overlay.wiped.contains(address) {
                changes.accounts.push((*address, info));
            }
        }
        let mut storage: Vec<_> = overlay
            .storage
            .into_iter()
            .filter(|((address, _), value)| {
                !(value.is_zero() && overlay.wiped.contains(address))
                    && overlay.accounts.get(address).is_some_and(Option::is_some)
            })
            .map(|((address, slot), value)| (address, slot, value))
            .collect();
        storage.sort_unstable_by_key(|(address, slot, _)| (*address, *slot));
        changes.storage = storage;
        let mut codes: Vec<_> = overlay.codes.into_iter().collect();
        codes.sort_unstable_by_key(|(hash, _)| *hash);
        changes.codes = codes;
        changes
    }
}

impl DatabaseRef for StateDb<'_> {
    type Error = ExecutionError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account(&address).map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            code: None,
            ..Default::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if let Some(code) = self.code_cache.borrow().get(&code_hash) {
            return Ok(code.clone());
        }
        let raw = match self.overlay.borrow().codes.get(&code_hash) {
            Some(code) => Some(code.clone()),
            None => self.view.code(&code_hash),
        };
        let code = raw.map(Bytecode::new_raw).unwrap_or_default();
        self.code_cache.borrow_mut().insert(code_hash, code.clone());
        Ok(code)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        let overlay = self.overlay.borrow();
        if let Some(value) = overlay.storage.get(&(address, index)) {
            return Ok(*value);
        }
        if overlay.wiped.contains(&address) {
            return Ok(U256::ZERO);
        }
        Ok(self.view.storage(&address, &index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self
            .storage
            .block_by_number(number)?
            .map(|b| b.block.hash)
            .unwrap_or_default())
    }
}
