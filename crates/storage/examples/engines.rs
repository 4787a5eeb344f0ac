//! Storage-engine measurement: fjall (LSM, what cairn-storage uses) against
//! redb (copy-on-write B-tree), on the write pattern of `Storage::commit`.
//!
//! Each of N blocks commits one atomic batch holding a block blob, a receipts
//! blob, the tx-hash index entries, the changed accounts (20-byte key →
//! 73-byte value, drawn from a pre-populated pool) and the changed storage
//! slots (52-byte key → 32-byte value), plus the hash → number entry and the
//! `head` marker, exactly like `crates/storage/src/store.rs`.
//!
//! ```text
//! cargo run --release -p cairn-storage --example engines
//! cargo run --release -p cairn-storage --example engines -- --blocks 200 --no-slots
//! cargo run --release -p cairn-storage --example engines -- --engines fjall,redb,fjall-kvsep --modes sync
//! ```
//!
//! Options: `--blocks N` (400), `--reads N` (100000), `--no-slots`,
//! `--engines LIST` (fjall,redb; also fjall-kvsep), `--modes LIST`
//! (sync,nosync), `--dir PATH` (where the temp dirs go; default: the system
//! temp dir — make sure it is a real disk, not tmpfs, or fsync is free).
//!
//! Both engines run with their default settings (fjall: 32 MiB block cache,
//! leveled compaction, lz4; redb: 1 GiB page cache, no compression). All data
//! comes from a fixed-seed generator, so every engine writes the same bytes.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fjall::{KeyspaceCreateOptions, KvSeparationOptions, PersistMode};
use redb::{Durability, ReadableDatabase, TableDefinition};

type Res<T> = Result<T, Box<dyn Error>>;

// ---------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Workload {
    blocks: u64,
    account_pool: usize,
    accounts_per_block: usize,
    txs_per_block: usize,
    slots_per_block: usize,
    slot_pool: u64,
    block_bytes: usize,
    receipts_bytes: usize,
    reads: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            blocks: 400,
            account_pool: 200_000,
            accounts_per_block: 5_000,
            txs_per_block: 2_500,
            slots_per_block: 5_000,
            slot_pool: 1_000_000,
            block_bytes: 300 * 1024,
            receipts_bytes: 150 * 1024,
            reads: 100_000,
        }
    }
}

/// splitmix64: small, fast, deterministic; no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

/// A blob shaped roughly like RLP-encoded transactions/receipts: per 128-byte
/// record, 85 bytes of high-entropy data (signature, address, hashes) and 43
/// bytes of small integers and zero padding. Compresses somewhat, not much.
fn blob(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for record in out.chunks_mut(128) {
        let random = record.len().min(85);
        rng.fill(&mut record[..random]);
        if record.len() > 90 {
            record[88] = (rng.next() & 0xff) as u8;
            record[89] = 0x01;
        }
    }
    out
}

fn account_value(rng: &mut Rng) -> [u8; 73] {
    let mut v = [0u8; 73];
    v[0] = 1; // ACCOUNT_V1
    v[1..9].copy_from_slice(&rng.below(10_000).to_be_bytes()); // nonce
    rng.fill(&mut v[33..41]); // balance: low 8 bytes of a U256
    rng.fill(&mut v[41..73]); // code hash
    v
}

fn slot_key(accounts: &[[u8; 20]], index: u64) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(&accounts[(index % accounts.len() as u64) as usize]);
    let mut rng = Rng(index ^ 0x5107_5107);
    rng.fill(&mut key[20..]);
    key
}

struct BlockData {
    number: [u8; 8],
    hash: [u8; 32],
    block: Vec<u8>,
    receipts: Vec<u8>,
    txs: Vec<([u8; 32], [u8; 12])>,
    accounts: Vec<([u8; 20], [u8; 73])>,
    slots: Vec<([u8; 52], [u8; 32])>,
}

impl BlockData {
    fn generate(w: &Workload, accounts: &[[u8; 20]], number: u64) -> Self {
        let mut rng = Rng(number.wrapping_mul(0x1000_0001) ^ 0xB10C);
        let txs = (0..w.txs_per_block)
            .map(|i| {
                let mut loc = [0u8; 12];
                loc[..8].copy_from_slice(&number.to_be_bytes());
                loc[8..].copy_from_slice(&(i as u32).to_be_bytes());
                (rng.array::<32>(), loc)
            })
            .collect();
        let changed = (0..w.accounts_per_block)
            .map(|_| {
                let address = accounts[rng.below(accounts.len() as u64) as usize];
                (address, account_value(&mut rng))
            })
            .collect();
        let slots = (0..w.slots_per_block)
            .map(|_| {
                let key = slot_key(accounts, rng.below(w.slot_pool));
                (key, rng.array::<32>())
            })
            .collect();
        Self {
            number: number.to_be_bytes(),
            hash: rng.array(),
            block: blob(&mut rng, w.block_bytes),
            receipts: blob(&mut rng, w.receipts_bytes),
            txs,
            accounts: changed,
            slots,
        }
    }
}

// ---------------------------------------------------------------------------
// Engines
// ---------------------------------------------------------------------------

trait Engine {
    /// Load the initial accounts (not timed).
    fn prepopulate(&mut self, accounts: &[([u8; 20], [u8; 73])]) -> Res<()>;
    /// One atomic, (if `sync`) durable block commit.
    fn commit_block(&mut self, block: &BlockData) -> Res<()>;
    /// Make everything durable (the end of a no-fsync run).
    fn finish(&mut self) -> Res<()>;
    /// Read each account; return the latency of each read.
    fn read_accounts(&self, keys: &[[u8; 20]]) -> Res<Vec<Duration>>;
    /// Where the bytes on disk are, in the engine's own terms.
    fn space_detail(&self) -> Res<String>;
}

struct Fjall {
    sync: bool,
    path: PathBuf,
    db: fjall::Database,
    meta: fjall::Keyspace,
    blocks: fjall::Keyspace,
    hashes: fjall::Keyspace,
    receipts: fjall::Keyspace,
    txs: fjall::Keyspace,
    accounts: fjall::Keyspace,
    storage: fjall::Keyspace,
}

impl Fjall {
    /// `kv_separation`: store the block and receipt blobs in fjall's blob
    /// files (values ≥ 1 KiB are kept out of the LSM tree and its compactions).
    fn open(path: &Path, sync: bool, kv_separation: bool) -> Res<Self> {
        let db = fjall::Database::builder(path).open()?;
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let blob_ks = |name: &str| {
            db.keyspace(name, || {
                let opts = KeyspaceCreateOptions::default();
                if kv_separation {
                    opts.with_kv_separation(Some(KvSeparationOptions::default()))
                } else {
                    opts
                }
            })
        };
        Ok(Self {
            sync,
            path: path.to_path_buf(),
            meta: ks("meta")?,
            blocks: blob_ks("blocks")?,
            hashes: ks("hashes")?,
            receipts: blob_ks("receipts")?,
            txs: ks("txs")?,
            accounts: ks("accounts")?,
            storage: ks("storage")?,
            db,
        })
    }
}

impl Engine for Fjall {
    fn prepopulate(&mut self, accounts: &[([u8; 20], [u8; 73])]) -> Res<()> {
        for chunk in accounts.chunks(20_000) {
            let mut batch = self.db.batch();
            for (k, v) in chunk {
                batch.insert(&self.accounts, k.as_slice(), v.as_slice());
            }
            batch.commit()?;
        }
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn commit_block(&mut self, b: &BlockData) -> Res<()> {
        let mut batch = self.db.batch();
        batch.insert(&self.blocks, b.number, b.block.as_slice());
        batch.insert(&self.hashes, b.hash, b.number);
        batch.insert(&self.receipts, b.number, b.receipts.as_slice());
        for (k, v) in &b.txs {
            batch.insert(&self.txs, k.as_slice(), v.as_slice());
        }
        for (k, v) in &b.accounts {
            batch.insert(&self.accounts, k.as_slice(), v.as_slice());
        }
        for (k, v) in &b.slots {
            batch.insert(&self.storage, k.as_slice(), v.as_slice());
        }
        batch.insert(&self.meta, "head", b.number);
        batch.commit()?;
        if self.sync {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Res<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn read_accounts(&self, keys: &[[u8; 20]]) -> Res<Vec<Duration>> {
        let mut lat = Vec::with_capacity(keys.len());
        for key in keys {
            let t = Instant::now();
            let v = self.accounts.get(key)?;
            lat.push(t.elapsed());
            if v.map(|v| v.len()) != Some(73) {
                return Err("fjall: account missing".into());
            }
        }
        Ok(lat)
    }

    fn space_detail(&self) -> Res<String> {
        let (total, _) = disk_usage(&self.path)?;
        let (tables, _) = disk_usage(&self.path.join("keyspaces"))?;
        Ok(format!(
            "journal {} MiB in {} file(s) (not yet flushed into tables), tables {} MiB",
            mib(total - tables),
            self.db.journal_count(),
            mib(tables)
        ))
    }
}

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;
const META: Table = TableDefinition::new("meta");
const BLOCKS: Table = TableDefinition::new("blocks");
const HASHES: Table = TableDefinition::new("hashes");
const RECEIPTS: Table = TableDefinition::new("receipts");
const TXS: Table = TableDefinition::new("txs");
const ACCOUNTS: Table = TableDefinition::new("accounts");
const STORAGE: Table = TableDefinition::new("storage");

struct Redb {
    sync: bool,
    db: redb::Database,
}

impl Redb {
    fn open(path: &Path, sync: bool) -> Res<Self> {
        let db = redb::Database::create(path.join("cairn.redb"))?;
        Ok(Self { sync, db })
    }
}

impl Engine for Redb {
    fn prepopulate(&mut self, accounts: &[([u8; 20], [u8; 73])]) -> Res<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(ACCOUNTS)?;
            for (k, v) in accounts {
                t.insert(k.as_slice(), v.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn commit_block(&mut self, b: &BlockData) -> Res<()> {
        let mut txn = self.db.begin_write()?;
        if !self.sync {
            txn.set_durability(Durability::None)?;
        }
        {
            let number = b.number.as_slice();
            txn.open_table(BLOCKS)?.insert(number, b.block.as_slice())?;
            txn.open_table(HASHES)?.insert(b.hash.as_slice(), number)?;
            txn.open_table(RECEIPTS)?
                .insert(number, b.receipts.as_slice())?;
            let mut t = txn.open_table(TXS)?;
            for (k, v) in &b.txs {
                t.insert(k.as_slice(), v.as_slice())?;
            }
            drop(t);
            let mut t = txn.open_table(ACCOUNTS)?;
            for (k, v) in &b.accounts {
                t.insert(k.as_slice(), v.as_slice())?;
            }
            drop(t);
            let mut t = txn.open_table(STORAGE)?;
            for (k, v) in &b.slots {
                t.insert(k.as_slice(), v.as_slice())?;
            }
            drop(t);
            txn.open_table(META)?.insert(b"head".as_slice(), number)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn finish(&mut self) -> Res<()> {
        // A durable commit makes all preceding Durability::None commits durable.
        let txn = self.db.begin_write()?;
        txn.open_table(META)?
            .insert(b"synced".as_slice(), b"1".as_slice())?;
        txn.commit()?;
        Ok(())
    }

    fn read_accounts(&self, keys: &[[u8; 20]]) -> Res<Vec<Duration>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACCOUNTS)?;
        let mut lat = Vec::with_capacity(keys.len());
        for key in keys {
            let t = Instant::now();
            let v = table.get(key.as_slice())?;
            let len = v.map(|v| v.value().len());
            lat.push(t.elapsed());
            if len != Some(73) {
                return Err("redb: account missing".into());
            }
        }
        Ok(lat)
    }

    fn space_detail(&self) -> Res<String> {
        let txn = self.db.begin_write()?;
        let stats = txn.stats()?;
        txn.abort()?;
        Ok(format!(
            "pages in use {} MiB (stored keys+values {} MiB, B-tree metadata {} MiB); the rest of the file is free pages",
            mib(stats.allocated_pages() * stats.page_size() as u64),
            mib(stats.stored_bytes()),
            mib(stats.metadata_bytes())
        ))
    }
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

struct Report {
    label: String,
    blocks_per_s: f64,
    commit_mean: Duration,
    commit_p50: Duration,
    commit_p99: Duration,
    commit_max: Duration,
    finish: Duration,
    close: Duration,
    disk_bytes: u64,
    disk_allocated: u64,
    read_mean: Duration,
    read_p99: Duration,
    written: u64,
    space_detail: String,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn mean(v: &[Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.iter().sum::<Duration>() / v.len() as u32
}

/// Bytes this process (all threads) has sent to the block layer so far
/// (`write_bytes` of `/proc/self/io`; 0 where that does not exist).
fn io_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// (apparent bytes, allocated bytes) of every file under `dir`.
fn disk_usage(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path())?;
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += meta.len();
            total.1 += meta.blocks() * 512;
        }
    }
    Ok(total)
}

fn run(
    engine_name: &str,
    sync: bool,
    w: &Workload,
    accounts: &[[u8; 20]],
    base: Option<&PathBuf>,
) -> Res<Report> {
    let dir = match base {
        Some(base) => tempfile::tempdir_in(base)?,
        None => tempfile::tempdir()?,
    };
    let mut engine: Box<dyn Engine> = match engine_name {
        "fjall" => Box::new(Fjall::open(dir.path(), sync, false)?),
        "fjall-kvsep" => Box::new(Fjall::open(dir.path(), sync, true)?),
        "redb" => Box::new(Redb::open(dir.path(), sync)?),
        other => return Err(format!("unknown engine {other}").into()),
    };
    let label = format!("{engine_name} {}", if sync { "sync" } else { "nosync" });

    let mut rng = Rng(0xACC0);
    let initial: Vec<([u8; 20], [u8; 73])> = accounts
        .iter()
        .map(|a| (*a, account_value(&mut rng)))
        .collect();
    engine.prepopulate(&initial)?;
    drop(initial);
    let written_before = io_written();

    let mut commits = Vec::with_capacity(w.blocks as usize);
    for number in 1..=w.blocks {
        let block = BlockData::generate(w, accounts, number);
        let t = Instant::now();
        engine.commit_block(&block)?;
        commits.push(t.elapsed());
    }
    let t = Instant::now();
    engine.finish()?;
    let finish = t.elapsed();

    let mut rng = Rng(0x2EAD);
    let keys: Vec<[u8; 20]> = (0..w.reads)
        .map(|_| accounts[rng.below(accounts.len() as u64) as usize])
        .collect();
    let mut reads = engine.read_accounts(&keys)?;
    let space_detail = engine.space_detail()?;

    let t = Instant::now();
    drop(engine);
    let close = t.elapsed();
    let written = io_written().saturating_sub(written_before);
    let (disk_bytes, disk_allocated) = disk_usage(dir.path())?;

    let total: Duration = commits.iter().sum::<Duration>() + finish;
    let commit_mean = mean(&commits);
    commits.sort_unstable();
    reads.sort_unstable();
    let report = Report {
        label,
        blocks_per_s: w.blocks as f64 / total.as_secs_f64(),
        commit_mean,
        commit_p50: percentile(&commits, 0.50),
        commit_p99: percentile(&commits, 0.99),
        commit_max: percentile(&commits, 1.0),
        finish,
        close,
        disk_bytes,
        disk_allocated,
        read_mean: mean(&reads),
        read_p99: percentile(&reads, 0.99),
        written,
        space_detail,
    };
    Ok(report)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6)
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

fn print_row(r: &Report) {
    println!(
        "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} |",
        r.label,
        r.blocks_per_s,
        ms(r.commit_mean),
        ms(r.commit_p50),
        ms(r.commit_p99),
        ms(r.commit_max),
        ms(r.finish),
        ms(r.close),
        mib(r.disk_bytes),
        mib(r.disk_allocated),
        us(r.read_mean),
        us(r.read_p99),
        mib(r.written),
    );
}

fn main() -> Res<()> {
    let mut w = Workload::default();
    let mut engines = vec!["fjall".to_string(), "redb".to_string()];
    let mut modes = vec![true, false];
    let mut base: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--blocks" => w.blocks = value()?.parse()?,
            "--reads" => w.reads = value()?.parse()?,
            "--no-slots" => w.slots_per_block = 0,
            "--engines" => engines = value()?.split(',').map(str::to_string).collect(),
            "--modes" => {
                modes = value()?
                    .split(',')
                    .map(|m| match m {
                        "sync" => Ok(true),
                        "nosync" => Ok(false),
                        other => Err(format!("unknown mode {other}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--dir" => base = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    let mut rng = Rng(0xADD2);
    let accounts: Vec<[u8; 20]> = (0..w.account_pool).map(|_| rng.array()).collect();

    let per_block = w.block_bytes
        + w.receipts_bytes
        + w.txs_per_block * (32 + 12)
        + w.accounts_per_block * (20 + 73)
        + w.slots_per_block * (52 + 32);
    println!(
        "workload: {} blocks; per block: {} KiB block + {} KiB receipts, {} tx-index, {} accounts (pool {}), {} slots (pool {}) = {:.2} MiB of keys+values; {} point reads",
        w.blocks,
        w.block_bytes / 1024,
        w.receipts_bytes / 1024,
        w.txs_per_block,
        w.accounts_per_block,
        w.account_pool,
        w.slots_per_block,
        w.slot_pool,
        per_block as f64 / (1024.0 * 1024.0),
        w.reads,
    );
    println!();
    println!(
        "| engine, mode | blocks/s | commit mean ms | p50 ms | p99 ms | max ms | final sync ms | close ms | disk MiB (allocated) | read mean µs | read p99 µs | written MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut details = Vec::new();
    for engine in &engines {
        for &sync in &modes {
            let report = run(engine, sync, &w, &accounts, base.as_ref())?;
            print_row(&report);
            details.push(format!("{}: {}", report.label, report.space_detail));
        }
    }
    println!();
    println!("space before close:");
    for line in details {
        println!("  {line}");
    }
    Ok(())
}
