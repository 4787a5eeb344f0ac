//! What every RPC method serves from: storage, the mempool, the chain spec, block
//! announcements, settlement and the peg ([`RpcContext`]), and the reads several
//! namespaces share (block tags, log queries). The method tables (`api`, `filters`,
//! `pubsub`, `cairn`, `peg`) import this; it imports none of them but the filter store.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log as RpcLog};
use cairn_execution::Caller;
use cairn_execution::l1fee::l1_fee_rate_of;
use cairn_primitives::ChainSpec;
use cairn_sequencer::Pool;
use cairn_storage::{BlockWithReceipts, Storage};
use tokio::sync::broadcast;

use crate::convert;
use crate::error::RpcError;
use crate::filter_store::Filters;

/// The widest block range one `eth_getLogs` may scan.
pub const MAX_LOG_RANGE: u64 = 100_000;
/// Most blocks one `eth_feeHistory` may cover (geth's limit).
pub const MAX_FEE_HISTORY: u64 = 1024;

/// What the RPC serves from.
pub struct RpcContext {
    pub storage: Arc<Storage>,
    pub pool: Arc<Pool>,
    pub spec: ChainSpec,
    pub blocks: broadcast::Sender<BlockWithReceipts>,
    pub client_version: String,
    /// Whether `eth_sendRawTransaction` takes transactions (not on a follower, which only
    /// derives the chain from Bitcoin).
    pub accepts_transactions: bool,
    /// Settlement on Bitcoin, for the `cairn_` methods (`None`: a node that does not
    /// settle).
    pub settlement: Option<Arc<dyn crate::cairn::SettlementSource>>,
    /// The peg, on networks that have one.
    pub peg: Option<Arc<dyn crate::peg::PegSource>>,
    /// Dev-chain controls (`evm_mine`, `evm_increaseTime`...): `cairn dev` only.
    pub dev: Option<Arc<cairn_sequencer::DevChain>>,
    pub(crate) filters: Filters,
}

impl RpcContext {
    pub fn new(
        storage: Arc<Storage>,
        pool: Arc<Pool>,
        spec: ChainSpec,
        blocks: broadcast::Sender<BlockWithReceipts>,
        client_version: String,
    ) -> Self {
        Self {
            storage,
            pool,
            spec,
            blocks,
            client_version,
            accepts_transactions: true,
            settlement: None,
            peg: None,
            dev: None,
            filters: Filters::default(),
        }
    }

    /// Block number a tag or number names; `None` if beyond the head.
    pub(crate) fn resolve_number(&self, tag: BlockNumberOrTag) -> Option<u64> {
        let head = self.storage.head_number();
        // `safe`: in a Bitcoin block; `finalized`: buried `finality_depth` deep. A node
        // without settlement has nothing better than its head.
        let finality = self.storage.finality();
        let n = match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => head,
            BlockNumberOrTag::Safe => finality.map_or(head, |f| f.safe),
            BlockNumberOrTag::Finalized => finality.map_or(head, |f| f.finalized),
            BlockNumberOrTag::Earliest => 0,
            BlockNumberOrTag::Number(n) => n,
        };
        (n <= head).then_some(n)
    }

    pub(crate) fn block_for(&self, id: BlockId) -> Result<Option<BlockWithReceipts>, RpcError> {
        match id {
            BlockId::Hash(h) => Ok(self.storage.block_by_hash(&h.block_hash)?),
            BlockId::Number(tag) => match self.resolve_number(tag) {
                Some(n) => Ok(self.storage.block_by_number(n)?),
                None => Ok(None),
            },
        }
    }

    /// The block whose post-state a state query reads; geth's "header not found".
    pub(crate) fn state_block(&self, id: Option<BlockId>) -> Result<BlockWithReceipts, RpcError> {
        self.block_for(id.unwrap_or_default())?
            .ok_or_else(|| RpcError::Server("header not found".into()))
    }

    /// The block holding transaction `hash`, and the transaction's index there.
    pub(crate) fn recorded_transaction(
        &self,
        hash: &alloy_primitives::B256,
    ) -> Result<Option<(BlockWithReceipts, usize)>, RpcError> {
        let Some((number, index)) = self.storage.transaction_location(hash)? else {
            return Ok(None);
        };
        let entry = self
            .storage
            .block_by_number(number)?
            .ok_or(cairn_storage::StorageError::BlockNotFound(number))?;
        Ok(Some((entry, index)))
    }

    /// [`RpcContext::recorded_transaction`], an error naming the hash if it is unknown
    /// (for methods that must re-execute it).
    pub(crate) fn known_transaction(
        &self,
        hash: &alloy_primitives::B256,
    ) -> Result<(BlockWithReceipts, usize), RpcError> {
        self.recorded_transaction(hash)?
            .ok_or_else(|| RpcError::Server(format!("transaction {hash} not found")))
    }

    /// The state after the block `id` names (default `latest`).
    pub(crate) fn state(
        &self,
        id: Option<BlockId>,
    ) -> Result<cairn_storage::StateView<'_>, RpcError> {
        let block = self.state_block(id)?;
        Ok(self.storage.state_at(block.block.number())?)
    }

    /// The L1 data fee rate (sat/kwu) of the next block: the sequencer's current one, or
    /// on a follower the latest block's.
    pub(crate) fn l1_fee_rate(&self) -> u64 {
        match self.pool.l1_fee_rate().get().to_sat_per_kwu() {
            0 => l1_fee_rate_of(&self.storage.head().block.header),
            rate => rate,
        }
    }

    /// A call runner over this chain.
    pub(crate) fn caller(&self) -> Caller<'_> {
        Caller {
            storage: &self.storage,
            spec: &self.spec,
            l1_fee_rate: self.l1_fee_rate(),
        }
    }

    pub(crate) fn suggested_tip(&self) -> u128 {
        // Blocks are rarely full: a token tip is enough for inclusion.
        1_000
    }

    pub(crate) fn logs(&self, filter: &Filter) -> Result<Vec<RpcLog>, RpcError> {
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = self
                    .storage
                    .block_number_by_hash(&hash)?
                    .ok_or_else(|| RpcError::Server("unknown block".into()))?;
                (n, n)
            }
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let head = self.storage.head_number();
                let resolve = |tag: Option<BlockNumberOrTag>| match tag.unwrap_or_default() {
                    BlockNumberOrTag::Number(n) => n,
                    other => self.resolve_number(other).unwrap_or(head),
                };
                let from = resolve(from_block);
                let to = resolve(to_block).min(head);
                if from > resolve(to_block) {
                    return Err(RpcError::InvalidParams("invalid block range params".into()));
                }
                (from, to)
            }
        };
        if to.saturating_sub(from) >= MAX_LOG_RANGE {
            return Err(RpcError::InvalidParams(format!(
                "query exceeds max block range {MAX_LOG_RANGE}"
            )));
        }
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        for n in from..=to {
            let Some(entry) = self.storage.block_by_number(n)? else {
                break;
            };
            if !filter.matches_bloom(entry.block.header.logs_bloom) {
                continue;
            }
            out.extend(convert::block_logs(&entry).filter(|log| filter.matches(&log.inner)));
        }
        Ok(out)
    }
}
