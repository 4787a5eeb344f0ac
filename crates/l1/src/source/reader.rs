//! [`ChainReader`]: the few chain queries a [`super::BlockSource`] needs.

use std::future::Future;

use bitcoin::block::Header;
use bitcoin::{Block, BlockHash};

use crate::client::Client;
use crate::error::Result;

/// The chain queries a [`super::BlockSource`] needs. [`Client`] answers them from
/// bitcoind (or the devnet); tests and tools can answer them from memory.
pub trait ChainReader: Send + Sync {
    /// The hash of the best chain's tip.
    fn best_block_hash(&self) -> impl Future<Output = Result<BlockHash>> + Send;

    /// The height of a known block, on any branch.
    fn block_height(&self, hash: &BlockHash) -> impl Future<Output = Result<u32>> + Send;

    /// The best chain's block at `height`; an error with code -8 above the tip.
    fn block_hash(&self, height: u32) -> impl Future<Output = Result<BlockHash>> + Send;

    /// The header of a known block, on any branch.
    fn block_header(&self, hash: &BlockHash) -> impl Future<Output = Result<Header>> + Send;

    /// A known block, on any branch.
    fn block(&self, hash: &BlockHash) -> impl Future<Output = Result<Block>> + Send;
}

impl ChainReader for Client {
    async fn best_block_hash(&self) -> Result<BlockHash> {
        self.get_best_block_hash().await
    }

    async fn block_height(&self, hash: &BlockHash) -> Result<u32> {
        Ok(self.get_block_header_info(hash).await?.height)
    }

    async fn block_hash(&self, height: u32) -> Result<BlockHash> {
        self.get_block_hash(height).await
    }

    async fn block_header(&self, hash: &BlockHash) -> Result<Header> {
        self.get_block_header(hash).await
    }

    async fn block(&self, hash: &BlockHash) -> Result<Block> {
        self.get_block(hash).await
    }
}
