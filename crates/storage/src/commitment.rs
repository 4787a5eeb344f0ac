//! The state commitment: Ethereum's secure account trie and one storage trie per
//! contract, kept in memory and re-hashed only along the paths a block touched.

use alloy_primitives::{Address, B256, U256, keccak256, map::HashMap as FastMap};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use cairn_trie::{EMPTY_ROOT, Trie};

use crate::state::{Account, FlatState, StateChanges};

#[derive(RlpEncodable, RlpDecodable)]
struct TrieAccount {
    nonce: u64,
    balance: U256,
    storage_root: B256,
    code_hash: B256,
}

/// The account trie and the storage tries.
#[derive(Debug, Default)]
pub struct Commitment {
    accounts: Trie,
    storages: FastMap<Address, Trie>,
}

fn account_leaf(account: &Account, storage_root: B256) -> Vec<u8> {
    alloy_rlp::encode(TrieAccount {
        nonce: account.nonce,
        balance: account.balance,
        storage_root,
        code_hash: account.code_hash,
    })
}

fn slot_key(slot: &U256) -> B256 {
    keccak256(slot.to_be_bytes::<32>())
}

impl Commitment {
    /// Rebuild the tries from the whole flat state (start-up only).
    pub fn from_state(state: &FlatState) -> Self {
        let mut storages: FastMap<Address, Trie> = FastMap::default();
        for (address, slots) in &state.storage {
            let trie = Trie::from_entries(
                slots
                    .iter()
                    .map(|(slot, value)| (slot_key(slot), alloy_rlp::encode(value))),
            );
            storages.insert(*address, trie);
        }
        let accounts = Trie::from_entries(state.accounts.iter().map(|(address, account)| {
            let root = storages
                .get_mut(address)
                .map(Trie::root)
                .unwrap_or(EMPTY_ROOT);
            (keccak256(address), account_leaf(account, root))
        }));
        Self { accounts, storages }
    }

    /// Fold a block's changes into the tries and return the new state root.
    /// Cost grows with the number of keys changed, not with the state size.
    pub fn apply(&mut self, changes: &StateChanges) -> B256 {
        for (address, info) in &changes.accounts {
            if info.is_none() {
                self.storages.remove(address);
            }
        }
        for (address, slot, value) in &changes.storage {
            let trie = self.storages.entry(*address).or_default();
            let key = slot_key(slot);
            if value.is_zero() {
                trie.remove(&key);
            } else {
                trie.insert(key, alloy_rlp::encode(value));
            }
        }
        for (address, info) in &changes.accounts {
            let key = keccak256(address);
            match info {
                Some(account) => {
                    let root = match self.storages.get_mut(address) {
                        Some(trie) if trie.is_empty() => {
                            self.storages.remove(address);
                            EMPTY_ROOT
                        }
                        Some(trie) => trie.root(),
                        None => EMPTY_ROOT,
                    };
                    self.accounts.insert(key, account_leaf(account, root));
                }
                None => self.accounts.remove(&key),
            }
        }
        self.accounts.root()
    }

    /// EIP-1186 proofs of `address` and its `slots` against [`Commitment::root`]: what the
    /// trie itself holds, so the answer is consistent with the root it proves to.
    pub fn proof(&mut self, address: &Address, slots: &[U256]) -> AccountProof {
        let root = self.accounts.root();
        let account = self.accounts.proof(&keccak256(address));
        let leaf = account
            .value
            .as_deref()
            .and_then(|mut rlp| alloy_rlp::Decodable::decode(&mut rlp).ok())
            .map(|a: TrieAccount| ProvenAccount {
                nonce: a.nonce,
                balance: a.balance,
                storage_root: a.storage_root,
                code_hash: a.code_hash,
            });
        let storage = slots
            .iter()
            .map(|slot| match self.storages.get_mut(address) {
                Some(trie) => {
                    let proof = trie.proof(&slot_key(slot));
                    let value = proof
                        .value
                        .as_deref()
                        .and_then(|mut rlp| alloy_rlp::Decodable::decode(&mut rlp).ok())
                        .unwrap_or_default();
                    (*slot, value, proof.nodes)
                }
                None => (*slot, U256::ZERO, Vec::new()),
            })
            .collect();
        AccountProof {
            root,
            account: leaf,
            nodes: account.nodes,
            storage,
        }
    }

    /// Root without changes.
    pub fn root(&mut self) -> B256 {
        self.accounts.root()
    }
}

/// An account as the account trie holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenAccount {
    pub nonce: u64,
    pub balance: U256,
    pub storage_root: B256,
    pub code_hash: B256,
}

/// EIP-1186 proofs of one account and some of its storage slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The state root the proofs lead to.
    pub root: B256,
    /// The account, `None` if absent (the proof then shows its absence).
    pub account: Option<ProvenAccount>,
    /// The account trie's nodes on the address's path.
    pub nodes: Vec<Vec<u8>>,
    /// Each slot, its value (zero if unset) and the storage trie's nodes on its path.
    pub storage: Vec<(U256, U256, Vec<Vec<u8>>)>,
}
