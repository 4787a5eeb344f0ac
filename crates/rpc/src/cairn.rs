//! The `cairn_` namespace: where the chain stands on Bitcoin.
//!
//! - `cairn_syncStatus`: L1 tip and derivation progress, `safe`/`finalized`, batches
//!   derived and (on the sequencer) signed but not final, the batcher wallet;
//! - `cairn_getBatch(number | {blockNumber})`: one batch (by number, or the one holding an
//!   L2 block), its L2 block range, L1 position and state;
//! - `cairn_getTransactionStatus(hash)`: how far a transaction has come:
//!   `pending` (mempool) → `sequenced` (in an L2 block) → `submitted` (its batch is
//!   signed and broadcast; sequencer only) → `safe` (its batch is derived from Bitcoin)
//!   → `finalized` (buried `finalityDepth` blocks deep).
//!
//! Numbers are hex quantities, as in the `eth_` namespace. A node without settlement
//! answers `cairn_syncStatus` with `settlement: null` and knows no batches.

use alloy_primitives::{B256, U64};
use std::sync::Arc;

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

use crate::RpcContext;
use crate::error::RpcError;

/// A batch as the node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// Its number.
    pub number: u64,
    /// Its header hash.
    pub hash: B256,
    /// First L2 block.
    pub first_block: u64,
    /// Last L2 block (inclusive).
    pub last_block: u64,
    /// Where it is: derived (with the L1 height at which it became complete) or only
    /// signed and broadcast by this node's batcher.
    pub l1_height: Option<u32>,
    /// The reveal transactions, by chunk (Bitcoin txids, display order).
    pub reveal_txids: Vec<String>,
    /// The commit transaction, while this node's batcher still tracks it.
    pub commit_txid: Option<String>,
}

/// What the settlement task reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementInfo {
    /// `sequencer` (the active one), `standby` (a member of the sequencer set whose turn
    /// it is not) or `follower`.
    pub role: &'static str,
    /// Whose batches count at the next Bitcoin block.
    pub active_sequencer: ActiveSequencer,
    /// The network's L1 start height.
    pub l1_start: u32,
    /// The L1 tip seen: height and hash.
    pub l1_tip: Option<(u32, String)>,
    /// The last L1 height derivation processed.
    pub l1_derived: Option<u32>,
    /// Whether derivation has caught up with the L1 tip.
    pub caught_up: bool,
    /// Confirmations that make a batch final.
    pub finality_depth: u32,
    /// Batches derived from Bitcoin.
    pub derived: u64,
    /// The last batch signed by this node's batcher.
    pub last_signed: Option<u64>,
    /// Batches signed and not final (sequencer).
    pub pending: u64,
    /// The batcher wallet's funding address and balance in satoshis (sequencer).
    pub batcher: Option<(String, u64)>,
}

/// The sequencer set's active member, as the rule makes it from Bitcoin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveSequencer {
    /// Its index in the set and its key.
    pub index: usize,
    pub key: String,
    /// The Bitcoin height of its last derived batch (`None`: it has not posted in this
    /// turn yet: a takeover is due).
    pub last_batch_l1_height: Option<u32>,
    /// The set's size and the timeout (Bitcoin blocks) after which the next takes over.
    pub set_size: usize,
    pub timeout: u32,
}

/// A transaction forced through Bitcoin, as derivation found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedInfo {
    /// The Bitcoin block that carries it, and the reveal transaction.
    pub l1_height: u32,
    pub txid: String,
    /// The L2 transaction's hash (`None`: the envelope carries no signed transaction).
    pub l2_hash: Option<B256>,
    /// The last Bitcoin height at which a batch may include it.
    pub deadline: u32,
    /// Why derivation skipped it for good, if it did (not a signed transaction, or
    /// invalid in the block built at its deadline).
    pub skipped: Option<String>,
}

/// Where the RPC reads settlement from (the node's settlement task).
pub trait SettlementSource: Send + Sync {
    /// Forced transactions found in Bitcoin blocks at or after `from`, in L1 order.
    fn forced(&self, from: u32) -> Vec<ForcedInfo>;
    /// The current status.
    fn info(&self) -> SettlementInfo;
    /// Batch `number`, derived or (on the sequencer) signed.
    fn batch(&self, number: u64) -> Option<BatchInfo>;
    /// The batch holding L2 block `block`, derived or (on the sequencer) signed.
    fn batch_of_block(&self, block: u64) -> Option<BatchInfo>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusView {
    pub head: U64,
    pub safe: U64,
    pub finalized: U64,
    /// `cairn dev` only: the first block its state edits, snapshots or impersonated
    /// transactions made this node's alone (settlement posts only the blocks before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_from: Option<U64>,
    pub settlement: Option<SettlementView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementView {
    pub role: String,
    pub active_sequencer: ActiveSequencerView,
    pub l1_start_height: U64,
    pub l1_tip_height: Option<U64>,
    pub l1_tip_hash: Option<String>,
    pub l1_derived_height: Option<U64>,
    pub caught_up: bool,
    pub finality_depth: U64,
    pub batches_derived: U64,
    pub last_signed_batch: Option<U64>,
    pub pending_batches: U64,
    pub batcher: Option<BatcherView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSequencerView {
    pub index: U64,
    pub key: String,
    pub last_batch_l1_height: Option<U64>,
    pub set_size: U64,
    pub timeout: U64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatcherView {
    pub address: String,
    pub balance_sats: U64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    pub number: U64,
    pub hash: B256,
    pub first_block: U64,
    pub last_block: U64,
    /// `submitted`, `safe` or `finalized`.
    pub status: String,
    pub l1_height: Option<U64>,
    pub l1_confirmations: Option<U64>,
    pub reveal_txids: Vec<String>,
    pub commit_txid: Option<String>,
}

/// A forced transaction and where it stands: `pending` (not in an L2 block yet),
/// `included` (in block `blockNumber`), or `skipped` for good (`reason`: the envelope
/// holds no signed transaction, or it was invalid in the block derivation built at its
/// deadline).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForcedTransactionView {
    pub l1_height: U64,
    pub txid: String,
    pub l2_tx_hash: Option<B256>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_number: Option<U64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub deadline: U64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStatusView {
    /// `pending`, `sequenced`, `submitted`, `safe` or `finalized`.
    pub status: String,
    pub block_number: Option<U64>,
    pub batch: Option<BatchView>,
}

fn batch_view(ctx: &RpcContext, batch: BatchInfo) -> BatchView {
    let finalized = ctx.storage.finality().map_or(0, |f| f.finalized);
    let tip = ctx
        .settlement
        .as_ref()
        .and_then(|s| s.info().l1_tip)
        .map(|(h, _)| h);
    let status = match batch.l1_height {
        None => "submitted",
        Some(_) if batch.last_block <= finalized => "finalized",
        Some(_) => "safe",
    };
    let confirmations = batch
        .l1_height
        .zip(tip)
        .map(|(at, tip)| U64::from(tip.saturating_sub(at) + 1));
    BatchView {
        number: U64::from(batch.number),
        hash: batch.hash,
        first_block: U64::from(batch.first_block),
        last_block: U64::from(batch.last_block),
        status: status.to_owned(),
        l1_height: batch.l1_height.map(U64::from),
        l1_confirmations: confirmations,
        reveal_txids: batch.reveal_txids,
        commit_txid: batch.commit_txid,
    }
}

/// `cairn_getBatch`'s parameter: a batch number, or `{"blockNumber": n}` for the batch
/// holding an L2 block.
enum BatchSelector {
    Number(U64),
    Block(U64),
}

impl BatchSelector {
    fn parse(value: serde_json::Value) -> Result<Self, ErrorObjectOwned> {
        let invalid = |e: String| {
            ErrorObjectOwned::owned(
                jsonrpsee::types::error::INVALID_PARAMS_CODE,
                "Invalid params",
                Some(e),
            )
        };
        match value {
            serde_json::Value::Object(mut map) => {
                let block = map.remove("blockNumber").ok_or_else(|| {
                    invalid("expected a batch number or {\"blockNumber\": n}".into())
                })?;
                serde_json::from_value(block)
                    .map(Self::Block)
                    .map_err(|e| invalid(e.to_string()))
            }
            other => serde_json::from_value(other)
                .map(Self::Number)
                .map_err(|e| invalid(e.to_string())),
        }
    }
}

/// Where the chain stands on Bitcoin: the `cairn_` settlement methods.
#[rpc(server, client, namespace = "cairn")]
pub trait SettlementApi {
    /// The head, `safe`, `finalized`, and settlement's progress (`null` without).
    #[method(name = "syncStatus")]
    fn sync_status(&self) -> RpcResult<SyncStatusView>;
    /// A batch by number (`n`), or the one holding an L2 block (`{"blockNumber": n}`).
    #[method(name = "getBatch")]
    fn get_batch(&self, which: serde_json::Value) -> RpcResult<Option<BatchView>>;
    /// How far transaction `hash` has come (`null` if unknown).
    #[method(name = "getTransactionStatus")]
    fn get_transaction_status(&self, hash: B256) -> RpcResult<Option<TransactionStatusView>>;
    /// Transactions forced through Bitcoin from L1 height `from` on (default: all).
    #[method(name = "getForcedTransactions")]
    fn get_forced_transactions(&self, from: Option<U64>) -> RpcResult<Vec<ForcedTransactionView>>;
}

/// Serves [`SettlementApi`] from the node's context.
pub(crate) struct SettlementRpc(pub(crate) Arc<RpcContext>);

impl SettlementApiServer for SettlementRpc {
    fn sync_status(&self) -> RpcResult<SyncStatusView> {
        let c = &self.0;
        let head = c.storage.head_number();
        let finality = c.storage.finality();
        let settlement = c.settlement.as_ref().map(|s| {
            let info = s.info();
            let active = &info.active_sequencer;
            SettlementView {
                role: info.role.to_owned(),
                active_sequencer: ActiveSequencerView {
                    index: U64::from(active.index),
                    key: active.key.clone(),
                    last_batch_l1_height: active.last_batch_l1_height.map(U64::from),
                    set_size: U64::from(active.set_size),
                    timeout: U64::from(active.timeout),
                },
                l1_start_height: U64::from(info.l1_start),
                l1_tip_height: info.l1_tip.as_ref().map(|(h, _)| U64::from(*h)),
                l1_tip_hash: info.l1_tip.map(|(_, hash)| hash),
                l1_derived_height: info.l1_derived.map(U64::from),
                caught_up: info.caught_up,
                finality_depth: U64::from(info.finality_depth),
                batches_derived: U64::from(info.derived),
                last_signed_batch: info.last_signed.map(U64::from),
                pending_batches: U64::from(info.pending),
                batcher: info.batcher.map(|(address, sats)| BatcherView {
                    address,
                    balance_sats: U64::from(sats),
                }),
            }
        });
        Ok(SyncStatusView {
            head: U64::from(head),
            safe: U64::from(finality.map_or(head, |f| f.safe)),
            finalized: U64::from(finality.map_or(head, |f| f.finalized)),
            local_from: c.storage.local_from().map(U64::from),
            settlement,
        })
    }

    fn get_batch(&self, which: serde_json::Value) -> RpcResult<Option<BatchView>> {
        let c = &self.0;
        let which = BatchSelector::parse(which)?;
        Ok(c.settlement
            .as_ref()
            .and_then(|s| match which {
                BatchSelector::Number(number) => s.batch(number.to()),
                BatchSelector::Block(block) => s.batch_of_block(block.to()),
            })
            .map(|b| batch_view(c, b)))
    }

    fn get_forced_transactions(&self, from: Option<U64>) -> RpcResult<Vec<ForcedTransactionView>> {
        let c = &self.0;
        let Some(source) = c.settlement.as_ref() else {
            return Ok(Vec::new());
        };
        let from = u32::try_from(from.unwrap_or_default()).unwrap_or(u32::MAX);
        source
            .forced(from)
            .into_iter()
            .map(|f| {
                let (l2_tx_hash, status, block_number, reason) = match (&f.l2_hash, &f.skipped) {
                    (hash, Some(reason)) => (*hash, "skipped", None, Some(reason.clone())),
                    (None, None) => (None, "pending", None, None),
                    (Some(hash), None) => match c.storage.transaction_location(hash) {
                        Ok(Some((number, _))) => {
                            (Some(*hash), "included", Some(U64::from(number)), None)
                        }
                        Ok(None) => (Some(*hash), "pending", None, None),
                        Err(e) => return Err(ErrorObjectOwned::from(RpcError::from(e))),
                    },
                };
                Ok(ForcedTransactionView {
                    l1_height: U64::from(f.l1_height),
                    txid: f.txid,
                    l2_tx_hash,
                    status: status.into(),
                    block_number,
                    reason,
                    deadline: U64::from(f.deadline),
                })
            })
            .collect()
    }

    fn get_transaction_status(&self, hash: B256) -> RpcResult<Option<TransactionStatusView>> {
        let c = &self.0;
        let location = c
            .storage
            .transaction_location(&hash)
            .map_err(|e| ErrorObjectOwned::from(RpcError::from(e)))?;
        let Some((number, _)) = location else {
            return Ok(c.pool.get(&hash).map(|_| TransactionStatusView {
                status: "pending".to_owned(),
                block_number: None,
                batch: None,
            }));
        };
        let batch = c
            .settlement
            .as_ref()
            .and_then(|s| s.batch_of_block(number))
            .map(|b| batch_view(c, b));
        let status = batch
            .as_ref()
            .map_or("sequenced", |b| b.status.as_str())
            .to_owned();
        Ok(Some(TransactionStatusView {
            status,
            block_number: Some(U64::from(number)),
            batch,
        }))
    }
}
