//! Turning sealed L2 blocks into a signed batch: the inputs each block needs for
//! re-execution (timestamp, fee recipient, raw transactions), compressed, with the header
//! that links it to the previous batch and commits to the state root after its last block.

use alloy_primitives::B256;
use bitcoin::BlockHash;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::Keypair;
use cairn_da::{
    BATCH_VERSION, BatchBlock, BatchHeader, Compression, SignedBatchHeader, compress_blocks,
};
use cairn_storage::Storage;

/// Why a batch could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A block of the range is not in storage.
    #[error("block {0} is not in storage")]
    MissingBlock(u64),
    /// The range is empty or reversed.
    #[error("empty block range {first}..={last}")]
    EmptyRange {
        /// First block.
        first: u64,
        /// Last block.
        last: u64,
    },
    /// Reading storage failed.
    #[error(transparent)]
    Storage(#[from] cairn_storage::StorageError),
    /// Encoding, compression or signing failed.
    #[error(transparent)]
    Format(#[from] cairn_da::Error),
}

/// Where a batch sits in the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPosition {
    /// Its number (0 for the first).
    pub number: u64,
    /// The previous batch's header hash (zero for the first).
    pub prev_hash: B256,
    /// Its first L2 block.
    pub first_block: u64,
    /// Its last L2 block (inclusive).
    pub last_block: u64,
}

/// Builds and signs the batch for `position` from the sealed blocks in `storage`.
/// `l1_ref` is the L1 block the batch's deposits were read against.
pub fn build_batch(
    storage: &Storage,
    chain_id: u64,
    position: BatchPosition,
    l1_ref: (u32, BlockHash),
    sequencer: &Keypair,
) -> Result<(SignedBatchHeader, Vec<u8>), BatchError> {
    let BatchPosition {
        number,
        prev_hash,
        first_block,
        last_block,
    } = position;
    if first_block == 0 || last_block < first_block {
        return Err(BatchError::EmptyRange {
            first: first_block,
            last: last_block,
        });
    }
    let mut blocks = Vec::with_capacity((last_block - first_block + 1) as usize);
    let mut post_state_root = B256::ZERO;
    for n in first_block..=last_block {
        let sealed = storage
            .block_by_number(n)?
            .ok_or(BatchError::MissingBlock(n))?;
        let block = &sealed.block;
        post_state_root = block.header.state_root;
        blocks.push(BatchBlock {
            timestamp: block.header.timestamp,
            beneficiary: block.header.beneficiary,
            l1_fee_rate: cairn_execution::l1fee::l1_fee_rate_of(&block.header),
            transactions: block
                .transactions
                .iter()
                .map(|tx| tx.encoded.clone())
                .collect(),
            deposits: block.deposits.clone(),
            payouts: block.payouts.clone(),
        });
    }
    let compression = Compression::Brotli;
    let body = compress_blocks(&blocks, compression)?;
    let header = BatchHeader {
        version: BATCH_VERSION,
        chain_id,
        number,
        prev_hash,
        first_block,
        last_block,
        post_state_root,
        l1_ref_height: l1_ref.0,
        l1_ref_hash: l1_ref.1.to_byte_array(),
        body_hash: B256::ZERO,
        body_len: 0,
        compression,
    }
    .with_body(&body)?;
    Ok((header.sign(sequencer)?, body))
}
