//! Otterscan's `ots_` namespace (API level 8) and `erigon_getHeaderByNumber`, as Erigon
//! and reth serve them, so that the Otterscan explorer works against a Cairn node
//! unmodified. History searches read the storage's address index (senders, recipients,
//! deployed contracts), never the whole chain; traces and internal operations re-execute
//! the transaction from the history window. Cairn mints no block rewards: issuance is
//! zero.

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_trace::otterscan::{
    ContractCreator, InternalOperation, OperationType, TraceEntry,
};
use cairn_execution::Replay;
use cairn_storage::{BlockWithReceipts, Direction};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};
use revm_inspectors::transfer::{TransferInspector, TransferKind};
use serde_json::{Value, json};

use crate::context::RpcContext;
use crate::convert;
use crate::debug::{DEFAULT_TRACE_TIMEOUT, traced};
use crate::error::RpcError;

/// The Otterscan API level served.
pub const OTS_API_LEVEL: u64 = 8;
/// The largest page one search or block page may ask for.
pub const MAX_PAGE_SIZE: usize = 100;

/// `ots_`.
#[rpc(server, client, namespace = "ots")]
pub trait OtsApi {
    #[method(name = "getApiLevel")]
    fn get_api_level(&self) -> RpcResult<u64>;
    /// Whether `address` has code at `block` (default latest).
    #[method(name = "hasCode")]
    fn has_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<bool>;
    /// A block without its transactions, with their count, issuance and fees.
    #[method(name = "getBlockDetails")]
    fn get_block_details(&self, block: OtsBlock) -> RpcResult<Option<Value>>;
    #[method(name = "getBlockDetailsByHash")]
    fn get_block_details_by_hash(&self, hash: B256) -> RpcResult<Option<Value>>;
    /// One page of a block's transactions with their receipts (logs left out).
    #[method(name = "getBlockTransactions")]
    fn get_block_transactions(
        &self,
        block: OtsBlock,
        page: usize,
        page_size: usize,
    ) -> RpcResult<Value>;
    /// An address's transactions before `block` (0: the newest), newest first.
    #[method(name = "searchTransactionsBefore")]
    fn search_transactions_before(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<Value>;
    /// An address's transactions after `block` (0: from genesis), newest first.
    #[method(name = "searchTransactionsAfter")]
    fn search_transactions_after(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<Value>;
    #[method(name = "getTransactionBySenderAndNonce")]
    fn get_transaction_by_sender_and_nonce(
        &self,
        sender: Address,
        nonce: U64,
    ) -> RpcResult<Option<B256>>;
    /// The transaction that deployed `address` and its sender (top-level creations).
    #[method(name = "getContractCreator")]
    fn get_contract_creator(&self, address: Address) -> RpcResult<Option<ContractCreator>>;
    /// Value transfers, creations and self-destructs inside a transaction.
    #[method(name = "getInternalOperations")]
    async fn get_internal_operations(&self, hash: B256) -> RpcResult<Vec<InternalOperation>>;
    /// Every call frame of a transaction, in order.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(&self, hash: B256) -> RpcResult<Vec<TraceEntry>>;
    /// A failed transaction's revert data (`0x` if it succeeded).
    #[method(name = "getTransactionError")]
    async fn get_transaction_error(&self, hash: B256) -> RpcResult<Bytes>;
}

/// A block as Otterscan names it: a plain JSON number (what it sends), or a quantity or
/// tag as `eth_` takes them.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum OtsBlock {
    Number(u64),
    Tag(BlockNumberOrTag),
}

impl From<OtsBlock> for BlockId {
    fn from(block: OtsBlock) -> Self {
        match block {
            OtsBlock::Number(n) => BlockId::Number(BlockNumberOrTag::Number(n)),
            OtsBlock::Tag(tag) => BlockId::Number(tag),
        }
    }
}

impl std::fmt::Display for OtsBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OtsBlock::Number(n) => write!(f, "{n}"),
            OtsBlock::Tag(tag) => write!(f, "{tag}"),
        }
    }
}

/// `erigon_getHeaderByNumber`, which Otterscan reads headers with.
#[rpc(server, client, namespace = "erigon")]
pub trait ErigonApi {
    #[method(name = "getHeaderByNumber")]
    fn get_header_by_number(&self, block: OtsBlock) -> RpcResult<Option<Value>>;
}

/// Serves `ots_` and `erigon_` from the node's context.
pub(crate) struct OtsRpc(pub(crate) Arc<RpcContext>);

fn ok<T>(r: Result<T, RpcError>) -> RpcResult<T> {
    r.map_err(Into::into)
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::Internal(e.to_string()))
}

fn check_page_size(page_size: usize) -> Result<(), RpcError> {
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(RpcError::InvalidParams(format!(
            "page size {page_size} is outside 1..={MAX_PAGE_SIZE}"
        )));
    }
    Ok(())
}

/// The block as Otterscan's details show it: no transactions (their count instead) and no
/// logs bloom.
fn slim_block(entry: &BlockWithReceipts) -> Result<Value, RpcError> {
    let mut block = to_json(convert::block(&entry.block, false))?;
    if let Some(map) = block.as_object_mut() {
        map.remove("transactions");
        map.insert(
            "transactionCount".into(),
            json!(entry.block.transactions.len()),
        );
        map.insert("logsBloom".into(), Value::Null);
    }
    Ok(block)
}

fn block_details(entry: &BlockWithReceipts) -> Result<Value, RpcError> {
    let fees = entry.receipts.iter().fold(U256::ZERO, |sum, r| {
        sum + U256::from(r.gas_used) * U256::from(r.effective_gas_price)
    });
    Ok(json!({
        "block": slim_block(entry)?,
        "issuance": { "blockReward": "0x0", "uncleReward": "0x0", "issuance": "0x0" },
        "totalFees": fees,
    }))
}

/// A receipt as Otterscan's pages carry it: no logs, no bloom; with the block's time.
fn ots_receipt(entry: &BlockWithReceipts, index: usize) -> Result<Value, RpcError> {
    let receipt = convert::receipt(entry, index)?
        .ok_or_else(|| RpcError::Internal("a block lost a receipt".into()))?;
    let mut value = to_json(receipt)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("logs".into(), Value::Null);
        map.insert("logsBloom".into(), Value::Null);
        map.insert(
            "timestamp".into(),
            json!(U64::from(entry.block.header.timestamp)),
        );
    }
    Ok(value)
}

impl OtsRpc {
    /// Transactions at `locations`, with their receipts, newest first.
    fn with_receipts(
        &self,
        mut locations: Vec<(u64, usize)>,
        first_page: bool,
        last_page: bool,
    ) -> Result<Value, RpcError> {
        locations.sort_unstable_by(|a, b| b.cmp(a));
        let mut txs = Vec::with_capacity(locations.len());
        let mut receipts = Vec::with_capacity(locations.len());
        let mut block: Option<BlockWithReceipts> = None;
        for (number, index) in locations {
            if block.as_ref().is_none_or(|b| b.block.number() != number) {
                block = self.0.storage.block_by_number(number)?;
            }
            let entry = block
                .as_ref()
                .ok_or_else(|| RpcError::Internal(format!("indexed block {number} is missing")))?;
            let tx = entry.block.transactions.get(index).ok_or_else(|| {
                RpcError::Internal(format!("indexed transaction {number}/{index} is missing"))
            })?;
            txs.push(to_json(convert::transaction(
                tx,
                Some((&entry.block, index)),
            ))?);
            receipts.push(ots_receipt(entry, index)?);
        }
        Ok(
            json!({ "txs": txs, "receipts": receipts, "firstPage": first_page, "lastPage": last_page }),
        )
    }

    fn search(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
        direction: Direction,
    ) -> Result<Value, RpcError> {
        check_page_size(page_size)?;
        let from = (block != 0).then_some(block);
        // One more than asked tells whether another page follows.
        let mut found = self
            .0
            .storage
            .address_history(&address, from, direction, page_size + 1)?;
        let more = found.len() > page_size
            && found
                .last()
                .zip(found.get(page_size - 1))
                .is_some_and(|(last, at_limit)| last.0 != at_limit.0);
        if more {
            // Whole blocks only: drop the block that started the next page.
            let next = found.last().map(|l| l.0);
            found.retain(|l| Some(l.0) != next);
        }
        let (first_page, last_page) = match direction {
            Direction::Older => (block == 0, !more),
            Direction::Newer => (!more, block == 0),
        };
        self.with_receipts(found, first_page, last_page)
    }
}

#[async_trait]
impl OtsApiServer for OtsRpc {
    fn get_api_level(&self) -> RpcResult<u64> {
        Ok(OTS_API_LEVEL)
    }

    fn has_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<bool> {
        let state = ok(self.0.state(block))?;
        Ok(state.account(&address).is_some_and(|a| a.has_code()))
    }

    fn get_block_details(&self, block: OtsBlock) -> RpcResult<Option<Value>> {
        let entry = ok(self.0.block_for(block.into()))?;
        ok(entry.map(|e| block_details(&e)).transpose())
    }

    fn get_block_details_by_hash(&self, hash: B256) -> RpcResult<Option<Value>> {
        let entry = ok(self.0.storage.block_by_hash(&hash).map_err(Into::into))?;
        ok(entry.map(|e| block_details(&e)).transpose())
    }

    fn get_block_transactions(
        &self,
        block: OtsBlock,
        page: usize,
        page_size: usize,
    ) -> RpcResult<Value> {
        ok(check_page_size(page_size))?;
        let entry = ok(self.0.block_for(block.into()))?
            .ok_or_else(|| RpcError::Server(format!("block {block} not found")))?;
        let count = entry.block.transactions.len();
        let start = page.saturating_mul(page_size).min(count);
        let end = start.saturating_add(page_size).min(count);
        let mut fullblock = ok(to_json(convert::block(&entry.block, true)))?;
        if let Some(map) = fullblock.as_object_mut() {
            if let Some(Value::Array(txs)) = map.get_mut("transactions") {
                *txs = txs.drain(start..end).collect();
            }
            map.insert("transactionCount".into(), json!(count));
            map.insert("logsBloom".into(), Value::Null);
        }
        let receipts = ok((start..end).map(|i| ots_receipt(&entry, i)).collect())?;
        Ok(json!({ "fullblock": fullblock, "receipts": Value::Array(receipts) }))
    }

    fn search_transactions_before(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<Value> {
        ok(self.search(address, block, page_size, Direction::Older))
    }

    fn search_transactions_after(
        &self,
        address: Address,
        block: u64,
        page_size: usize,
    ) -> RpcResult<Value> {
        ok(self.search(address, block, page_size, Direction::Newer))
    }

    fn get_transaction_by_sender_and_nonce(
        &self,
        sender: Address,
        nonce: U64,
    ) -> RpcResult<Option<B256>> {
        let c = &self.0;
        let Some((number, index)) = ok(c
            .storage
            .sender_nonce_location(&sender, nonce.to())
            .map_err(Into::into))?
        else {
            return Ok(None);
        };
        let block = ok(c.storage.block_by_number(number).map_err(Into::into))?;
        Ok(block.and_then(|b| b.block.transactions.get(index).map(|tx| tx.hash)))
    }

    fn get_contract_creator(&self, address: Address) -> RpcResult<Option<ContractCreator>> {
        let c = &self.0;
        let Some((number, index)) = ok(c.storage.contract_creation(&address).map_err(Into::into))?
        else {
            return Ok(None);
        };
        let block = ok(c.storage.block_by_number(number).map_err(Into::into))?;
        Ok(block.and_then(|b| {
            b.block.transactions.get(index).map(|tx| ContractCreator {
                hash: tx.hash,
                creator: tx.sender,
            })
        }))
    }

    async fn get_internal_operations(&self, hash: B256) -> RpcResult<Vec<InternalOperation>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let (entry, index) = ctx.known_transaction(&hash)?;
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            replay.skip_to(index)?;
            // Internal only: the transaction's own value transfer is not an operation.
            let mut inspector = TransferInspector::new(true);
            replay.inspect_next(&mut inspector, |_, _| ())?;
            Ok(inspector
                .into_transfers()
                .into_iter()
                .map(|t| InternalOperation {
                    r#type: match t.kind {
                        TransferKind::Call => OperationType::OpTransfer,
                        TransferKind::Create => OperationType::OpCreate,
                        TransferKind::Create2 => OperationType::OpCreate2,
                        TransferKind::SelfDestruct => OperationType::OpSelfDestruct,
                    },
                    from: t.from,
                    to: t.to,
                    value: t.value,
                })
                .collect())
        })
        .await
    }

    async fn trace_transaction(&self, hash: B256) -> RpcResult<Vec<TraceEntry>> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let (entry, index) = ctx.known_transaction(&hash)?;
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            replay.skip_to(index)?;
            let mut inspector = TracingInspector::new(TracingInspectorConfig::default_parity());
            replay.inspect_next(&mut inspector, |_, _| ())?;
            let mut entries = Vec::new();
            for node in inspector.traces().nodes() {
                let trace = &node.trace;
                entries.push(TraceEntry {
                    r#type: format!("{:?}", trace.kind).to_uppercase(),
                    depth: trace.depth as u32,
                    from: trace.caller,
                    to: trace.address,
                    value: (!trace.kind.is_static_call()).then_some(trace.value),
                    input: trace.data.clone(),
                    output: trace.output.clone(),
                });
                // A self-destruct is a frame of its own one level down, as Erigon lists it.
                if let Some(beneficiary) = trace.selfdestruct_refund_target {
                    entries.push(TraceEntry {
                        r#type: "SELFDESTRUCT".into(),
                        depth: trace.depth as u32 + 1,
                        from: trace.address,
                        to: beneficiary,
                        value: trace.selfdestruct_transferred_value,
                        input: Bytes::new(),
                        output: Bytes::new(),
                    });
                }
            }
            Ok(entries)
        })
        .await
    }

    async fn get_transaction_error(&self, hash: B256) -> RpcResult<Bytes> {
        traced(self.0.clone(), DEFAULT_TRACE_TIMEOUT, move |ctx| {
            let (entry, index) = ctx.known_transaction(&hash)?;
            if entry.receipts.get(index).is_some_and(|r| r.success) {
                return Ok(Bytes::new());
            }
            let mut replay = Replay::start(&ctx.storage, &ctx.spec, &entry.block)?;
            replay.skip_to(index)?;
            let mut inspector = TracingInspector::new(TracingInspectorConfig::default_parity());
            replay.inspect_next(&mut inspector, |_, _| ())?;
            Ok(inspector
                .traces()
                .nodes()
                .first()
                .map(|root| root.trace.output.clone())
                .unwrap_or_default())
        })
        .await
    }
}

impl ErigonApiServer for OtsRpc {
    fn get_header_by_number(&self, block: OtsBlock) -> RpcResult<Option<Value>> {
        let entry = ok(self.0.block_for(block.into()))?;
        ok(entry
            .map(|e| to_json(convert::header(&e.block)))
            .transpose())
    }
}
