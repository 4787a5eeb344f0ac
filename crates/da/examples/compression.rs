//! Measures brotli and zstd on realistic batch bodies, to choose the body codec.
//!
//! `cargo run --release -p cairn-da --example compression`
//!
//! Each body is 2,400 L2 blocks (10 minutes of 250 ms blocks) at a given load: the
//! number of transactions per block is Poisson-distributed (so quiet periods give empty
//! blocks), 60% are EIP-1559 ETH transfers and 40% ERC-20 `transfer` calls on one of
//! five tokens, sent by 2,000 accounts (nonces in order) to fresh or known addresses,
//! each signed with its own random key. Figures are printed as Markdown tables: ratio
//! (compressed / raw), compression and decompression speed in MB/s of raw body, and the
//! reveals each body needs at the default reveal weight.

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use cairn_da::compress::{compress_brotli, decompress_brotli};
use cairn_da::{BatchBlock, DEFAULT_MAX_REVEAL_WEIGHT, encode_blocks, max_chunk_payload};

const BLOCKS: u64 = 2_400;
const ACCOUNTS: usize = 2_000;
const CHAIN_ID: u64 = 31337;
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// splitmix64: a reproducible random stream without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Knuth's Poisson sampler (fine for the small means used here).
    fn poisson(&mut self, mean: f64) -> u64 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }

    fn address(&mut self) -> Address {
        Address::from_slice(&keccak256(self.next().to_be_bytes())[12..])
    }
}

struct World {
    rng: Rng,
    signers: Vec<PrivateKeySigner>,
    nonces: Vec<u64>,
    tokens: Vec<Address>,
}

impl World {
    fn new(seed: u64) -> anyhow::Result<Self> {
        let mut rng = Rng(seed);
        let signers = (0..ACCOUNTS)
            .map(|_| PrivateKeySigner::from_bytes(&B256::from(keccak256(rng.next().to_be_bytes()))))
            .collect::<Result<Vec<_>, _>>()?;
        let tokens = (0..5).map(|_| rng.address()).collect();
        Ok(Self {
            rng,
            signers,
            nonces: vec![0; ACCOUNTS],
            tokens,
        })
    }

    fn recipient(&mut self) -> Address {
        if self.rng.below(10) < 3 {
            let i = self.rng.below(ACCOUNTS as u64) as usize;
            self.signers[i].address()
        } else {
            self.rng.address()
        }
    }

    /// One signed transaction, as wallets would build it.
    fn transaction(&mut self) -> anyhow::Result<Bytes> {
        let sender = self.rng.below(ACCOUNTS as u64) as usize;
        let to = self.recipient();
        let tips = [0u128, 1_000_000, 10_000_000, 1_000_000_000];
        let tip = tips[self.rng.below(4) as usize];
        let (kind, value, input, gas_limit) = if self.rng.below(10) < 6 {
            let value = U256::from(self.rng.below(1_000_000)) * U256::from(1_000_000_000_000u64);
            (TxKind::Call(to), value, Bytes::new(), 21_000)
        } else {
            let token = self.tokens[self.rng.below(5) as usize];
            let amount = U256::from(self.rng.below(10_000)) * U256::from(10u64).pow(U256::from(16));
            let mut call = TRANSFER_SELECTOR.to_vec();
            call.extend_from_slice(&[0; 12]);
            call.extend_from_slice(to.as_slice());
            call.extend_from_slice(&amount.to_be_bytes::<32>());
            (
                TxKind::Call(token),
                U256::ZERO,
                Bytes::from(call),
                52_000 + self.rng.below(20_000),
            )
        };
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: self.nonces[sender],
            gas_limit,
            max_fee_per_gas: 20_000_000 + tip,
            max_priority_fee_per_gas: tip,
            to: kind,
            value,
            access_list: Default::default(),
            input,
        };
        self.nonces[sender] += 1;
        let signature = self.signers[sender].sign_hash_sync(&tx.signature_hash())?;
        Ok(TxEnvelope::Eip1559(tx.into_signed(signature))
            .encoded_2718()
            .into())
    }

    /// 2,400 blocks at `tps` transactions per second on average.
    fn body(&mut self, tps: f64) -> anyhow::Result<Vec<BatchBlock>> {
        let beneficiary = Address::repeat_byte(0xfe);
        (0..BLOCKS)
            .map(|i| {
                let count = self.rng.poisson(tps / 4.0);
                Ok(BatchBlock {
                    timestamp: 1_750_000_000 + i / 4,
                    beneficiary,
                    l1_fee_rate: 500,
                    transactions: (0..count)
                        .map(|_| self.transaction())
                        .collect::<anyhow::Result<_>>()?,
                    deposits: Vec::new(),
                    payouts: Vec::new(),
                })
            })
            .collect()
    }
}

/// Runs `f` until `min` has passed (at least once); returns the last result and the
/// mean time per run.
fn timed<T>(
    min: Duration,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let mut runs = 0u32;
    loop {
        let out = f()?;
        runs += 1;
        if start.elapsed() >= min {
            return Ok((out, start.elapsed() / runs));
        }
    }
}

fn mbps(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

fn measure(
    name: &str,
    raw: &[u8],
    chunk: usize,
    compress: impl Fn() -> anyhow::Result<Vec<u8>>,
    decompress: impl Fn(&[u8]) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<()> {
    let (packed, c_time) = timed(Duration::from_millis(300), &compress)?;
    let (unpacked, d_time) = timed(Duration::from_millis(300), || decompress(&packed))?;
    anyhow::ensure!(unpacked == raw, "{name} did not round-trip");
    println!(
        "| {name} | {} | {:.3} | {:.1} | {:.0} | {} |",
        packed.len(),
        packed.len() as f64 / raw.len() as f64,
        mbps(raw.len(), c_time),
        mbps(raw.len(), d_time),
        (packed.len() + 234).div_ceil(chunk)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let chunk = max_chunk_payload(DEFAULT_MAX_REVEAL_WEIGHT);
    let mut world = World::new(0xca1f)?;
    for tps in [2.0, 20.0, 100.0] {
        let blocks = world.body(tps)?;
        let txs: usize = blocks.iter().map(|b| b.transactions.len()).sum();
        let empty = blocks.iter().filter(|b| b.transactions.is_empty()).count();
        let raw = encode_blocks(&blocks)?;
        println!(
            "\n### {tps} tx/s: {} blocks ({empty} empty), {txs} transactions, raw body {} bytes ({:.1} bytes/tx)\n",
            blocks.len(),
            raw.len(),
            raw.len() as f64 / txs.max(1) as f64
        );
        println!("| codec | bytes | ratio | compress MB/s | decompress MB/s | reveals |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for q in [1u32, 5, 9, 11] {
            measure(
                &format!("brotli q{q}"),
                &raw,
                chunk,
                || Ok(compress_brotli(&raw, q)?),
                |p| Ok(decompress_brotli(p, 64 << 20)?),
            )?;
        }
        for level in [3i32, 9, 19, 22] {
            measure(
                &format!("zstd {level}"),
                &raw,
                chunk,
                || Ok(zstd::bulk::compress(&raw, level)?),
                |p| Ok(zstd::bulk::decompress(p, 64 << 20)?),
            )?;
        }
    }
    Ok(())
}
