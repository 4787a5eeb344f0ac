//! Cairn's data availability on Bitcoin: the formats in which the sequencer's L2 blocks
//! are posted to Bitcoin and the pure functions that write, find and reassemble them.
//!
//! - [`header`]: the batch header, its tagged hash and the sequencer's BIP340 signature;
//! - [`body`]: the blocks' re-execution inputs and their strict encoding;
//! - [`compress`](mod@compress): the body codec (brotli), with a capped, bomb-proof decoder;
//! - [`envelope`]: taproot commit/reveal envelopes, chunk sizing and L1 scanning;
//! - [`assembler`]: chunks in L1 order in, verified complete batches out, with bounded
//!   memory and reorg rewinds.
//!
//! This crate does no I/O: no wallet, no fee estimation, no RPC, no clock, no storage.
//! The batcher and the follower wrap it; everything here is deterministic, so it can be
//! tested, fuzzed and one day proven on its own. Decoders take hostile bytes and
//! return errors, never panic. The formats are described in `docs/BATCHES.md`.

pub mod assembler;
pub mod body;
mod codec;
pub mod compress;
pub mod envelope;
pub mod error;
pub mod header;

pub use assembler::{AssembledBatch, Assembler, AssemblerConfig, ChunkPosition, Rejected};
pub use body::{
    BatchBlock, compress_blocks, decode_batch_body, decode_blocks, encode_blocks, verify_body,
};
pub use compress::{DEFAULT_MAX_DECOMPRESSED, compress, decompress};
pub use envelope::{
    Chunk, ChunkHeader, DEFAULT_MAX_REVEAL_WEIGHT, build_reveal, commit_output, envelope_leaves,
    max_chunk_payload, reveal_weight, scan_transaction,
};
pub use error::{Error, Result};
pub use header::{
    BATCH_VERSION, BatchHeader, Compression, MIN_BATCH_VERSION, SignedBatchHeader, body_hash,
};
