//! Start-up rebuild and per-block root timing:
//! `cargo run --release -p cairn-trie --example trie_bench [entries] [rounds] [keys]`.

use alloy_primitives::B256;
use cairn_trie::Trie;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::time::{Duration, Instant};

fn value(rng: &mut StdRng) -> Vec<u8> {
    // Roughly an account's RLP: [nonce, balance, storageRoot, codeHash].
    let mut v = vec![0u8; 72];
    rng.fill(&mut v[..]);
    v
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let entries = args.next().flatten().unwrap_or(1_000_000);
    let rounds = args.next().flatten().unwrap_or(100);
    let per_round = args.next().flatten().unwrap_or(10_000);
    let mut rng = StdRng::seed_from_u64(42);

    let data: Vec<(B256, Vec<u8>)> = (0..entries)
        .map(|_| (B256::from(rng.random::<[u8; 32]>()), value(&mut rng)))
        .collect();
    let keys: Vec<B256> = data.iter().map(|(k, _)| *k).collect();
    let t = Instant::now();
    let mut trie = Trie::from_entries(data);
    let build = t.elapsed();
    let t = Instant::now();
    let root = trie.root();
    println!(
        "from_entries({entries}): build {build:?}, first root {:?} ({root})",
        t.elapsed()
    );

    let (mut insert_total, mut root_total, mut root_max) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        for i in 0..per_round {
            // 80% updates of existing keys, 10% new keys, 10% removals.
            match i % 10 {
                0 => trie.insert(B256::from(rng.random::<[u8; 32]>()), value(&mut rng)),
                1 => trie.remove(&keys[rng.random_range(0..keys.len())]),
                _ => {
                    let k = keys[rng.random_range(0..keys.len())];
                    trie.insert(k, value(&mut rng));
                }
            }
        }
        insert_total += t.elapsed();
        let t = Instant::now();
        trie.root();
        let e = t.elapsed();
        root_total += e;
        root_max = root_max.max(e);
    }
    let r = rounds.max(1) as u32;
    println!(
        "{rounds} rounds x {per_round} keys (len now {}): inserts avg {:?}/round, root avg {:?}, max {:?}",
        trie.len(),
        insert_total / r,
        root_total / r,
        root_max
    );
}
