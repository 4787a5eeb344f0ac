//! Structural operations: insert, remove (with canonical collapsing) and
//! bulk construction from sorted entries.
//!
//! Every node whose encoding may change is marked dirty; nodes whose subtree
//! is untouched keep their cached reference.

use crate::node::{Arena, KEY_NIBBLES, Kind, NodeId, mismatch, nibble, set_nibble};
use alloy_primitives::B256;

/// Outcome of an insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Same value was already stored: nothing was touched.
    Unchanged,
    /// An existing key got a new value.
    Updated,
    /// A new key was added.
    Added,
}

impl Arena {
    /// Inserts `key -> value` into the subtree `node` (at `depth`) and returns
    /// the new subtree root. Nodes are marked dirty on the way back up, only
    /// if something changed.
    pub(crate) fn insert(
        &mut self,
        node: Option<NodeId>,
        depth: usize,
        key: &B256,
        value: Vec<u8>,
    ) -> (NodeId, Change) {
        let Some(id) = node else {
            return (self.alloc(Kind::Leaf { key: *key, value }), Change::Added);
        };
        match self.kind_mut(id) {
            Kind::Leaf {
                key: existing,
                value: old,
            } => {
                if existing == key {
                    if *old == value {
                        return (id, Change::Unchanged);
                    }
                    *old = value;
                    self.mark_dirty(id);
                    return (id, Change::Updated);
                }
                let other = *existing;
                // Keys share nibbles `..depth`; they split at `at < 64`.
                let at = mismatch(key, &other, depth, KEY_NIBBLES);
                // The old leaf moves below the new branch: its path shrinks.
                self.mark_dirty(id);
                let leaf = self.alloc(Kind::Leaf { key: *key, value });
                let mut children = [None; 16];
                children[nibble(key, at)] = Some(leaf);
                children[nibble(&other, at)] = Some(id);
                let branch = self.alloc(Kind::Branch { children });
                (self.wrap(key, depth, at, branch), Change::Added)
            }
            Kind::Extension { path, len, child } => {
                let (path, len, child) = (*path, usize::from(*len), *child);
                let end = depth + len;
                let at = mismatch(key, &path, depth, end);
                if at == end {
                    let (new_child, change) = self.insert(Some(child), end, key, value);
                    if change != Change::Unchanged {
                        self.mark_dirty(id);
                        if let Kind::Extension { child, .. } = self.kind_mut(id) {
                            *child = new_child;
                        }
                    }
                    return (id, change);
                }
                // Split the extension at `at`: a branch holding the new leaf
                // and the rest of the extension (or its child directly).
                let leaf = self.alloc(Kind::Leaf { key: *key, value });
                let rest = if at + 1 < end {
                    if let Kind::Extension { len, .. } = self.kind_mut(id) {
                        // `end - at - 1 < len <= 63`.
                        *len = (end - at - 1) as u8;
                    }
                    self.mark_dirty(id);
                    id
                } else {
                    self.free(id);
                    child
                };
                let mut children = [None; 16];
                children[nibble(key, at)] = Some(leaf);
                children[nibble(&path, at)] = Some(rest);
                let branch = self.alloc(Kind::Branch { children });
                (self.wrap(&path, depth, at, branch), Change::Added)
            }
            Kind::Branch { children } => {
                let i = nibble(key, depth);
                let child = children[i];
                let (new_child, change) = self.insert(child, depth + 1, key, value);
                if change != Change::Unchanged {
                    self.mark_dirty(id);
                    if let Kind::Branch { children } = self.kind_mut(id) {
                        children[i] = Some(new_child);
                    }
                }
                (id, change)
            }
            Kind::Vacant => {
                // Unreachable with a consistent arena; recover as a leaf.
                *self.kind_mut(id) = Kind::Leaf { key: *key, value };
                self.mark_dirty(id);
                (id, Change::Added)
            }
        }
    }

    /// Puts an extension for `path[depth..at]` above `branch` if `at > depth`.
    fn wrap(&mut self, path: &B256, depth: usize, at: usize, branch: NodeId) -> NodeId {
        if at > depth {
            // `at - depth <= 63`.
            self.alloc(Kind::Extension {
                path: *path,
                len: (at - depth) as u8,
                child: branch,
            })
        } else {
            branch
        }
    }

    /// Removes `key` from the subtree `id` (at `depth`). Returns `None` if the
    /// key was absent (nothing changed), otherwise the new subtree root, which
    /// is `None` when the subtree became empty. The result is canonical: no
    /// branch with a single child, no extension over a leaf or extension.
    pub(crate) fn remove(
        &mut self,
        id: NodeId,
        depth: usize,
        key: &B256,
    ) -> Option<Option<NodeId>> {
        match self.kind(id) {
            Kind::Leaf { key: existing, .. } => {
                if existing != key {
                    return None;
                }
                self.free(id);
                Some(None)
            }
            Kind::Extension { path, len, child } => {
                let (path, len, child) = (*path, usize::from(*len), *child);
                if mismatch(key, &path, depth, depth + len) != depth + len {
                    return None;
                }
                match self.remove(child, depth + len, key)? {
                    None => {
                        self.free(id);
                        Some(None)
                    }
                    Some(new_child) => Some(Some(self.join_extension(id, len, new_child))),
                }
            }
            Kind::Branch { children } => {
                let i = nibble(key, depth);
                let child = children[i]?;
                let result = self.remove(child, depth + 1, key)?;
                self.mark_dirty(id);
                let Kind::Branch { children } = self.kind_mut(id) else {
                    return Some(Some(id));
                };
                children[i] = result;
                if result.is_some() {
                    return Some(Some(id));
                }
                let mut present = children
                    .iter()
                    .enumerate()
                    .filter_map(|(j, c)| c.map(|c| (j, c)));
                match (present.next(), present.next()) {
                    (_, Some(_)) => Some(Some(id)),
                    (Some((j, only)), None) => {
                        self.free(id);
                        Some(Some(self.lift(only, depth, j, key)))
                    }
                    (None, None) => {
                        self.free(id);
                        Some(None)
                    }
                }
            }
            Kind::Vacant => None,
        }
    }

    /// Extension `id` (path length `len`) whose child became `child`: merge
    /// with a leaf or extension child, keep over a branch.
    fn join_extension(&mut self, id: NodeId, len: usize, child: NodeId) -> NodeId {
        match self.kind_mut(child) {
            Kind::Leaf { .. } => {
                // The leaf's path now starts where the extension started.
                self.free(id);
                self.mark_dirty(child);
                child
            }
            Kind::Extension { len: child_len, .. } => {
                // The child's carrier key came from below, so it spells both
                // paths; together they are shorter than 64 nibbles.
                *child_len += len as u8;
                self.free(id);
                self.mark_dirty(child);
                child
            }
            Kind::Branch { .. } | Kind::Vacant => {
                if let Kind::Extension { child: c, .. } = self.kind_mut(id) {
                    *c = child;
                }
                self.mark_dirty(id);
                id
            }
        }
    }

    /// The branch at `depth` was left with one child `only` at nibble `j`:
    /// move that child up one level. `removed` is the key just removed through
    /// the branch, so it spells the path up to `depth`.
    fn lift(&mut self, only: NodeId, depth: usize, j: usize, removed: &B256) -> NodeId {
        match self.kind_mut(only) {
            Kind::Leaf { .. } => {
                self.mark_dirty(only);
                only
            }
            Kind::Extension { len, .. } => {
                // Its carrier already has nibble `j` at `depth`.
                *len += 1;
                self.mark_dirty(only);
                only
            }
            Kind::Branch { .. } | Kind::Vacant => {
                let mut path = *removed;
                set_nibble(&mut path, depth, j);
                self.alloc(Kind::Extension {
                    path,
                    len: 1,
                    child: only,
                })
            }
        }
    }

    /// Builds a subtree at `depth` from entries sorted by key with distinct
    /// keys and non-empty values (values are moved out).
    pub(crate) fn build(
        &mut self,
        entries: &mut [(B256, Vec<u8>)],
        depth: usize,
    ) -> Option<NodeId> {
        match entries {
            [] => None,
            [(key, value)] => Some(self.alloc(Kind::Leaf {
                key: *key,
                value: std::mem::take(value),
            })),
            [(first, _), .., (last, _)] => {
                let (first, last) = (*first, *last);
                // Sorted: the common prefix of all is that of first and last.
                let at = mismatch(&first, &last, depth, KEY_NIBBLES);
                if at >= KEY_NIBBLES {
                    // Duplicate keys (excluded by the caller): keep the last.
                    let last = entries.len() - 1;
                    return self.build(&mut entries[last..], depth);
                }
                let mut children = [None; 16];
                let mut rest = entries;
                while let Some((head, _)) = rest.first() {
                    let n = nibble(head, at);
                    let run = rest
                        .iter()
                        .position(|(k, _)| nibble(k, at) != n)
                        .unwrap_or(rest.len());
                    let (group, tail) = rest.split_at_mut(run);
                    children[n] = self.build(group, at + 1);
                    rest = tail;
                }
                let branch = self.alloc(Kind::Branch { children });
                Some(self.wrap(&first, depth, at, branch))
            }
        }
    }
}
