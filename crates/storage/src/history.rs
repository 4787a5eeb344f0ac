//! The address index: the transactions each address sent, received or deployed, the
//! transaction that deployed each contract, and each sender's nonces. Written in the same
//! batch as its block and removed with it on unwind, so that history searches (Otterscan's
//! `ots_` methods) read an index instead of scanning the chain. Addresses reached only
//! through internal calls are not indexed.

use alloy_consensus::Transaction as _;
use alloy_primitives::Address;
use cairn_primitives::{Block, Receipt};

use crate::Result;
use crate::db::{Tables, corrupt, decode_location, decode_u64, location_bytes};

/// The index layout's version (meta "history_index"); a data dir without it is indexed at
/// open.
pub(crate) const HISTORY_INDEX_VERSION: u64 = 1;

/// Which way a history search runs from its starting block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards genesis, newest first.
    Older,
    /// Towards the head, oldest first.
    Newer,
}

fn address_key(address: &Address, number: u64, index: usize) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..20].copy_from_slice(address.as_slice());
    key[20..28].copy_from_slice(&number.to_be_bytes());
    key[28..].copy_from_slice(&(index as u32).to_be_bytes());
    key
}

fn nonce_key(sender: &Address, nonce: u64) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..20].copy_from_slice(sender.as_slice());
    key[20..].copy_from_slice(&nonce.to_be_bytes());
    key
}

/// The addresses transaction `index` of a block touches at top level: its sender, its
/// recipient, and the contract it deployed.
fn touched(block: &Block, receipts: &[Receipt], index: usize) -> Vec<Address> {
    let tx = &block.transactions[index];
    let mut addresses = vec![tx.sender];
    if let Some(to) = tx.envelope.to() {
        addresses.push(to);
    }
    if let Some(created) = receipts.get(index).and_then(Receipt::contract_address) {
        addresses.push(created);
    }
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

/// Adds (or with `remove`, takes away) a block's index entries in `batch`.
pub(crate) fn index_block(
    t: &Tables,
    batch: &mut fjall::OwnedWriteBatch,
    block: &Block,
    receipts: &[Receipt],
    remove: bool,
) {
    let number = block.number();
    for (index, tx) in block.transactions.iter().enumerate() {
        let location = location_bytes(number, index);
        for address in touched(block, receipts, index) {
            let key = address_key(&address, number, index);
            if remove {
                batch.remove(&t.by_address, key);
            } else {
                batch.insert(&t.by_address, key, []);
            }
        }
        if let Some(created) = receipts.get(index).and_then(Receipt::contract_address) {
            if remove {
                batch.remove(&t.creations, created.as_slice());
            } else {
                batch.insert(&t.creations, created.as_slice(), location);
            }
        }
        let key = nonce_key(&tx.sender, tx.nonce());
        if remove {
            batch.remove(&t.sender_nonces, key);
        } else {
            batch.insert(&t.sender_nonces, key, location);
        }
    }
}

fn location_of(key: &[u8]) -> Result<(u64, usize)> {
    if key.len() != 32 {
        return Err(corrupt("by_address", "key length"));
    }
    let number = decode_u64(&key[20..28], "by_address")?;
    let index = u32::from_be_bytes([key[28], key[29], key[30], key[31]]) as usize;
    Ok((number, index))
}

/// See `Storage::address_history`.
pub(crate) fn address_history(
    t: &Tables,
    address: &Address,
    from: Option<u64>,
    direction: Direction,
    limit: usize,
) -> Result<Vec<(u64, usize)>> {
    let (low, high) = match (direction, from) {
        (Direction::Older, Some(from)) => {
            (address_key(address, 0, 0), address_key(address, from, 0))
        }
        (Direction::Newer, Some(from)) => (
            address_key(address, from.saturating_add(1), 0),
            address_key(address, u64::MAX, u32::MAX as usize),
        ),
        (_, None) => (
            address_key(address, 0, 0),
            address_key(address, u64::MAX, u32::MAX as usize),
        ),
    };
    let range = t.by_address.range(low..high);
    let entries: Box<dyn Iterator<Item = fjall::Guard>> = match direction {
        Direction::Older => Box::new(range.rev()),
        Direction::Newer => Box::new(range),
    };
    let mut out: Vec<(u64, usize)> = Vec::new();
    for entry in entries {
        let location = location_of(&entry.key()?)?;
        if out.len() >= limit && out.last().is_some_and(|last| last.0 != location.0) {
            break;
        }
        out.push(location);
    }
    Ok(out)
}

/// See `Storage::contract_creation`.
pub(crate) fn contract_creation(t: &Tables, contract: &Address) -> Result<Option<(u64, usize)>> {
    let value = t.creations.get(contract.as_slice())?;
    decode_location(value.as_deref(), "creations", 12)
}

/// See `Storage::sender_nonce_location`.
pub(crate) fn sender_nonce_location(
    t: &Tables,
    sender: &Address,
    nonce: u64,
) -> Result<Option<(u64, usize)>> {
    let value = t.sender_nonces.get(nonce_key(sender, nonce))?;
    decode_location(value.as_deref(), "sender_nonces", 12)
}
