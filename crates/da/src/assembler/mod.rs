//! Assembly: chunks found on L1, fed in L1 order, come out as complete batches whose
//! body matches the header and whose header the sequencer signed.
//!
//! Chunks are grouped by `(envelope key, batch hash)`: only the holder of a leaf's key
//! can spend it, so a stranger posting junk under a real batch's hash lands in its own
//! group and cannot spoil the batcher's. A group's chunk 0 is verified on arrival
//! (signed header, hash, chain, sequencer signature), which marks the group as
//! genuine; the batch is yielded once every chunk is there and the body's length and
//! SHA-256 match.
//!
//! Memory is bounded: incomplete groups older than `max_age` L1 blocks are dropped,
//! buffered chunk bytes are capped (unverified groups are evicted first, oldest first),
//! and completed batches keep their chunks only `reorg_window` blocks, so that
//! [`Assembler::rewind_to`] can put a batch back together after a shallow reorg.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::B256;
use bitcoin::Txid;
use bitcoin::secp256k1::XOnlyPublicKey;

use crate::body::verify_body;
use crate::envelope::Chunk;
use crate::error::Error;
use crate::header::{SIGNED_HEADER_LEN, SignedBatchHeader};

mod pending;

use pending::{GroupKey, Pending, PendingSet, Stored};

const TARGET: &str = "cairn::da::assembler";

/// Limits and trust roots of an [`Assembler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssemblerConfig {
    /// The L2 chain id batches must carry.
    pub chain_id: u64,
    /// The sequencer set's keys: only batches one of them signed come out (which one is
    /// active is derivation's question).
    pub sequencers: Vec<XOnlyPublicKey>,
    /// Incomplete batches first seen more than this many L1 blocks ago are dropped, and
    /// completed batch hashes are remembered (to refuse re-posts) this long.
    pub max_age: u32,
    /// Cap on buffered chunk bytes (plus [`CHUNK_OVERHEAD`] per chunk) of incomplete
    /// batches.
    pub max_buffered_bytes: usize,
    /// Largest compressed body accepted.
    pub max_body_len: u32,
    /// Completed batches keep their chunks this many L1 blocks, for rewinds. That data
    /// is the sequencer's, bounded by what L1 blocks can carry in the window, and not
    /// counted in `max_buffered_bytes`.
    pub reorg_window: u32,
}

impl AssemblerConfig {
    /// Defaults: a day of L1 blocks, 64 MiB buffered, 16 MiB bodies, 12-block rewinds.
    pub fn new(chain_id: u64, sequencer: XOnlyPublicKey) -> Self {
        Self::for_set(chain_id, vec![sequencer])
    }

    /// [`AssemblerConfig::new`] for a sequencer set.
    pub fn for_set(chain_id: u64, sequencers: Vec<XOnlyPublicKey>) -> Self {
        Self {
            chain_id,
            sequencers,
            max_age: 144,
            max_buffered_bytes: 64 << 20,
            max_body_len: 16 << 20,
            reorg_window: 12,
        }
    }
}

/// Bytes charged per buffered chunk on top of its data, so that many tiny chunks cannot
/// slip under the cap.
pub const CHUNK_OVERHEAD: usize = 128;

/// Where a chunk was found on L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkPosition {
    /// Height of the L1 block.
    pub l1_height: u32,
    /// The reveal transaction.
    pub txid: Txid,
}

/// A complete, verified batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledBatch {
    /// The signed header (signature checked against the sequencer key).
    pub header: SignedBatchHeader,
    /// The compressed body (length and SHA-256 checked against the header).
    pub body: Vec<u8>,
    /// The envelope key the chunks were posted under.
    pub batcher: XOnlyPublicKey,
    /// Which key of the sequencer set signed it (its index).
    pub signer: usize,
    /// Where each chunk was found, by chunk index.
    pub positions: Vec<ChunkPosition>,
}

impl AssembledBatch {
    /// The L1 height at which the batch became complete (its last chunk's).
    pub fn l1_height(&self) -> u32 {
        self.positions
            .iter()
            .map(|p| p.l1_height)
            .max()
            .unwrap_or(0)
    }
}

/// Why a chunk was not taken, or a group was dropped. Expected in normal operation
/// (anyone can post envelopes); for logs and metrics, not for alarm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The chunk names another chain.
    #[error("chunk for chain {got}, expected {expected}")]
    WrongChain {
        /// The configured chain id.
        expected: u64,
        /// The chunk's.
        got: u64,
    },
    /// The batch was already assembled.
    #[error("batch {0} already assembled")]
    AlreadyAssembled(B256),
    /// The same chunk again.
    #[error("duplicate chunk {index} of batch {batch}")]
    Duplicate {
        /// Batch hash.
        batch: B256,
        /// Chunk index.
        index: u16,
    },
    /// A different chunk under the same key, batch and index: the first one stays.
    #[error("conflicting chunk {index} of batch {batch}")]
    Conflict {
        /// Batch hash.
        batch: B256,
        /// Chunk index.
        index: u16,
    },
    /// The chunk's count or size disagrees with its group or the limits.
    #[error("inconsistent chunk {index} of batch {batch}: {reason}")]
    Inconsistent {
        /// Batch hash.
        batch: B256,
        /// Chunk index.
        index: u16,
        /// What disagrees.
        reason: &'static str,
    },
    /// Chunk 0 does not hold a valid signed header for the batch it names.
    #[error("bad first chunk of batch {batch}: {error}")]
    BadHeader {
        /// Batch hash.
        batch: B256,
        /// Why.
        error: Error,
    },
    /// The header is not signed by the sequencer.
    #[error("batch {0} is not signed by the sequencer")]
    Forged(B256),
    /// All chunks arrived but the body does not match the header; the group is dropped.
    #[error("corrupt batch {batch}: {error}")]
    Corrupt {
        /// Batch hash.
        batch: B256,
        /// Why.
        error: Error,
    },
    /// No room even after evicting every other incomplete batch.
    #[error("chunk of {0} bytes does not fit the buffer")]
    BufferFull(usize),
}

/// A completed batch: remembered to refuse re-posts, with its chunks while a reorg
/// could still undo it.
#[derive(Debug)]
struct Done {
    completed_at: u32,
    key: GroupKey,
    header: SignedBatchHeader,
    chunks: Option<BTreeMap<u16, Stored>>,
}

/// Turns chunks fed in L1 order into verified batches. See the module docs.
#[derive(Debug)]
pub struct Assembler {
    config: AssemblerConfig,
    pending: PendingSet,
    done: HashMap<B256, Done>,
    /// Highest L1 height fed (or rewound to).
    tip: u32,
}

impl Assembler {
    /// An empty assembler.
    pub fn new(config: AssemblerConfig) -> Self {
        Self {
            config,
            pending: PendingSet::default(),
            done: HashMap::new(),
            tip: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AssemblerConfig {
        &self.config
    }

    /// Bytes held for incomplete batches (data plus per-chunk overhead).
    pub fn buffered_bytes(&self) -> usize {
        self.pending.bytes()
    }

    /// Incomplete batches held.
    pub fn pending_batches(&self) -> usize {
        self.pending.len()
    }

    /// Takes one chunk found at `l1_height` in `txid`. Returns the batch it completes,
    /// if any, or why it was refused. Chunks must come in L1 order (within a block, in
    /// transaction order); after a reorg, call [`Assembler::rewind_to`] first.
    pub fn push(
        &mut self,
        l1_height: u32,
        txid: Txid,
        chunk: Chunk,
    ) -> Result<Option<AssembledBatch>, Rejected> {
        self.advance(l1_height);
        let result = self.accept(l1_height, txid, chunk);
        if let Err(reason) = &result {
            tracing::debug!(target: TARGET, l1_height, %txid, %reason, "chunk rejected");
        }
        result
    }

    /// Forgets that batch `hash` was assembled, so another copy of it can be: derivation
    /// refused this one for who signed it (a member of the sequencer set whose turn it was
    /// not, perhaps copying the active one's batch to get in first), and the active
    /// member's own copy must still count.
    pub fn forget(&mut self, hash: &B256) {
        self.done.remove(hash);
    }

    /// Forgets every chunk found above `l1_height` (an L1 reorg). Batches completed
    /// above it go back to pending with their remaining chunks; their hashes are
    /// returned in batch-number order, so the caller can undo what it derived from
    /// them. A batch completed more than `reorg_window` blocks before the tip cannot be
    /// restored: the caller must rescan L1 from before its first chunk.
    pub fn rewind_to(&mut self, l1_height: u32) -> Vec<B256> {
        self.pending.drop_above(l1_height);
        let mut undone: Vec<(u64, B256)> = self
            .done
            .iter()
            .filter(|(_, d)| d.completed_at > l1_height)
            .map(|(h, d)| (d.header.header.number, *h))
            .collect();
        undone.sort();
        let undone: Vec<B256> = undone.into_iter().map(|(_, h)| h).collect();
        for hash in &undone {
            let Some(done) = self.done.remove(hash) else {
                continue;
            };
            let Some(chunks) = done.chunks else {
                tracing::warn!(target: TARGET, batch = %hash, "reorg deeper than the window: rescan needed");
                continue;
            };
            // Every chunk was there when the batch completed.
            let count = u16::try_from(chunks.len()).unwrap_or(u16::MAX);
            let kept: BTreeMap<u16, Stored> = chunks
                .into_iter()
                .filter(|(_, s)| s.pos.l1_height <= l1_height)
                .collect();
            let header = kept.contains_key(&0).then_some(done.header);
            self.pending.restore(done.key, count, header, kept);
        }
        self.tip = self.tip.min(l1_height);
        undone
    }

    /// Moves the tip forward and drops what has aged out.
    fn advance(&mut self, l1_height: u32) {
        if l1_height <= self.tip {
            return;
        }
        self.tip = l1_height;
        let (max_age, reorg_window) = (self.config.max_age, self.config.reorg_window);
        self.pending.expire(l1_height.saturating_sub(max_age));
        self.done
            .retain(|_, d| d.completed_at.saturating_add(max_age) >= l1_height);
        for done in self.done.values_mut() {
            if done.completed_at.saturating_add(reorg_window) < l1_height {
                done.chunks = None;
            }
        }
    }

    fn accept(
        &mut self,
        l1_height: u32,
        txid: Txid,
        chunk: Chunk,
    ) -> Result<Option<AssembledBatch>, Rejected> {
        self.check_chunk(&chunk)?;
        let h = chunk.header;
        let key = (chunk.key, h.batch_hash);
        self.check_against_group(&key, &chunk)?;
        let verified = if h.index == 0 {
            Some(self.verify_first(&chunk)?)
        } else {
            None
        };
        self.check_size(&key, &chunk, verified)?;
        let cost = chunk.data.len() + CHUNK_OVERHEAD;
        if !self
            .pending
            .make_room(cost, &key, self.config.max_buffered_bytes)
        {
            return Err(Rejected::BufferFull(chunk.data.len()));
        }
        let stored = Stored {
            pos: ChunkPosition { l1_height, txid },
            data: chunk.data,
        };
        let group = self
            .pending
            .insert(key, l1_height, h.count, h.index, stored, verified);
        if group.is_complete() {
            return self.complete(key).map(Some);
        }
        Ok(None)
    }

    /// Checks that hold for any chunk on its own: this chain, a batch not yet done,
    /// an index in range, some data.
    fn check_chunk(&self, chunk: &Chunk) -> Result<(), Rejected> {
        let h = chunk.header;
        if h.chain_id != self.config.chain_id {
            return Err(Rejected::WrongChain {
                expected: self.config.chain_id,
                got: h.chain_id,
            });
        }
        if self.done.contains_key(&h.batch_hash) {
            return Err(Rejected::AlreadyAssembled(h.batch_hash));
        }
        if h.index >= h.count || chunk.data.is_empty() {
            return Err(inconsistent(chunk, "empty or out-of-range chunk"));
        }
        Ok(())
    }

    /// Checks a chunk against the chunks already in its group: same count, a new index.
    fn check_against_group(&self, key: &GroupKey, chunk: &Chunk) -> Result<(), Rejected> {
        let Some(group) = self.pending.get(key) else {
            return Ok(());
        };
        let (batch, index) = (chunk.header.batch_hash, chunk.header.index);
        if group.count != chunk.header.count {
            return Err(inconsistent(
                chunk,
                "chunk count differs from earlier chunks",
            ));
        }
        match group.chunks.get(&index) {
            None => Ok(()),
            Some(existing) if existing.data == chunk.data => {
                Err(Rejected::Duplicate { batch, index })
            }
            Some(_) => Err(Rejected::Conflict { batch, index }),
        }
    }

    /// Checks that the group's data stays within what its header (or, before chunk 0,
    /// `max_body_len`) allows.
    fn check_size(
        &self,
        key: &GroupKey,
        chunk: &Chunk,
        verified: Option<SignedBatchHeader>,
    ) -> Result<(), Rejected> {
        let group = self.pending.get(key);
        let body_cap = match verified.or_else(|| group.and_then(|g| g.header)) {
            Some(signed) => signed.header.body_len as usize,
            None => self.config.max_body_len as usize,
        };
        let have = group.map_or(0, |g| g.data_len);
        if have + chunk.data.len() > SIGNED_HEADER_LEN + body_cap {
            return Err(inconsistent(chunk, "more data than the batch can hold"));
        }
        Ok(())
    }

    /// Checks chunk 0's signed header: well-formed, the batch the chunk names, this
    /// chain, signed by the sequencer, body within limits.
    fn verify_first(&self, chunk: &Chunk) -> Result<SignedBatchHeader, Rejected> {
        let batch = chunk.header.batch_hash;
        let bad = |error| Rejected::BadHeader { batch, error };
        let bytes = chunk
            .data
            .get(..SIGNED_HEADER_LEN)
            .ok_or(bad(Error::Truncated("signed batch header")))?;
        let signed = SignedBatchHeader::decode(bytes).map_err(bad)?;
        if signed.hash() != batch {
            return Err(bad(Error::Envelope(
                "header hash differs from the chunk's batch hash",
            )));
        }
        if signed.header.chain_id != self.config.chain_id {
            return Err(bad(Error::InvalidHeader("header names another chain")));
        }
        if signed.header.body_len > self.config.max_body_len {
            return Err(bad(Error::InvalidHeader("body longer than max_body_len")));
        }
        self.signer_of(&signed).ok_or(Rejected::Forged(batch))?;
        Ok(signed)
    }

    /// The index of the set's key that signed `signed`.
    fn signer_of(&self, signed: &SignedBatchHeader) -> Option<usize> {
        self.config
            .sequencers
            .iter()
            .position(|key| signed.verify(key).is_ok())
    }

    /// Joins a complete group's chunks, checks the body, and records the batch as done.
    fn complete(&mut self, key: GroupKey) -> Result<AssembledBatch, Rejected> {
        let batch = key.1;
        let Some(Pending {
            header: Some(header),
            chunks,
            ..
        }) = self.pending.remove(&key)
        else {
            return Err(Rejected::Corrupt {
                batch,
                error: Error::Truncated("batch without a verified header"),
            });
        };
        let mut stream = Vec::with_capacity(SIGNED_HEADER_LEN + header.header.body_len as usize);
        for stored in chunks.values() {
            stream.extend_from_slice(&stored.data);
        }
        let body = stream.split_off(SIGNED_HEADER_LEN.min(stream.len()));
        if let Err(error) = verify_body(&header.header, &body) {
            tracing::warn!(target: TARGET, %batch, %error, "sequencer-signed batch with a corrupt body dropped");
            return Err(Rejected::Corrupt { batch, error });
        }
        let positions: Vec<ChunkPosition> = chunks.values().map(|s| s.pos).collect();
        let signer = self.signer_of(&header).unwrap_or_default();
        let assembled = AssembledBatch {
            header,
            body,
            batcher: key.0,
            signer,
            positions,
        };
        self.pending.remove_batch(&batch);
        self.done.insert(
            batch,
            Done {
                completed_at: assembled.l1_height(),
                key,
                header,
                chunks: Some(chunks),
            },
        );
        tracing::info!(target: TARGET, %batch, number = header.header.number, l1_height = assembled.l1_height(), "batch assembled");
        Ok(assembled)
    }
}

fn inconsistent(chunk: &Chunk, reason: &'static str) -> Rejected {
    Rejected::Inconsistent {
        batch: chunk.header.batch_hash,
        index: chunk.header.index,
        reason,
    }
}
