//! RLP encoding of nodes (Ethereum yellow paper, appendix D) and the
//! incremental hashing pass that refreshes dirty nodes' cached references.

use crate::node::{Arena, KEY_NIBBLES, Kind, NodeId, NodeRef, nibble};
use alloy_primitives::B256;
use alloy_rlp::{Encodable, Header};

/// Hex-prefix encoding of `path[start..end]` into `out`; returns its length.
fn hex_prefix(path: &B256, start: usize, end: usize, leaf: bool, out: &mut [u8; 33]) -> usize {
    let end = end.min(KEY_NIBBLES);
    let start = start.min(end);
    let n = end - start;
    let flag = if leaf { 0x20 } else { 0x00 };
    let mut i = start;
    if !n.is_multiple_of(2) {
        out[0] = flag | 0x10 | nibble(path, i) as u8;
        i += 1;
    } else {
        out[0] = flag;
    }
    let mut o = 1;
    if i.is_multiple_of(2) && end == KEY_NIBBLES {
        // Byte-aligned tail of the key: copy it whole.
        let tail = &path.0[i / 2..];
        out[1..1 + tail.len()].copy_from_slice(tail);
        return 1 + tail.len();
    }
    while i + 1 < end {
        out[o] = ((nibble(path, i) << 4) | nibble(path, i + 1)) as u8;
        o += 1;
        i += 2;
    }
    o
}

/// RLP of a two-item list `[hex_prefix, tail]` where `tail` is either an RLP
/// string (leaf value) or an already-encoded child reference.
fn encode_short(hp: &[u8], tail: Tail<'_>, out: &mut Vec<u8>) {
    let tail_len = match tail {
        Tail::Value(v) => v.length(),
        Tail::Child(r) => r.rlp_len(),
    };
    Header {
        list: true,
        payload_length: hp.length() + tail_len,
    }
    .encode(out);
    hp.encode(out);
    match tail {
        Tail::Value(v) => v.encode(out),
        Tail::Child(r) => r.write(out),
    }
}

#[derive(Clone, Copy)]
enum Tail<'a> {
    Value(&'a [u8]),
    Child(&'a NodeRef),
}

/// RLP of a branch: 16 child references and an empty value.
fn encode_branch(children: &[Option<NodeRef>; 16], out: &mut Vec<u8>) {
    let payload: usize = children
        .iter()
        .map(|c| c.as_ref().map_or(1, NodeRef::rlp_len))
        .sum::<usize>()
        + 1;
    Header {
        list: true,
        payload_length: payload,
    }
    .encode(out);
    for child in children {
        match child {
            Some(r) => r.write(out),
            None => out.push(alloy_rlp::EMPTY_STRING_CODE),
        }
    }
    out.push(alloy_rlp::EMPTY_STRING_CODE);
}

/// Fresh references computed by a hashing pass, applied to the arena after.
pub(crate) type Updates = Vec<(NodeId, NodeRef)>;

impl Arena {
    /// Reference of subtree `id` at `depth`. Clean nodes return their cache
    /// without descending; dirty nodes are re-encoded and their new reference
    /// is pushed to `updates`. Read-only, so disjoint subtrees can be hashed
    /// on different threads.
    pub(crate) fn compute(
        &self,
        id: NodeId,
        depth: usize,
        buf: &mut Vec<u8>,
        updates: &mut Updates,
    ) -> NodeRef {
        let node = self.node(id);
        if !node.cache.is_dirty() {
            return node.cache;
        }
        let mut hp = [0u8; 33];
        let r = match &node.kind {
            Kind::Leaf { key, value } => {
                let n = hex_prefix(key, depth, KEY_NIBBLES, true, &mut hp);
                buf.clear();
                encode_short(&hp[..n], Tail::Value(value), buf);
                NodeRef::from_rlp(buf)
            }
            Kind::Extension { path, len, child } => {
                let end = depth + usize::from(*len);
                let child_ref = self.compute(*child, end, buf, updates);
                let n = hex_prefix(path, depth, end, false, &mut hp);
                buf.clear();
                encode_short(&hp[..n], Tail::Child(&child_ref), buf);
                NodeRef::from_rlp(buf)
            }
            Kind::Branch { children } => {
                // Read every child's cache first: independent loads that the
                // CPU overlaps, instead of one cache miss per recursive call.
                let mut refs = [None; 16];
                for (r, child) in refs.iter_mut().zip(children) {
                    *r = child.map(|c| self.node(c).cache);
                }
                for (r, child) in refs.iter_mut().zip(children) {
                    if let (Some(r), Some(c)) = (r, child)
                        && r.is_dirty()
                    {
                        *r = self.compute(*c, depth + 1, buf, updates);
                    }
                }
                buf.clear();
                encode_branch(&refs, buf);
                NodeRef::from_rlp(buf)
            }
            // Unreachable with a consistent arena; an empty string is the
            // reference of an absent node.
            Kind::Vacant => NodeRef::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
        };
        updates.push((id, r));
        r
    }

    /// RLP of node `id` at `depth`, whose children are all clean (after a commit): what a
    /// proof lists for it.
    pub(crate) fn encode_clean(&self, id: NodeId, depth: usize, out: &mut Vec<u8>) {
        let mut hp = [0u8; 33];
        out.clear();
        match self.kind(id) {
            Kind::Leaf { key, value } => {
                let n = hex_prefix(key, depth, KEY_NIBBLES, true, &mut hp);
                encode_short(&hp[..n], Tail::Value(value), out);
            }
            Kind::Extension { path, len, child } => {
                let end = depth + usize::from(*len);
                let n = hex_prefix(path, depth, end, false, &mut hp);
                encode_short(&hp[..n], Tail::Child(&self.node(*child).cache), out);
            }
            Kind::Branch { children } => {
                let mut refs = [None; 16];
                for (r, child) in refs.iter_mut().zip(children) {
                    *r = child.map(|c| self.node(c).cache);
                }
                encode_branch(&refs, out);
            }
            Kind::Vacant => out.push(alloy_rlp::EMPTY_STRING_CODE),
        }
    }

    /// Refreshes every dirty node under `root` and returns the root's
    /// reference. Uses up to `threads` threads over the root's children.
    pub(crate) fn commit(&mut self, root: NodeId, threads: usize) -> NodeRef {
        let mut buf = Vec::with_capacity(600);
        let mut updates = Updates::new();
        let children = match self.kind(root) {
            Kind::Branch { children } if threads > 1 && self.node(root).cache.is_dirty() => {
                *children
            }
            _ => {
                let r = self.compute(root, 0, &mut buf, &mut updates);
                self.apply(&updates);
                return r;
            }
        };
        // Hash the root's dirty children in parallel, then the root itself.
        let dirty: Vec<NodeId> = children
            .iter()
            .flatten()
            .copied()
            .filter(|c| self.node(*c).cache.is_dirty())
            .collect();
        let arena = &*self;
        let results: Vec<Updates> = std::thread::scope(|s| {
            // A worker that fails to start leaves its children dirty; they
            // are hashed by the final sequential pass below.
            let handles: Vec<_> = (1..threads)
                .filter_map(|t| {
                    let mine: Vec<NodeId> =
                        dirty.iter().copied().skip(t).step_by(threads).collect();
                    std::thread::Builder::new()
                        .name("trie-hash".into())
                        .spawn_scoped(s, move || {
                            let (mut buf, mut updates) = (Vec::with_capacity(600), Updates::new());
                            for c in mine {
                                arena.compute(c, 1, &mut buf, &mut updates);
                            }
                            updates
                        })
                        .ok()
                })
                .collect();
            let mut local = Updates::new();
            for c in dirty.iter().copied().step_by(threads) {
                arena.compute(c, 1, &mut buf, &mut local);
            }
            let mut all = vec![local];
            // A panicking worker can only come from a bug; its children are
            // likewise left to the sequential pass.
            all.extend(handles.into_iter().filter_map(|h| h.join().ok()));
            all
        });
        for u in &results {
            self.apply(u);
        }
        let r = self.compute(root, 0, &mut buf, &mut updates);
        self.apply(&updates);
        r
    }

    fn apply(&mut self, updates: &Updates) {
        for (id, r) in updates {
            self.node_mut(*id).cache = *r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    #[test]
    fn hex_prefix_cases() {
        let key = b256!("0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        let mut out = [0u8; 33];
        // Leaf, even tail from a byte boundary.
        let n = hex_prefix(&key, 60, 64, true, &mut out);
        assert_eq!(&out[..n], &[0x20, 0xcd, 0xef]);
        // Leaf, odd tail.
        let n = hex_prefix(&key, 61, 64, true, &mut out);
        assert_eq!(&out[..n], &[0x3d, 0xef]);
        // Leaf with no nibbles left.
        let n = hex_prefix(&key, 64, 64, true, &mut out);
        assert_eq!(&out[..n], &[0x20]);
        // Extension, odd and even, unaligned start.
        let n = hex_prefix(&key, 1, 4, false, &mut out);
        assert_eq!(&out[..n], &[0x11, 0x23]);
        let n = hex_prefix(&key, 1, 5, false, &mut out);
        assert_eq!(&out[..n], &[0x00, 0x12, 0x34]);
        // Full key.
        let n = hex_prefix(&key, 0, 64, true, &mut out);
        assert_eq!(out[0], 0x20);
        assert_eq!(&out[1..n], key.as_slice());
    }
}
