//! The incomplete batches an [`Assembler`](super::Assembler) holds, with their byte
//! accounting and the eviction order (unverified before verified, older first).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy_primitives::B256;
use bitcoin::secp256k1::XOnlyPublicKey;

use super::{CHUNK_OVERHEAD, ChunkPosition, TARGET};
use crate::header::SignedBatchHeader;

/// Chunks group by envelope key and batch hash.
pub(super) type GroupKey = (XOnlyPublicKey, B256);

/// A chunk's data and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    pub(super) pos: ChunkPosition,
    pub(super) data: Vec<u8>,
}

/// One incomplete batch under one envelope key.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) first_seen: u32,
    pub(super) count: u16,
    /// Set once chunk 0 arrived and verified.
    pub(super) header: Option<SignedBatchHeader>,
    pub(super) chunks: BTreeMap<u16, Stored>,
    /// Sum of the chunks' data lengths.
    pub(super) data_len: usize,
}

impl Pending {
    pub(super) fn is_complete(&self) -> bool {
        self.header.is_some() && self.chunks.len() == usize::from(self.count)
    }

    fn cost(&self) -> usize {
        self.data_len + self.chunks.len() * CHUNK_OVERHEAD
    }

    fn order_key(&self, key: GroupKey) -> OrderKey {
        (self.header.is_some(), self.first_seen, key)
    }
}

/// Eviction order: `false` (unverified) sorts first, then the oldest.
type OrderKey = (bool, u32, GroupKey);

/// All incomplete groups, their total cost and their eviction order.
#[derive(Debug, Default)]
pub(super) struct PendingSet {
    groups: HashMap<GroupKey, Pending>,
    order: BTreeSet<OrderKey>,
    bytes: usize,
}

impl PendingSet {
    pub(super) fn get(&self, key: &GroupKey) -> Option<&Pending> {
        self.groups.get(key)
    }

    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds a chunk (already checked against the group), creating the group if needed.
    pub(super) fn insert(
        &mut self,
        key: GroupKey,
        l1_height: u32,
        count: u16,
        index: u16,
        stored: Stored,
        verified: Option<SignedBatchHeader>,
    ) -> &Pending {
        let mut group = self.remove(&key).unwrap_or(Pending {
            first_seen: l1_height,
            count,
            header: None,
            chunks: BTreeMap::new(),
            data_len: 0,
        });
        if verified.is_some() {
            group.header = verified;
        }
        group.data_len += stored.data.len();
        group.chunks.insert(index, stored);
        self.put(key, group)
    }

    /// Puts back the chunks of a batch a reorg un-completed.
    pub(super) fn restore(
        &mut self,
        key: GroupKey,
        count: u16,
        header: Option<SignedBatchHeader>,
        chunks: BTreeMap<u16, Stored>,
    ) {
        let Some(first_seen) = chunks.values().map(|s| s.pos.l1_height).min() else {
            return;
        };
        self.remove(&key);
        let data_len = chunks.values().map(|s| s.data.len()).sum();
        self.put(
            key,
            Pending {
                first_seen,
                count,
                header,
                chunks,
                data_len,
            },
        );
    }

    fn put(&mut self, key: GroupKey, group: Pending) -> &Pending {
        self.bytes += group.cost();
        self.order.insert(group.order_key(key));
        self.groups.entry(key).or_insert(group)
    }

    pub(super) fn remove(&mut self, key: &GroupKey) -> Option<Pending> {
        let group = self.groups.remove(key)?;
        self.order.remove(&group.order_key(*key));
        self.bytes -= group.cost();
        Some(group)
    }

    /// Drops every group of `batch`, whatever its key (the batch is complete).
    pub(super) fn remove_batch(&mut self, batch: &B256) {
        let keys: Vec<GroupKey> = self
            .groups
            .keys()
            .filter(|k| k.1 == *batch)
            .copied()
            .collect();
        for key in keys {
            self.remove(&key);
        }
    }

    /// Evicts other groups until `cost` more bytes fit under `max`. False (evicting
    /// nothing) if they cannot fit even then.
    pub(super) fn make_room(&mut self, cost: usize, keep: &GroupKey, max: usize) -> bool {
        let kept = self.groups.get(keep).map_or(0, Pending::cost);
        if kept.saturating_add(cost) > max {
            return false;
        }
        while self.bytes + cost > max {
            let Some(victim) = self.order.iter().map(|o| o.2).find(|k| k != keep) else {
                return false;
            };
            if let Some(group) = self.remove(&victim) {
                tracing::debug!(
                    target: TARGET,
                    batch = %victim.1,
                    verified = group.header.is_some(),
                    bytes = group.cost(),
                    "incomplete batch evicted: buffer full"
                );
            }
        }
        true
    }

    /// Drops groups first seen before `height`.
    pub(super) fn expire(&mut self, height: u32) {
        let old: Vec<GroupKey> = self
            .groups
            .iter()
            .filter(|(_, g)| g.first_seen < height)
            .map(|(k, _)| *k)
            .collect();
        for key in old {
            self.remove(&key);
            tracing::debug!(target: TARGET, batch = %key.1, "incomplete batch expired");
        }
    }

    /// Forgets chunks found above `height`.
    pub(super) fn drop_above(&mut self, height: u32) {
        let touched: Vec<GroupKey> = self
            .groups
            .iter()
            .filter(|(_, g)| g.chunks.values().any(|s| s.pos.l1_height > height))
            .map(|(k, _)| *k)
            .collect();
        for key in touched {
            let Some(group) = self.remove(&key) else {
                continue;
            };
            let kept: BTreeMap<u16, Stored> = group
                .chunks
                .into_iter()
                .filter(|(_, s)| s.pos.l1_height <= height)
                .collect();
            let header = group.header.filter(|_| kept.contains_key(&0));
            self.restore(key, group.count, header, kept);
        }
    }
}
