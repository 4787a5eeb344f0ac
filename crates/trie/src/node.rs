//! Trie nodes, their cached references, and the arena that owns them.

use alloy_primitives::{B256, keccak256};
use std::num::NonZeroU32;

/// Number of nibbles in a key.
pub(crate) const KEY_NIBBLES: usize = 64;

/// Index of a node in the [`Arena`] (stored as `index + 1` so that
/// `Option<NodeId>` is 4 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeId(NonZeroU32);

impl NodeId {
    #[inline]
    pub(crate) fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

/// How a node is referenced from its parent: the keccak256 of its RLP
/// encoding (`len == 32`), or the encoding itself when it is shorter than 32
/// bytes (`len < 32`). `len == 0` means "not computed yet" (dirty): no valid
/// node encoding is empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeRef {
    len: u8,
    bytes: [u8; 32],
}

impl NodeRef {
    pub(crate) const DIRTY: Self = Self {
        len: 0,
        bytes: [0; 32],
    };

    #[inline]
    pub(crate) fn is_dirty(&self) -> bool {
        self.len == 0
    }

    /// Reference for a node whose full RLP encoding is `rlp`.
    pub(crate) fn from_rlp(rlp: &[u8]) -> Self {
        let mut bytes = [0u8; 32];
        if rlp.len() < 32 {
            bytes[..rlp.len()].copy_from_slice(rlp);
            // `rlp.len() < 32`, the cast is lossless.
            Self {
                len: rlp.len() as u8,
                bytes,
            }
        } else {
            Self {
                len: 32,
                bytes: keccak256(rlp).0,
            }
        }
    }

    /// Length of this reference when embedded in the parent's RLP.
    #[inline]
    pub(crate) fn rlp_len(&self) -> usize {
        if self.len == 32 {
            33
        } else {
            self.len as usize
        }
    }

    /// Appends this reference as embedded in the parent's RLP.
    #[inline]
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        if self.len == 32 {
            out.push(0xa0);
            out.extend_from_slice(&self.bytes);
        } else {
            out.extend_from_slice(&self.bytes[..self.len as usize]);
        }
    }

    /// Hash of the node when it is the root: always keccak256 of the encoding.
    pub(crate) fn root_hash(&self) -> B256 {
        if self.len == 32 {
            B256::from(self.bytes)
        } else {
            keccak256(&self.bytes[..self.len as usize])
        }
    }
}

impl std::fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.len {
            0 => f.write_str("Dirty"),
            32 => write!(f, "Hash({})", B256::from(self.bytes)),
            n => write!(
                f,
                "Inline(0x{})",
                alloy_primitives::hex::encode(&self.bytes[..n as usize])
            ),
        }
    }
}

/// Node payload. Depth is never stored: it is known while walking from the
/// root, and paths are read from a full 32-byte key ("carrier") that agrees
/// with the real path on every nibble up to the end of the node's path.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A value; its path is `key[depth..64]`.
    Leaf { key: B256, value: Vec<u8> },
    /// Shared path `path[depth..depth + len]` (`1 <= len <= 63`) over a branch.
    Extension { path: B256, len: u8, child: NodeId },
    /// Sixteen children, at least two present (fixed-length keys never put a
    /// value on a branch).
    Branch { children: [Option<NodeId>; 16] },
    /// A slot on the free list.
    Vacant,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) cache: NodeRef,
}

/// Owner of all nodes: a vector plus a free list of reusable slots.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
}

impl Arena {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            nodes: Vec::with_capacity(n),
            free: Vec::new(),
        }
    }

    /// Allocates a dirty node.
    pub(crate) fn alloc(&mut self, kind: Kind) -> NodeId {
        if let Some(id) = self.free.pop() {
            self.nodes[id.index()] = Node {
                kind,
                cache: NodeRef::DIRTY,
            };
            return id;
        }
        // A `u32` index space holds ~4 billion nodes (hundreds of GB of
        // memory); running out is a resource exhaustion like any failed
        // allocation, not a reachable state.
        let id = u32::try_from(self.nodes.len() + 1)
            .ok()
            .and_then(NonZeroU32::new)
            .map(NodeId)
            .expect("trie arena exceeds u32::MAX nodes");
        self.nodes.push(Node {
            kind,
            cache: NodeRef::DIRTY,
        });
        id
    }

    /// Returns a slot to the free list, dropping its contents.
    pub(crate) fn free(&mut self, id: NodeId) {
        self.nodes[id.index()] = Node {
            kind: Kind::Vacant,
            cache: NodeRef::DIRTY,
        };
        self.free.push(id);
    }

    #[inline]
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    #[inline]
    pub(crate) fn kind(&self, id: NodeId) -> &Kind {
        &self.nodes[id.index()].kind
    }

    #[inline]
    pub(crate) fn kind_mut(&mut self, id: NodeId) -> &mut Kind {
        &mut self.nodes[id.index()].kind
    }

    #[inline]
    pub(crate) fn mark_dirty(&mut self, id: NodeId) {
        self.nodes[id.index()].cache = NodeRef::DIRTY;
    }

    /// Number of live nodes.
    pub(crate) fn live(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

/// Nibble `i` of `key` (0 past the end, which callers never ask for).
#[inline]
pub(crate) fn nibble(key: &B256, i: usize) -> usize {
    let b = key.0.get(i / 2).copied().unwrap_or(0);
    (if i.is_multiple_of(2) {
        b >> 4
    } else {
        b & 0x0f
    }) as usize
}

/// Sets nibble `i` of `key` to `v` (no-op past the end).
pub(crate) fn set_nibble(key: &mut B256, i: usize, v: usize) {
    if let Some(b) = key.0.get_mut(i / 2) {
        let v = (v & 0x0f) as u8;
        *b = if i.is_multiple_of(2) {
            (*b & 0x0f) | (v << 4)
        } else {
            (*b & 0xf0) | v
        };
    }
}

/// First nibble index in `from..end` where `a` and `b` differ, or `end`.
#[inline]
pub(crate) fn mismatch(a: &B256, b: &B256, from: usize, end: usize) -> usize {
    let end = end.min(KEY_NIBBLES);
    let mut i = from;
    // Nibble-by-nibble up to a byte boundary, then whole bytes.
    while i < end && !i.is_multiple_of(2) {
        if nibble(a, i) != nibble(b, i) {
            return i;
        }
        i += 1;
    }
    while i + 2 <= end && a.0[i / 2] == b.0[i / 2] {
        i += 2;
    }
    while i < end {
        if nibble(a, i) != nibble(b, i) {
            return i;
        }
        i += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_stay_small() {
        assert_eq!(std::mem::size_of::<Option<NodeId>>(), 4);
        assert!(
            std::mem::size_of::<Node>() <= 112,
            "{}",
            std::mem::size_of::<Node>()
        );
    }

    #[test]
    fn nibble_helpers() {
        let mut k = B256::ZERO;
        set_nibble(&mut k, 0, 0xa);
        set_nibble(&mut k, 1, 0x5);
        set_nibble(&mut k, 63, 0xf);
        assert_eq!(k.0[0], 0xa5);
        assert_eq!(k.0[31], 0x0f);
        assert_eq!(nibble(&k, 0), 0xa);
        assert_eq!(nibble(&k, 1), 0x5);
        assert_eq!(nibble(&k, 63), 0xf);
        assert_eq!(nibble(&k, 64), 0);
        let z = B256::ZERO;
        assert_eq!(mismatch(&k, &z, 0, 64), 0);
        assert_eq!(mismatch(&k, &z, 2, 64), 63);
        assert_eq!(mismatch(&k, &z, 3, 63), 63);
        assert_eq!(mismatch(&k, &k, 1, 64), 64);
    }
}
