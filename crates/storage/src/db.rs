//! The on-disk layout: one fjall keyspace per table, big-endian numeric keys,
//! versioned values.

use std::path::Path;

use alloy_primitives::{Address, B256, Bytes, U256};
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use crate::state::{Account, ChangeSet, FlatState};
use crate::{Result, StorageError};

const ACCOUNT_V1: u8 = 1;

pub(crate) struct Tables {
    pub db: Database,
    /// "head" → block number; "chain" → chain spec JSON; "local_from" → the first block
    /// only this node has; "history_index" → the address index's version;
    /// "forced_skip/" ‖ tx hash → why derivation skipped that forced transaction.
    pub meta: Keyspace,
    /// block number → encoded block.
    pub blocks: Keyspace,
    /// block hash → block number.
    pub hashes: Keyspace,
    /// block number → encoded receipts.
    pub receipts: Keyspace,
    /// tx hash → block number ‖ index.
    pub txs: Keyspace,
    /// credited Bitcoin deposit (txid ‖ vout) → block number ‖ index.
    pub deposits: Keyspace,
    /// recorded Bitcoin payout (txid) → block number ‖ index.
    pub payouts: Keyspace,
    /// address → versioned account.
    pub accounts: Keyspace,
    /// address ‖ slot → value (zero values are absent).
    pub storage: Keyspace,
    /// code hash → code.
    pub code: Keyspace,
    /// address ‖ block number ‖ index → empty: the transactions an address sent, received
    /// or deployed, for history searches (Otterscan's `ots_search*`).
    pub by_address: Keyspace,
    /// deployed contract → block number ‖ index of the creating transaction.
    pub creations: Keyspace,
    /// sender ‖ nonce → block number ‖ index.
    pub sender_nonces: Keyspace,
    /// block number → what the block overwrote (its reverse change set,
    /// [`encode_change_set`]), for the last `history_blocks` blocks: historical reads and
    /// unwinds survive a restart.
    pub changesets: Keyspace,
}

impl Tables {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::builder(path).open()?;
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        Ok(Self {
            meta: ks("meta")?,
            blocks: ks("blocks")?,
            hashes: ks("hashes")?,
            receipts: ks("receipts")?,
            txs: ks("txs")?,
            deposits: ks("deposits")?,
            payouts: ks("payouts")?,
            accounts: ks("accounts")?,
            storage: ks("storage")?,
            code: ks("code")?,
            by_address: ks("by_address")?,
            creations: ks("creations")?,
            sender_nonces: ks("sender_nonces")?,
            changesets: ks("changesets")?,
            db,
        })
    }

    pub fn head(&self) -> Result<Option<u64>> {
        match self.meta.get("head")? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_u64(&v, "meta")?)),
        }
    }

    /// The reverse change sets of the blocks up to `head`, newest back to the first gap
    /// or `keep` blocks, oldest first.
    pub fn load_change_sets(
        &self,
        head: u64,
        keep: usize,
    ) -> Result<Vec<(u64, std::sync::Arc<ChangeSet>)>> {
        let mut sets = Vec::new();
        let mut number = head;
        while sets.len() < keep {
            let Some(raw) = self.changesets.get(number.to_be_bytes())? else {
                break;
            };
            sets.push((number, std::sync::Arc::new(decode_change_set(&raw)?)));
            if number == 0 {
                break;
            }
            number -= 1;
        }
        sets.reverse();
        Ok(sets)
    }

    /// Load the whole flat state into memory.
    pub fn load_state(&self) -> Result<FlatState> {
        let mut state = FlatState::default();
        for item in self.accounts.iter() {
            let (k, v) = item.into_inner()?;
            let address = Address::try_from(k.as_ref()).map_err(|_| corrupt("accounts", "key"))?;
            state.accounts.insert(address, decode_account(&v)?);
        }
        for item in self.storage.iter() {
            let (k, v) = item.into_inner()?;
            if k.len() != 52 || v.len() != 32 {
                return Err(corrupt("storage", "entry length"));
            }
            let address = Address::from_slice(&k[..20]);
            let slot = U256::from_be_slice(&k[20..]);
            state
                .storage
                .entry(address)
                .or_default()
                .insert(slot, U256::from_be_slice(&v));
        }
        for item in self.code.iter() {
            let (k, v) = item.into_inner()?;
            let hash = B256::try_from(k.as_ref()).map_err(|_| corrupt("code", "key"))?;
            state.codes.insert(hash, Bytes::copy_from_slice(&v));
        }
        Ok(state)
    }
}

pub(crate) fn corrupt(table: &'static str, reason: &str) -> StorageError {
    StorageError::Corrupt {
        table,
        reason: reason.to_string(),
    }
}

pub(crate) fn decode_u64(bytes: &[u8], table: &'static str) -> Result<u64> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(table, "expected 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

pub(crate) fn encode_account(account: &Account) -> [u8; 73] {
    let mut out = [0u8; 73];
    out[0] = ACCOUNT_V1;
    out[1..9].copy_from_slice(&account.nonce.to_be_bytes());
    out[9..41].copy_from_slice(&account.balance.to_be_bytes::<32>());
    out[41..73].copy_from_slice(account.code_hash.as_slice());
    out
}

pub(crate) fn decode_account(bytes: &[u8]) -> Result<Account> {
    if bytes.len() != 73 || bytes[0] != ACCOUNT_V1 {
        return Err(corrupt("accounts", "unknown account encoding"));
    }
    let nonce = decode_u64(&bytes[1..9], "accounts")?;
    Ok(Account {
        nonce,
        balance: U256::from_be_slice(&bytes[9..41]),
        code_hash: B256::from_slice(&bytes[41..73]),
    })
}

pub(crate) fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

/// A block number and a position in it, as the indexes store them.
pub(crate) fn location_bytes(number: u64, index: usize) -> [u8; 12] {
    let mut location = [0u8; 12];
    location[..8].copy_from_slice(&number.to_be_bytes());
    location[8..].copy_from_slice(&(index as u32).to_be_bytes());
    location
}

/// Decodes an index value of `len` bytes that starts with a location.
pub(crate) fn decode_location(
    value: Option<&[u8]>,
    table: &'static str,
    len: usize,
) -> Result<Option<(u64, usize)>> {
    match value {
        None => Ok(None),
        Some(v) if v.len() == len => {
            let number = decode_u64(&v[..8], table)?;
            let index = u32::from_be_bytes([v[8], v[9], v[10], v[11]]) as usize;
            Ok(Some((number, index)))
        }
        Some(_) => Err(corrupt(table, "unexpected index entry length")),
    }
}

const CHANGE_SET_V1: u8 = 1;

/// A reverse change set on disk: version 1, then accounts (`u32` count; each address,
/// `0` absent before or `1` and the 73-byte account), slots (`u32` count; address, slot,
/// previous value), wiped accounts (`u32` count; address, `u32` count, slot ‖ value).
pub(crate) fn encode_change_set(set: &ChangeSet) -> Vec<u8> {
    let mut out = vec![CHANGE_SET_V1];
    out.extend_from_slice(&(set.accounts.len() as u32).to_be_bytes());
    for (address, previous) in &set.accounts {
        out.extend_from_slice(address.as_slice());
        match previous {
            None => out.push(0),
            Some(account) => {
                out.push(1);
                out.extend_from_slice(&encode_account(account));
            }
        }
    }
    out.extend_from_slice(&(set.storage.len() as u32).to_be_bytes());
    for ((address, slot), value) in &set.storage {
        out.extend_from_slice(address.as_slice());
        out.extend_from_slice(&slot.to_be_bytes::<32>());
        out.extend_from_slice(&value.to_be_bytes::<32>());
    }
    out.extend_from_slice(&(set.wiped.len() as u32).to_be_bytes());
    for (address, slots) in &set.wiped {
        out.extend_from_slice(address.as_slice());
        out.extend_from_slice(&(slots.len() as u32).to_be_bytes());
        for (slot, value) in slots {
            out.extend_from_slice(&slot.to_be_bytes::<32>());
            out.extend_from_slice(&value.to_be_bytes::<32>());
        }
    }
    out
}

/// Reads [`encode_change_set`]'s bytes back; anything else is corruption.
pub(crate) fn decode_change_set(bytes: &[u8]) -> Result<ChangeSet> {
    let bad = || corrupt("changesets", "truncated or unknown change set");
    let mut rest = bytes;
    let mut take = |n: usize| -> Result<&[u8]> {
        if rest.len() < n {
            return Err(bad());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    if take(1)? != [CHANGE_SET_V1] {
        return Err(bad());
    }
    let count = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or_default()) as usize;
    let mut set = ChangeSet::default();
    for _ in 0..count(take(4)?) {
        let address = Address::from_slice(take(20)?);
        let previous = match take(1)?[0] {
            0 => None,
            1 => Some(decode_account(take(73)?)?),
            _ => return Err(bad()),
        };
        set.accounts.insert(address, previous);
    }
    for _ in 0..count(take(4)?) {
        let address = Address::from_slice(take(20)?);
        let slot = U256::from_be_slice(take(32)?);
        let value = U256::from_be_slice(take(32)?);
        set.storage.insert((address, slot), value);
    }
    for _ in 0..count(take(4)?) {
        let address = Address::from_slice(take(20)?);
        let mut slots = std::collections::HashMap::new();
        for _ in 0..count(take(4)?) {
            let slot = U256::from_be_slice(take(32)?);
            let value = U256::from_be_slice(take(32)?);
            slots.insert(slot, value);
        }
        set.wiped.insert(address, slots);
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_codec_round_trips_and_refuses_junk() {
        let account = Account {
            nonce: 7,
            balance: U256::from(99),
            code_hash: B256::repeat_byte(3),
        };
        assert_eq!(
            decode_account(&encode_account(&account)).expect("decodes"),
            account
        );
        assert!(decode_account(&[1, 2, 3]).is_err());
        let mut wrong_version = encode_account(&account);
        wrong_version[0] = 9;
        assert!(decode_account(&wrong_version).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Damaged or arbitrary bytes in the changesets table: an error or a set whose
        /// encoding decodes to it again, never a panic.
        #[test]
        fn change_set_decoder(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            flips in proptest::collection::vec((0usize..300, proptest::prelude::any::<u8>()), 0..4),
        ) {
            for candidate in [bytes.clone(), damaged(flips)] {
                if let Ok(set) = decode_change_set(&candidate) {
                    let again = decode_change_set(&encode_change_set(&set)).expect("re-decodes");
                    proptest::prop_assert_eq!(again.accounts, set.accounts);
                    proptest::prop_assert_eq!(again.storage, set.storage);
                    proptest::prop_assert_eq!(again.wiped, set.wiped);
                }
            }
        }
    }

    /// The sample set's encoding with `flips` applied.
    fn damaged(flips: Vec<(usize, u8)>) -> Vec<u8> {
        let mut bytes = encode_change_set(&sample());
        for (i, b) in flips {
            let i = i % bytes.len();
            bytes[i] ^= b;
        }
        bytes
    }

    fn sample() -> ChangeSet {
        let mut set = ChangeSet::default();
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        set.accounts.insert(a, None);
        set.accounts.insert(
            b,
            Some(Account {
                nonce: 3,
                balance: U256::from(7),
                ..Default::default()
            }),
        );
        set.storage.insert((b, U256::from(1)), U256::from(9));
        set.wiped
            .insert(a, [(U256::from(4), U256::from(5))].into_iter().collect());
        set
    }

    #[test]
    fn change_sets_round_trip_and_refuse_damage() {
        let set = sample();
        let bytes = encode_change_set(&set);
        let back = decode_change_set(&bytes).expect("decodes");
        assert_eq!(back.accounts, set.accounts);
        assert_eq!(back.storage, set.storage);
        assert_eq!(back.wiped, set.wiped);
        for cut in [0, 1, 5, bytes.len() - 1] {
            assert!(decode_change_set(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_change_set(&longer).is_err());
        let mut other_version = bytes;
        other_version[0] = 9;
        assert!(decode_change_set(&other_version).is_err());
    }
}
