//! The block source's memory: the hashes of the last few hundred blocks it delivered.

use std::collections::BTreeMap;

use bitcoin::BlockHash;

/// Height → hash of the most recent delivered blocks, at most `capacity` of them.
#[derive(Debug, Clone)]
pub(crate) struct RecentBlocks {
    blocks: BTreeMap<u32, BlockHash>,
    capacity: usize,
}

impl RecentBlocks {
    /// An empty window of `capacity` (at least 1) blocks.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            blocks: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many blocks it keeps at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many blocks it keeps now.
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    /// The highest block.
    pub(crate) fn tip(&self) -> Option<(u32, BlockHash)> {
        self.blocks.last_key_value().map(|(h, b)| (*h, *b))
    }

    /// The lowest block still kept.
    pub(crate) fn lowest(&self) -> Option<(u32, BlockHash)> {
        self.blocks.first_key_value().map(|(h, b)| (*h, *b))
    }

    /// Whether `hash` is the kept block at `height`.
    pub(crate) fn contains(&self, height: u32, hash: &BlockHash) -> bool {
        self.blocks.get(&height) == Some(hash)
    }

    /// The blocks above `height`, highest first.
    pub(crate) fn above(&self, height: u32) -> Vec<(u32, BlockHash)> {
        self.blocks
            .range(height.saturating_add(1)..)
            .rev()
            .map(|(h, b)| (*h, *b))
            .collect()
    }

    /// Forgets the blocks above `height`.
    pub(crate) fn truncate_above(&mut self, height: u32) {
        if let Some(next) = height.checked_add(1) {
            self.blocks.split_off(&next);
        }
    }

    /// Adds the block at `height`, dropping the oldest beyond the capacity.
    pub(crate) fn push(&mut self, height: u32, hash: BlockHash) {
        self.blocks.insert(height, hash);
        while self.blocks.len() > self.capacity {
            self.blocks.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash as _;

    use super::*;

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_byte_array([n; 32])
    }

    #[test]
    fn keeps_the_most_recent_capacity_blocks() {
        let mut window = RecentBlocks::new(3);
        for n in 10..15u8 {
            window.push(u32::from(n), hash(n));
        }
        assert_eq!(window.lowest(), Some((12, hash(12))));
        assert_eq!(window.tip(), Some((14, hash(14))));
        assert!(window.contains(13, &hash(13)));
        assert!(!window.contains(13, &hash(14)));
        assert!(!window.contains(11, &hash(11)));
    }

    #[test]
    fn truncates_above_a_fork_point() {
        let mut window = RecentBlocks::new(10);
        for n in 1..=5u8 {
            window.push(u32::from(n), hash(n));
        }
        assert_eq!(window.above(3), [(5, hash(5)), (4, hash(4))]);
        window.truncate_above(3);
        assert_eq!(window.tip(), Some((3, hash(3))));
        window.truncate_above(u32::MAX);
        assert_eq!(window.tip(), Some((3, hash(3))));
    }
}
