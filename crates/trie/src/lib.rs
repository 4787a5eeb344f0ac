//! Cairn's state commitment: an incremental, in-memory, Ethereum-compatible
//! Merkle Patricia Trie (hex-prefix paths, RLP nodes, keccak256, references
//! shorter than 32 bytes inlined). It backs both the account trie and the
//! per-contract storage tries; callers hand it already-hashed 32-byte keys and
//! already-RLP-encoded values. Every node caches its reference and a dirty
//! flag, so [`Trie::root`] re-hashes only what changed since the previous
//! call: the cost of a block's root is proportional to the keys it touched,
//! not to the size of the state. This crate does no I/O and no persistence:
//! the storage crate persists the flat state and rebuilds the trie with
//! [`Trie::from_entries`] at start-up.

mod encode;
mod node;
mod ops;

use alloy_primitives::{B256, b256};
use node::{Arena, Kind, NodeId, nibble};
use ops::Change;

/// Root of the empty trie: `keccak256(rlp(""))`.
pub const EMPTY_ROOT: B256 =
    b256!("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

/// Below this many changes since the last root, hashing stays on one thread.
const PARALLEL_THRESHOLD: usize = 512;

/// Incremental Merkle Patricia Trie over 32-byte keys.
#[derive(Clone, Default)]
pub struct Trie {
    arena: Arena,
    root: Option<NodeId>,
    len: usize,
    /// Inserts and removes since the last [`Trie::root`] (a work estimate).
    changes: usize,
}

impl Trie {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a trie from `(key, value)` pairs in any order, in
    /// `O(n log n)`. As with successive [`Trie::insert`] calls, the last
    /// value of a repeated key wins and an empty value means "absent".
    pub fn from_entries(entries: impl IntoIterator<Item = (B256, Vec<u8>)>) -> Self {
        let mut entries: Vec<(B256, Vec<u8>)> = entries.into_iter().collect();
        // Stable: among equal keys, the original order is kept.
        entries.sort_by_key(|e| e.0);
        let mut write = 0;
        for read in 0..entries.len() {
            if read + 1 < entries.len() && entries[read + 1].0 == entries[read].0 {
                continue; // A later value for this key follows.
            }
            if entries[read].1.is_empty() {
                continue;
            }
            entries.swap(write, read);
            write += 1;
        }
        entries.truncate(write);
        for (_, value) in &mut entries {
            value.shrink_to_fit();
        }
        // A random 16-ary trie has about n / ln(16) ~= 0.36 n branches.
        let mut arena = Arena::with_capacity(write + write * 2 / 5 + 16);
        let root = arena.build(&mut entries, 0);
        Self {
            arena,
            root,
            len: write,
            changes: write,
        }
    }

    /// Inserts or replaces `key`'s value. An empty value removes the key.
    pub fn insert(&mut self, key: B256, mut value: Vec<u8>) {
        if value.is_empty() {
            return self.remove(&key);
        }
        value.shrink_to_fit();
        let (root, change) = self.arena.insert(self.root, 0, &key, value);
        self.root = Some(root);
        match change {
            Change::Unchanged => {}
            Change::Updated => self.changes += 1,
            Change::Added => {
                self.len += 1;
                self.changes += 1;
            }
        }
    }

    /// Removes `key` if present.
    pub fn remove(&mut self, key: &B256) {
        let Some(root) = self.root else { return };
        if let Some(new_root) = self.arena.remove(root, 0, key) {
            self.root = new_root;
            self.len = self.len.saturating_sub(1);
            self.changes += 1;
        }
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &B256) -> Option<&[u8]> {
        let mut id = self.root?;
        let mut depth = 0;
        loop {
            match self.arena.kind(id) {
                Kind::Leaf { key: k, value } => return (k == key).then_some(value.as_slice()),
                Kind::Extension { path, len, child } => {
                    let end = depth + usize::from(*len);
                    if node::mismatch(key, path, depth, end) != end {
                        return None;
                    }
                    (id, depth) = (*child, end);
                }
                Kind::Branch { children } => {
                    id = children[nibble(key, depth)]?;
                    depth += 1;
                }
                Kind::Vacant => return None,
            }
        }
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &B256) -> bool {
        self.get(key).is_some()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the trie has no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Root hash. Re-hashes only nodes changed since the last call (in
    /// parallel over the root's children when many changed).
    pub fn root(&mut self) -> B256 {
        let Some(root) = self.root else {
            return EMPTY_ROOT;
        };
        let threads = if self.changes >= PARALLEL_THRESHOLD {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(16))
        } else {
            1
        };
        self.changes = 0;
        self.arena.commit(root, threads).root_hash()
    }
}

/// An EIP-1186 Merkle proof of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The value under the key, if present.
    pub value: Option<Vec<u8>>,
    /// The RLP of every node on the key's path that its parent references by hash, root
    /// first (inlined nodes travel inside their parent), ending where the key's path ends
    /// or leaves the trie (which proves its absence).
    pub nodes: Vec<Vec<u8>>,
}

impl Trie {
    /// The proof of `key` against [`Trie::root`] (which it refreshes first).
    pub fn proof(&mut self, key: &B256) -> Proof {
        let mut proof = Proof {
            value: None,
            nodes: Vec::new(),
        };
        let Some(mut id) = self.root else {
            return proof;
        };
        self.root();
        let mut depth = 0;
        let mut by_hash = true;
        loop {
            if by_hash {
                let mut rlp = Vec::new();
                self.arena.encode_clean(id, depth, &mut rlp);
                proof.nodes.push(rlp);
            }
            let next = match self.arena.kind(id) {
                Kind::Leaf { key: k, value } => {
                    if k == key {
                        proof.value = Some(value.clone());
                    }
                    None
                }
                Kind::Extension { path, len, child } => {
                    let end = depth + usize::from(*len);
                    (node::mismatch(key, path, depth, end) == end).then_some((*child, end))
                }
                Kind::Branch { children } => children[nibble(key, depth)].map(|c| (c, depth + 1)),
                Kind::Vacant => None,
            };
            let Some((child, child_depth)) = next else {
                return proof;
            };
            by_hash = self.arena.node(child).cache.rlp_len() == 33;
            (id, depth) = (child, child_depth);
        }
    }
}

impl std::fmt::Debug for Trie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let root = self.root.map(|r| self.arena.node(r).cache);
        f.debug_struct("Trie")
            .field("len", &self.len)
            .field("nodes", &self.arena.live())
            .field("root_ref", &root)
            .finish()
    }
}

impl FromIterator<(B256, Vec<u8>)> for Trie {
    fn from_iter<I: IntoIterator<Item = (B256, Vec<u8>)>>(iter: I) -> Self {
        Self::from_entries(iter)
    }
}

impl Extend<(B256, Vec<u8>)> for Trie {
    fn extend<I: IntoIterator<Item = (B256, Vec<u8>)>>(&mut self, iter: I) {
        for (key, value) in iter {
            self.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests;
