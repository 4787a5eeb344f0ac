#![allow(clippy::unwrap_used)]

use super::*;
use alloy_primitives::{hex, keccak256};
use alloy_trie::{HashBuilder, Nibbles};
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeMap;

type Entries = Vec<(B256, Vec<u8>)>;

/// Root computed by alloy-trie's `HashBuilder` from scratch.
fn reference_root(map: &BTreeMap<B256, Vec<u8>>) -> B256 {
    let mut hb = HashBuilder::default();
    for (k, v) in map {
        hb.add_leaf(Nibbles::unpack(k), v);
    }
    hb.root()
}

/// Keys that share long prefixes often, to exercise extensions, deep
/// branches and inlined (< 32 byte) nodes, mixed with uniform keys.
fn random_key(rng: &mut StdRng) -> B256 {
    let mut key = B256::ZERO;
    match rng.random_range(0..4) {
        0 => rng.fill(&mut key.0[..]),
        1 => {
            // Differ only in the last few nibbles.
            key.0[..30].fill(0x11);
            key.0[30] = rng.random_range(0..3);
            key.0[31] = rng.random_range(0..=255);
        }
        2 => {
            // Few distinct values per nibble, anywhere.
            for b in &mut key.0 {
                *b = [0x00, 0x01, 0x10, 0xff][rng.random_range(0..4)];
            }
        }
        _ => {
            key.0[0] = rng.random_range(0..2);
            key.0[5] = rng.random_range(0..2) << 4;
            key.0[31] = rng.random_range(0..16);
        }
    }
    key
}

fn random_value(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.random_range(0..3) {
        0 => 1,
        1 => rng.random_range(1..8),
        _ => rng.random_range(1..120),
    };
    (0..len).map(|_| rng.random()).collect()
}

/// Full structural check: every reachable node is canonical.
fn assert_canonical(trie: &Trie) {
    fn walk(trie: &Trie, id: NodeId, depth: usize, parent_is_ext: bool) -> usize {
        match trie.arena.kind(id) {
            Kind::Leaf { .. } => {
                assert!(!parent_is_ext, "extension over a leaf");
                1
            }
            Kind::Extension { len, child, .. } => {
                assert!(!parent_is_ext, "extension over an extension");
                assert!(*len >= 1 && depth + usize::from(*len) < 64);
                walk(trie, *child, depth + usize::from(*len), true)
            }
            Kind::Branch { children } => {
                assert!(
                    children.iter().flatten().count() >= 2,
                    "branch with < 2 children"
                );
                children
                    .iter()
                    .flatten()
                    .map(|c| walk(trie, *c, depth + 1, false))
                    .sum()
            }
            Kind::Vacant => panic!("reachable vacant node"),
        }
    }
    let leaves = trie.root.map_or(0, |r| walk(trie, r, 0, false));
    assert_eq!(leaves, trie.len());
}

#[test]
fn empty_root() {
    let mut trie = Trie::new();
    assert_eq!(trie.root(), EMPTY_ROOT);
    assert_eq!(EMPTY_ROOT, keccak256([0x80]));
    assert_eq!(EMPTY_ROOT, alloy_trie::EMPTY_ROOT_HASH);
    assert!(trie.is_empty());
    assert_eq!(Trie::from_entries(vec![]).root(), EMPTY_ROOT);
}

#[test]
fn single_key_by_hand() {
    let key = B256::repeat_byte(0xab);
    let value = vec![0x01, 0x02, 0x03];
    let mut trie = Trie::new();
    trie.insert(key, value.clone());
    // rlp([0x20 ++ key, value]) = list(34 + 4 bytes).
    let mut rlp = vec![0xe6, 0xa1, 0x20];
    rlp.extend_from_slice(key.as_slice());
    rlp.extend_from_slice(&[0x83, 0x01, 0x02, 0x03]);
    assert_eq!(rlp.len(), 39);
    assert_eq!(trie.root(), keccak256(&rlp));
    assert_eq!(trie.get(&key), Some(&value[..]));
    assert_eq!(trie.len(), 1);
}

#[test]
fn two_keys_with_inlined_leaves_by_hand() {
    // Keys differ only in the last nibble: extension of 63 nibbles over a
    // branch whose two leaves have empty paths and are inlined.
    let a = B256::ZERO;
    let mut b = B256::ZERO;
    b.0[31] = 0x01;
    let mut trie = Trie::new();
    trie.insert(a, vec![0x05]);
    trie.insert(b, vec![0x06]);
    // Leaf: [0x20, 0x05] = c2 20 05; branch: [leafA, leafB, 14 x 0x80, 0x80]
    // (payload 3 + 3 + 15 = 0x15).
    let mut branch = vec![0xd5, 0xc2, 0x20, 0x05, 0xc2, 0x20, 0x06];
    branch.extend_from_slice(&[0x80; 15]);
    assert_eq!(branch.len(), 0x15 + 1);
    // The branch (22 bytes) is itself inlined into the extension, whose path
    // is 63 zero nibbles -> odd: 0x10 then 31 zero bytes; payload 33 + 22.
    let mut ext = vec![0xf7, 0xa0, 0x10];
    ext.extend_from_slice(&[0u8; 31]);
    ext.extend_from_slice(&branch);
    assert_eq!(ext.len(), 0x37 + 1);
    assert_eq!(trie.root(), keccak256(&ext));
    let map = BTreeMap::from([(a, vec![0x05]), (b, vec![0x06])]);
    assert_eq!(trie.root(), reference_root(&map));
}

/// ethereum/tests `TrieTests/trieanyorder_secureTrie.json`: keys are
/// keccak256-hashed before insertion, values stored as given.
#[test]
fn ethereum_secure_trie_vectors() {
    let str_cases: [(&[(&str, &str)], B256); 6] = [
        (
            &[("A", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")],
            b256!("0xe9e2935138352776cad724d31c9fa5266a5c593bb97726dd2a908fe6d53284df"),
        ),
        (
            &[
                ("doe", "reindeer"),
                ("dog", "puppy"),
                ("dogglesworth", "cat"),
            ],
            b256!("0xd4cd937e4a4368d7931a9cf51686b7e10abb3dce38a39000fd7902a092b64585"),
        ),
        (
            &[
                ("do", "verb"),
                ("horse", "stallion"),
                ("doge", "coin"),
                ("dog", "puppy"),
            ],
            b256!("0x29b235a58c3c25ab83010c327d5932bcf05324b7d6b1185e650798034783ca9d"),
        ),
        (
            &[("foo", "bar"), ("food", "bass")],
            b256!("0x1385f23a33021025d9e87cca5c66c00de06178807b96a9acc92b7d651ccde842"),
        ),
        (
            &[("be", "e"), ("dog", "puppy"), ("bed", "d")],
            b256!("0x826a4f9f9054a3e980e54b20da992c24fa20467f1ca635115ef4917be66e746f"),
        ),
        (
            &[("test", "test"), ("te", "testy")],
            b256!("0xaea54fb6c80499674248a462864c420c9d9f3b3d38c879c12425bade1ad76552"),
        ),
    ];
    let mut cases: Vec<(Entries, B256)> = str_cases
        .iter()
        .map(|(kvs, root)| {
            (
                kvs.iter()
                    .map(|(k, v)| (keccak256(k), v.as_bytes().to_vec()))
                    .collect(),
                *root,
            )
        })
        .collect();
    cases.push((
        vec![
            (keccak256(hex!("0045")), hex!("0123456789").to_vec()),
            (keccak256(hex!("4500")), hex!("9876543210").to_vec()),
        ],
        b256!("0xbc11c02c8ab456db0c4d2728b6a2a6210d06f26a2ace4f7d8bdfc72ddf2630ab"),
    ));
    for (entries, root) in cases {
        let mut trie = Trie::new();
        for (k, v) in entries.iter().rev() {
            trie.insert(*k, v.clone());
        }
        assert_eq!(trie.root(), root);
        assert_eq!(Trie::from_entries(entries).root(), root);
    }
}

#[test]
fn pinned_vector() {
    // Account-like values under keccak keys; pinned so encoding changes are
    // caught even without alloy-trie.
    let entries: Vec<(B256, Vec<u8>)> = (0u8..3)
        .map(|i| (keccak256([i]), vec![i + 1; 40]))
        .collect();
    let mut trie = Trie::from_entries(entries.clone());
    let map: BTreeMap<_, _> = entries.into_iter().collect();
    let root = trie.root();
    assert_eq!(root, reference_root(&map));
    assert_eq!(
        root,
        b256!("0x8bbeb127c5db4732d631d28a492bb6e16b79319a6564a2f8fd8175dceb97c344")
    );
}

#[test]
fn removal_merges_extensions() {
    let a = B256::ZERO;
    let b = B256::with_last_byte(1);
    let mut c = B256::ZERO;
    c.0[5] = 0x10; // Differs from a and b at nibble 10.
    let mut d = B256::ZERO;
    d.0[0] = 0x10; // Differs at nibble 0.
    let mut trie = Trie::from_entries([(a, vec![1]), (b, vec![2]), (c, vec![3]), (d, vec![4])]);
    let root_ext_len = |t: &Trie| match t.root.map(|r| t.arena.kind(r)) {
        Some(Kind::Extension { len, .. }) => Some(*len),
        _ => None,
    };
    assert_eq!(root_ext_len(&trie), None); // Root is a branch.
    // Branch at 0 collapses: its extension child absorbs nibble 0.
    trie.remove(&d);
    assert_eq!(root_ext_len(&trie), Some(10));
    // Branch at 10 collapses into its extension child, which merges with the
    // root extension: one 63-nibble extension over the last branch.
    trie.remove(&c);
    assert_eq!(root_ext_len(&trie), Some(63));
    assert_canonical(&trie);
    let map = BTreeMap::from([(a, vec![1]), (b, vec![2])]);
    assert_eq!(trie.root(), reference_root(&map));
    // Re-splitting and collapsing to a single leaf.
    trie.insert(c, vec![3]);
    assert_eq!(root_ext_len(&trie), Some(10));
    trie.remove(&a);
    trie.remove(&b);
    assert!(matches!(
        trie.root.map(|r| trie.arena.kind(r)),
        Some(Kind::Leaf { .. })
    ));
    assert_eq!(trie.root(), reference_root(&BTreeMap::from([(c, vec![3])])));
    assert_eq!(trie.arena.live(), 1);
}

#[test]
fn matches_hash_builder_on_random_sets() {
    let mut rng = StdRng::seed_from_u64(1);
    for n in [1usize, 2, 3, 15, 16, 17, 100, 257, 1000, 2000] {
        for _ in 0..3 {
            let mut map = BTreeMap::new();
            let mut trie = Trie::new();
            while map.len() < n {
                let (k, v) = (random_key(&mut rng), random_value(&mut rng));
                map.insert(k, v.clone());
                trie.insert(k, v);
            }
            assert_eq!(trie.len(), map.len());
            assert_eq!(trie.root(), reference_root(&map), "n = {n}");
            assert_canonical(&trie);
            for (k, v) in &map {
                assert_eq!(trie.get(k), Some(&v[..]));
            }
            assert_eq!(Trie::from_entries(map.clone()).root(), trie.root());
        }
    }
}

#[test]
fn interleaved_updates_match_fresh_builds() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut map = BTreeMap::new();
    let mut trie = Trie::new();
    let mut keys: Vec<B256> = Vec::new();
    for round in 0..60 {
        for _ in 0..rng.random_range(1..200) {
            let op = rng.random_range(0..10);
            let key = if op < 6 || keys.is_empty() {
                let k = random_key(&mut rng);
                keys.push(k);
                k
            } else {
                keys[rng.random_range(0..keys.len())]
            };
            if op >= 8 {
                map.remove(&key);
                if op == 8 {
                    trie.remove(&key)
                } else {
                    trie.insert(key, Vec::new())
                }
            } else {
                let v = random_value(&mut rng);
                map.insert(key, v.clone());
                trie.insert(key, v);
            }
        }
        assert_eq!(trie.len(), map.len(), "round {round}");
        assert_eq!(trie.root(), reference_root(&map), "round {round}");
        assert_canonical(&trie);
    }
    // Remove everything, checking along the way.
    let all: Vec<B256> = map.keys().copied().collect();
    for (i, k) in all.iter().enumerate() {
        trie.remove(k);
        map.remove(k);
        if i % 97 == 0 {
            assert_eq!(trie.root(), reference_root(&map));
            assert_canonical(&trie);
        }
    }
    assert!(trie.is_empty());
    assert_eq!(trie.root(), EMPTY_ROOT);
    assert_eq!(trie.arena.live(), 0);
}

#[test]
fn from_entries_equals_inserts() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut entries = Vec::new();
    for _ in 0..3000 {
        let k = random_key(&mut rng);
        // Sometimes empty (absent), sometimes repeated.
        let v = if rng.random_range(0..10) == 0 {
            Vec::new()
        } else {
            random_value(&mut rng)
        };
        entries.push((k, v));
        if rng.random_range(0..5) == 0 {
            entries.push((k, random_value(&mut rng)));
        }
    }
    let mut incremental = Trie::new();
    for (k, v) in entries.clone() {
        incremental.insert(k, v);
    }
    let mut built = Trie::from_entries(entries);
    assert_eq!(built.len(), incremental.len());
    assert_eq!(built.root(), incremental.root());
    assert_canonical(&built);
    // Both keep working incrementally afterwards.
    let k = random_key(&mut rng);
    built.insert(k, vec![1]);
    incremental.insert(k, vec![1]);
    assert_eq!(built.root(), incremental.root());
}

#[test]
fn clean_subtrees_are_not_rehashed() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut trie =
        Trie::from_entries((0..5000).map(|_| (random_key(&mut rng), random_value(&mut rng))));
    trie.root();
    let k = B256::repeat_byte(0x42);
    trie.insert(k, vec![7; 50]);
    let dirty = trie.arena.live() - count_clean(&trie);
    assert!(dirty <= 6, "{dirty} dirty nodes after one insert");
    trie.root();
    assert_eq!(count_clean(&trie), trie.arena.live());
    // Writing the same value leaves everything clean.
    trie.insert(k, vec![7; 50]);
    assert_eq!(count_clean(&trie), trie.arena.live());
}

fn count_clean(trie: &Trie) -> usize {
    fn walk(trie: &Trie, id: NodeId) -> usize {
        let node = trie.arena.node(id);
        let own = usize::from(!node.cache.is_dirty());
        own + match &node.kind {
            Kind::Extension { child, .. } => walk(trie, *child),
            Kind::Branch { children } => children.iter().flatten().map(|c| walk(trie, *c)).sum(),
            _ => 0,
        }
    }
    trie.root.map_or(0, |r| walk(trie, r))
}

#[test]
fn parallel_and_sequential_hashing_agree() {
    let mut rng = StdRng::seed_from_u64(5);
    let entries: Vec<_> = (0..5000)
        .map(|_| (random_key(&mut rng), random_value(&mut rng)))
        .collect();
    let mut a = Trie::from_entries(entries.clone());
    let mut b = a.clone();
    let ra = a.arena.commit(a.root.unwrap(), 1).root_hash();
    let rb = b.arena.commit(b.root.unwrap(), 4).root_hash();
    assert_eq!(ra, rb);
    assert_eq!(ra, reference_root(&entries.into_iter().collect()));
}

#[test]
fn clone_is_independent() {
    let mut a = Trie::new();
    a.insert(B256::repeat_byte(1), vec![1]);
    let mut b = a.clone();
    b.insert(B256::repeat_byte(2), vec![2]);
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 2);
    assert_ne!(a.root(), b.root());
    assert!(format!("{a:?}").contains("len: 1"));
    assert_eq!(hex::encode(a.get(&B256::repeat_byte(1)).unwrap()), "01");
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, Vec<u8>),
    Remove(u8),
    Root,
}

/// 256 keys drawn from a small structured space so collisions, shared
/// prefixes and collapses are frequent.
fn op_key(i: u8) -> B256 {
    let mut k = B256::ZERO;
    k.0[0] = i & 0xc0;
    k.0[16] = i & 0x30;
    k.0[31] = i & 0x0f;
    k
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => any::<u8>().prop_map(Op::Remove),
        1 => Just(Op::Root),
    ]
}

proptest! {
    #[test]
    fn random_operation_sequences(ops in proptest::collection::vec(op_strategy(), 1..120)) {
        let mut trie = Trie::new();
        let mut map = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    if v.is_empty() { map.remove(&op_key(k)); } else { map.insert(op_key(k), v.clone()); }
                    trie.insert(op_key(k), v);
                }
                Op::Remove(k) => {
                    map.remove(&op_key(k));
                    trie.remove(&op_key(k));
                }
                Op::Root => prop_assert_eq!(trie.root(), reference_root(&map)),
            }
        }
        prop_assert_eq!(trie.len(), map.len());
        prop_assert_eq!(trie.root(), reference_root(&map));
        assert_canonical(&trie);
        prop_assert_eq!(Trie::from_entries(map.clone()).root(), trie.root());
    }
}

/// Proofs of present and absent keys, with inlined nodes among them, verify against the
/// root with alloy-trie's EIP-1186 verifier; a tampered value does not.
#[test]
fn proofs_verify_with_alloy_trie() {
    use alloy_primitives::Bytes;
    let mut rng = StdRng::seed_from_u64(1186);
    for round in 0..40 {
        let mut map = BTreeMap::new();
        for _ in 0..rng.random_range(1..200) {
            map.insert(random_key(&mut rng), random_value(&mut rng));
        }
        let mut trie: Trie = map.iter().map(|(k, v)| (*k, v.clone())).collect();
        // Some edits after the last root, so proving must refresh it.
        let edited = random_key(&mut rng);
        map.insert(edited, vec![round as u8 + 1]);
        trie.insert(edited, vec![round as u8 + 1]);
        let root = reference_root(&map);
        let probes: Vec<B256> = map
            .keys()
            .take(30)
            .copied()
            .chain((0..30).map(|_| random_key(&mut rng)))
            .collect();
        for key in probes {
            let proof = trie.proof(&key);
            assert_eq!(proof.value.as_ref(), map.get(&key), "value of {key}");
            assert_eq!(trie.root(), root);
            let nodes: Vec<Bytes> = proof.nodes.into_iter().map(Bytes::from).collect();
            alloy_trie::proof::verify_proof(
                root,
                Nibbles::unpack(key),
                proof.value.clone(),
                &nodes,
            )
            .unwrap_or_else(|e| panic!("round {round}, key {key}: {e}"));
            if let Some(mut wrong) = proof.value {
                wrong.push(0);
                assert!(
                    alloy_trie::proof::verify_proof(
                        root,
                        Nibbles::unpack(key),
                        Some(wrong),
                        &nodes
                    )
                    .is_err()
                );
            }
        }
    }
    let mut empty = Trie::new();
    let proof = empty.proof(&B256::ZERO);
    assert_eq!(
        proof,
        Proof {
            value: None,
            nodes: Vec::new()
        }
    );
    alloy_trie::proof::verify_proof(EMPTY_ROOT, Nibbles::unpack(B256::ZERO), None, &[])
        .expect("empty");
}
