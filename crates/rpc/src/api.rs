//! The `eth_` namespace as a typed trait ([`EthApi`]: the server the node runs and the
//! client the CLI and tests use), and the method table that merges every namespace
//! (`web3_`/`net_`/`txpool_` from [`crate::small`], `cairn_` from [`crate::cairn`] and
//! [`crate::peg`]; filters and subscriptions from `filters` and `pubsub`).

use std::sync::Arc;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{Block, FeeHistory, Filter, Log as RpcLog, SyncStatus, Transaction};
use cairn_execution::{CallRequest, fees::next_base_fee};
use cairn_storage::BlockWithReceipts;
use jsonrpsee::RpcModule;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::convert::{self, CairnReceipt};
use crate::error::RpcError;

pub use crate::context::{MAX_FEE_HISTORY, MAX_LOG_RANGE, RpcContext};

fn ok<T>(r: Result<T, RpcError>) -> RpcResult<T> {
    r.map_err(Into::into)
}

/// The `eth_` methods (filters and subscriptions are registered by `filters`/`pubsub`).
#[rpc(server, client, namespace = "eth")]
pub trait EthApi {
    /// EIP-155 chain id.
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    /// The head's number.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;
    /// Always `false`: a node serves the chain it has.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<SyncStatus>;
    /// Always empty: sign locally.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;
    /// Always `false`.
    #[method(name = "mining")]
    fn mining(&self) -> RpcResult<bool>;
    /// Always 0.
    #[method(name = "hashrate")]
    fn hashrate(&self) -> RpcResult<U64>;
    /// geth's answer without an etherbase.
    #[method(name = "coinbase")]
    fn coinbase(&self) -> RpcResult<Address>;
    /// Next block's base fee plus the suggested tip.
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<U256>;
    /// The suggested tip.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;
    /// Always 1 (no blobs).
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;
    /// Base fees, gas used and tip percentiles of recent blocks.
    #[method(name = "feeHistory", blocking)]
    fn fee_history(
        &self,
        block_count: U64,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;
    /// An account's balance.
    #[method(name = "getBalance")]
    fn get_balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// An account's nonce (`pending` counts the mempool).
    #[method(name = "getTransactionCount")]
    fn get_transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U64>;
    /// An account's code.
    #[method(name = "getCode")]
    fn get_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// One storage slot.
    #[method(name = "getStorageAt")]
    fn get_storage_at(
        &self,
        address: Address,
        slot: U256,
        block: Option<BlockId>,
    ) -> RpcResult<B256>;
    /// Executes a call without a transaction.
    #[method(name = "call", blocking)]
    fn call(
        &self,
        request: CallRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes>;
    /// The gas a transaction needs, L1 data fee included.
    #[method(name = "estimateGas", blocking)]
    fn estimate_gas(
        &self,
        request: CallRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<U64>;
    /// The storage a transaction touches, as an EIP-2930 access list, and the gas it uses
    /// with that list (geth's fixed-point search).
    #[method(name = "createAccessList", blocking)]
    fn create_access_list(
        &self,
        request: CallRequest,
        block: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<alloy_rpc_types_eth::AccessListResult>;
    /// EIP-1186 Merkle proofs of an account and some of its storage, in the head's state.
    #[method(name = "getProof", blocking)]
    fn get_proof(
        &self,
        address: Address,
        keys: Vec<alloy_serde::storage::JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<alloy_rpc_types_eth::EIP1186AccountProofResponse>;
    /// Submits a signed transaction.
    #[method(name = "sendRawTransaction")]
    fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// Signs with `cairn dev`'s accounts (or as an impersonated one); other nodes hold
    /// no keys and refuse.
    #[method(name = "sendTransaction", blocking)]
    fn send_transaction(&self, request: CallRequest) -> RpcResult<B256>;
    /// Refused: the node holds no keys.
    #[method(name = "sign")]
    fn sign(&self, address: Address, data: Bytes) -> RpcResult<Bytes>;
    /// A transaction, mined or in the mempool.
    #[method(name = "getTransactionByHash")]
    fn get_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    /// A transaction's EIP-2718 bytes.
    #[method(name = "getRawTransactionByHash")]
    fn get_raw_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Bytes>>;
    /// A receipt, with the L1 data fee broken out.
    #[method(name = "getTransactionReceipt")]
    fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<CairnReceipt>>;
    /// A block by number or tag.
    #[method(name = "getBlockByNumber", blocking)]
    fn get_block_by_number(
        &self,
        block: BlockNumberOrTag,
        full: Option<bool>,
    ) -> RpcResult<Option<Block>>;
    /// A block by hash.
    #[method(name = "getBlockByHash", blocking)]
    fn get_block_by_hash(&self, hash: B256, full: Option<bool>) -> RpcResult<Option<Block>>;
    /// A block's transaction count, by number or tag.
    #[method(name = "getBlockTransactionCountByNumber")]
    fn get_block_transaction_count_by_number(
        &self,
        block: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>>;
    /// A block's transaction count, by hash.
    #[method(name = "getBlockTransactionCountByHash")]
    fn get_block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;
    /// A block's `index`th transaction, by number or tag.
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    fn get_transaction_by_block_number_and_index(
        &self,
        block: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// A block's `index`th transaction, by hash.
    #[method(name = "getTransactionByBlockHashAndIndex")]
    fn get_transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<Transaction>>;
    /// Every receipt of a block.
    #[method(name = "getBlockReceipts", blocking)]
    fn get_block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<CairnReceipt>>>;
    /// Always 0 (no uncles).
    #[method(name = "getUncleCountByBlockNumber")]
    fn get_uncle_count_by_block_number(&self, block: serde_json::Value) -> RpcResult<U64>;
    /// Always 0 (no uncles).
    #[method(name = "getUncleCountByBlockHash")]
    fn get_uncle_count_by_block_hash(&self, hash: serde_json::Value) -> RpcResult<U64>;
    /// Logs matching `filter` (ranges up to [`MAX_LOG_RANGE`] blocks).
    #[method(name = "getLogs", blocking)]
    fn get_logs(&self, filter: Filter) -> RpcResult<Vec<RpcLog>>;
}

/// Serves [`EthApi`] from the node's context.
pub(crate) struct EthRpc(pub(crate) Arc<RpcContext>);

impl EthRpc {
    fn transaction_in(&self, entry: Option<BlockWithReceipts>, index: U64) -> Option<Transaction> {
        entry.and_then(|e| {
            let i = index.to::<usize>();
            e.block
                .transactions
                .get(i)
                .map(|tx| convert::transaction(tx, Some((&e.block, i))))
        })
    }
}

impl EthApiServer for EthRpc {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.0.spec.chain_id))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.0.storage.head_number()))
    }

    fn syncing(&self) -> RpcResult<SyncStatus> {
        Ok(SyncStatus::None)
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(crate::dev::accounts(&self.0))
    }

    fn mining(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn hashrate(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    fn coinbase(&self) -> RpcResult<Address> {
        Err(RpcError::Server("etherbase must be explicitly specified".into()).into())
    }

    fn gas_price(&self) -> RpcResult<U256> {
        let c = &self.0;
        let head = c.storage.head();
        let base = next_base_fee(&head.block.header, c.spec.base_fee_floor) as u128;
        Ok(U256::from(base + c.suggested_tip()))
    }

    fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(self.0.suggested_tip()))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(1))
    }

    fn fee_history(
        &self,
        count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        ok(fee_history(&self.0, count.to::<u64>(), newest, percentiles))
    }

    fn get_balance(&self, address: Address, id: Option<BlockId>) -> RpcResult<U256> {
        let state = ok(self.0.state(id))?;
        Ok(state
            .account(&address)
            .map(|a| a.balance)
            .unwrap_or_default())
    }

    fn get_transaction_count(&self, address: Address, id: Option<BlockId>) -> RpcResult<U64> {
        let state = ok(self.0.state(id))?;
        let nonce = state.account(&address).map(|a| a.nonce).unwrap_or_default();
        drop(state);
        if id == Some(BlockId::Number(BlockNumberOrTag::Pending)) {
            return Ok(U64::from(self.0.pool.pending_nonce(&address, nonce)));
        }
        Ok(U64::from(nonce))
    }

    fn get_code(&self, address: Address, id: Option<BlockId>) -> RpcResult<Bytes> {
        let state = ok(self.0.state(id))?;
        Ok(state
            .account(&address)
            .filter(|a| a.has_code())
            .and_then(|a| state.code(&a.code_hash))
            .unwrap_or_default())
    }

    fn get_storage_at(&self, address: Address, slot: U256, id: Option<BlockId>) -> RpcResult<B256> {
        let state = ok(self.0.state(id))?;
        Ok(B256::from(state.storage(&address, &slot)))
    }

    fn call(
        &self,
        request: CallRequest,
        id: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes> {
        let block = ok(self.0.state_block(id))?;
        let outcome = ok(self
            .0
            .caller()
            .call(&block.block, &request, overrides.as_ref())
            .map_err(Into::into))?;
        Ok(outcome.output)
    }

    fn estimate_gas(
        &self,
        request: CallRequest,
        id: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<U64> {
        let block = ok(self.0.state_block(id))?;
        let gas = ok(self
            .0
            .caller()
            .estimate_gas(&block.block, &request, overrides.as_ref())
            .map_err(Into::into))?;
        Ok(U64::from(gas))
    }

    fn create_access_list(
        &self,
        request: CallRequest,
        id: Option<BlockId>,
        overrides: Option<StateOverride>,
    ) -> RpcResult<alloy_rpc_types_eth::AccessListResult> {
        let block = ok(self.0.state_block(id))?;
        ok(access_list(
            &self.0,
            &block.block,
            request,
            overrides.as_ref(),
        ))
    }

    fn get_proof(
        &self,
        address: Address,
        keys: Vec<alloy_serde::storage::JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<alloy_rpc_types_eth::EIP1186AccountProofResponse> {
        ok(proof(&self.0, address, keys, block))
    }

    fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        if !self.0.accepts_transactions {
            return Err(RpcError::Server(
                "this node derives the chain from Bitcoin and does not take transactions: send them to the sequencer".into(),
            )
            .into());
        }
        ok(self.0.pool.submit_raw(&raw).map_err(Into::into))
    }

    fn send_transaction(&self, request: CallRequest) -> RpcResult<B256> {
        ok(crate::dev::send_transaction(&self.0, request))
    }

    fn sign(&self, _address: Address, _data: Bytes) -> RpcResult<Bytes> {
        Err(RpcError::Server("unknown account".into()).into())
    }

    fn get_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        let c = &self.0;
        if let Some((number, index)) =
            ok(c.storage.transaction_location(&hash).map_err(Into::into))?
            && let Some(entry) = ok(c.storage.block_by_number(number).map_err(Into::into))?
            && let Some(tx) = entry.block.transactions.get(index)
        {
            return Ok(Some(convert::transaction(tx, Some((&entry.block, index)))));
        }
        Ok(c.pool.get(&hash).map(|tx| convert::transaction(&tx, None)))
    }

    fn get_raw_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Bytes>> {
        let c = &self.0;
        if let Some((number, index)) =
            ok(c.storage.transaction_location(&hash).map_err(Into::into))?
            && let Some(entry) = ok(c.storage.block_by_number(number).map_err(Into::into))?
        {
            return Ok(entry
                .block
                .transactions
                .get(index)
                .map(|t| t.encoded.clone()));
        }
        Ok(c.pool.get(&hash).map(|tx| tx.encoded.clone()))
    }

    fn get_transaction_receipt(&self, hash: B256) -> RpcResult<Option<CairnReceipt>> {
        let c = &self.0;
        let Some((number, index)) = ok(c.storage.transaction_location(&hash).map_err(Into::into))?
        else {
            return Ok(None);
        };
        let Some(entry) = ok(c.storage.block_by_number(number).map_err(Into::into))? else {
            return Ok(None);
        };
        ok(convert::receipt(&entry, index))
    }

    fn get_block_by_number(
        &self,
        tag: BlockNumberOrTag,
        full: Option<bool>,
    ) -> RpcResult<Option<Block>> {
        let entry = ok(self.0.block_for(BlockId::Number(tag)))?;
        Ok(entry.map(|e| convert::block(&e.block, full.unwrap_or(false))))
    }

    fn get_block_by_hash(&self, hash: B256, full: Option<bool>) -> RpcResult<Option<Block>> {
        let entry = ok(self.0.storage.block_by_hash(&hash).map_err(Into::into))?;
        Ok(entry.map(|e| convert::block(&e.block, full.unwrap_or(false))))
    }

    fn get_block_transaction_count_by_number(
        &self,
        tag: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>> {
        let entry = ok(self.0.block_for(BlockId::Number(tag)))?;
        Ok(entry.map(|e| U64::from(e.block.transactions.len())))
    }

    fn get_block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let entry = ok(self.0.storage.block_by_hash(&hash).map_err(Into::into))?;
        Ok(entry.map(|e| U64::from(e.block.transactions.len())))
    }

    fn get_transaction_by_block_number_and_index(
        &self,
        tag: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        let entry = ok(self.0.block_for(BlockId::Number(tag)))?;
        Ok(self.transaction_in(entry, index))
    }

    fn get_transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<Transaction>> {
        let entry = ok(self.0.storage.block_by_hash(&hash).map_err(Into::into))?;
        Ok(self.transaction_in(entry, index))
    }

    fn get_block_receipts(&self, id: BlockId) -> RpcResult<Option<Vec<CairnReceipt>>> {
        let Some(entry) = ok(self.0.block_for(id))? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(entry.receipts.len());
        for i in 0..entry.receipts.len() {
            if let Some(r) = ok(convert::receipt(&entry, i))? {
                out.push(r);
            }
        }
        Ok(Some(out))
    }

    fn get_uncle_count_by_block_number(&self, _block: serde_json::Value) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    fn get_uncle_count_by_block_hash(&self, _hash: serde_json::Value) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    fn get_logs(&self, filter: Filter) -> RpcResult<Vec<RpcLog>> {
        ok(self.0.logs(&filter))
    }
}

/// The most storage keys one `eth_getProof` may ask for.
const MAX_PROOF_KEYS: usize = 1024;

/// `eth_getProof` from the state trie itself. The tries are kept for the head only, so an
/// older block gets an error naming the head.
fn proof(
    c: &RpcContext,
    address: Address,
    keys: Vec<alloy_serde::storage::JsonStorageKey>,
    block: Option<BlockId>,
) -> Result<alloy_rpc_types_eth::EIP1186AccountProofResponse, RpcError> {
    use alloy_rpc_types_eth::EIP1186StorageProof;
    if keys.len() > MAX_PROOF_KEYS {
        return Err(RpcError::InvalidParams(format!(
            "too many storage keys: {} > {MAX_PROOF_KEYS}",
            keys.len()
        )));
    }
    let requested = c.state_block(block)?.block.number();
    let slots: Vec<U256> = keys
        .iter()
        .map(|k| U256::from_be_bytes(k.as_b256().0))
        .collect();
    let (head, proven) = c.storage.proof(&address, &slots)?;
    if requested != head {
        return Err(RpcError::Server(format!(
            "proofs are served for the latest block only: requested {requested}, head is {head}"
        )));
    }
    let account = proven.account.unwrap_or(cairn_storage::ProvenAccount {
        nonce: 0,
        balance: U256::ZERO,
        storage_root: alloy_consensus::EMPTY_ROOT_HASH,
        code_hash: alloy_primitives::KECCAK256_EMPTY,
    });
    Ok(alloy_rpc_types_eth::EIP1186AccountProofResponse {
        address,
        balance: account.balance,
        code_hash: account.code_hash,
        nonce: account.nonce,
        storage_hash: account.storage_root,
        account_proof: proven.nodes.into_iter().map(Bytes::from).collect(),
        storage_proof: keys
            .into_iter()
            .zip(proven.storage)
            .map(|(key, (_, value, nodes))| EIP1186StorageProof {
                key,
                value,
                proof: nodes.into_iter().map(Bytes::from).collect(),
            })
            .collect(),
    })
}

/// The most runs `eth_createAccessList` makes before the list must have settled: each run
/// can only add what the previous list made reachable.
const ACCESS_LIST_ROUNDS: usize = 16;

/// geth's `eth_createAccessList`: run the call with the list so far until it stops growing
/// (the sender, the recipient and precompiles are left out, as warm anyway).
fn access_list(
    c: &RpcContext,
    block: &cairn_primitives::Block,
    mut request: CallRequest,
    overrides: Option<&StateOverride>,
) -> Result<alloy_rpc_types_eth::AccessListResult, RpcError> {
    use revm::context::result::ExecutionResult;
    let caller = c.caller();
    let mut list = request.access_list.clone().unwrap_or_default();
    for _ in 0..ACCESS_LIST_ROUNDS {
        request.access_list = Some(list.clone());
        let mut inspector = revm_inspectors::access_list::AccessListInspector::new(list.clone());
        let (found, gas_used, error) = caller.inspect(
            block,
            &request,
            overrides,
            None,
            &mut inspector,
            |inspector, seen| {
                let error = match &seen.outcome.result {
                    ExecutionResult::Success { .. } => None,
                    ExecutionResult::Revert { output, .. } => Some(
                        crate::error::revert_reason(output)
                            .map_or("execution reverted".to_string(), |r| {
                                format!("execution reverted: {r}")
                            }),
                    ),
                    ExecutionResult::Halt { reason, .. } => Some(format!("{reason:?}")),
                };
                (
                    inspector.access_list(),
                    seen.outcome.result.tx_gas_used(),
                    error,
                )
            },
        )?;
        if found == list || error.is_some() {
            return Ok(alloy_rpc_types_eth::AccessListResult {
                access_list: found,
                gas_used: U256::from(gas_used),
                error,
            });
        }
        list = found;
    }
    Err(RpcError::Server(
        "access list did not settle: the call's storage depends on its own list".into(),
    ))
}

/// Build the method table: every namespace over one context.
pub fn module(
    ctx: Arc<RpcContext>,
) -> Result<RpcModule<RpcContext>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(ctx.clone());
    m.merge(EthApiServer::into_rpc(EthRpc(ctx.clone())))?;
    m.merge(crate::small::Web3ApiServer::into_rpc(
        crate::small::SmallRpc(ctx.clone()),
    ))?;
    m.merge(crate::small::NetApiServer::into_rpc(
        crate::small::SmallRpc(ctx.clone()),
    ))?;
    m.merge(crate::small::TxpoolApiServer::into_rpc(
        crate::small::SmallRpc(ctx.clone()),
    ))?;
    m.merge(crate::cairn::SettlementApiServer::into_rpc(
        crate::cairn::SettlementRpc(ctx.clone()),
    ))?;
    m.merge(crate::dev::DevApiServer::into_rpc(crate::dev::DevRpc(
        ctx.clone(),
    )))?;
    m.merge(crate::debug::DebugApiServer::into_rpc(
        crate::debug::DebugRpc(ctx.clone()),
    ))?;
    m.merge(crate::trace::TraceApiServer::into_rpc(
        crate::trace::TraceRpc(ctx.clone()),
    ))?;
    m.merge(crate::simulate::SimulateApiServer::into_rpc(
        crate::simulate::SimulateRpc(ctx.clone()),
    ))?;
    m.merge(crate::ots::OtsApiServer::into_rpc(crate::ots::OtsRpc(
        ctx.clone(),
    )))?;
    m.merge(crate::ots::ErigonApiServer::into_rpc(crate::ots::OtsRpc(
        ctx.clone(),
    )))?;
    m.merge(crate::peg::PegApiServer::into_rpc(crate::peg::PegRpc(ctx)))?;
    crate::filters::register(&mut m)?;
    crate::pubsub::register(&mut m)?;
    Ok(m)
}

fn fee_history(
    c: &RpcContext,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> Result<FeeHistory, RpcError> {
    if let Some(p) = &percentiles
        && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
    {
        return Err(RpcError::InvalidParams("invalid reward percentiles".into()));
    }
    let count = count.min(MAX_FEE_HISTORY);
    let newest = c
        .resolve_number(newest)
        .ok_or_else(|| RpcError::InvalidParams("request beyond head block".into()))?;
    if count == 0 {
        return Ok(FeeHistory {
            oldest_block: newest,
            ..Default::default()
        });
    }
    let oldest = newest.saturating_sub(count - 1);
    let mut history = FeeHistory {
        oldest_block: oldest,
        ..Default::default()
    };
    let mut rewards = Vec::new();
    let mut last = None;
    for n in oldest..=newest {
        let entry = c
            .storage
            .block_by_number(n)?
            .ok_or(cairn_storage::StorageError::BlockNotFound(n))?;
        let header = &entry.block.header;
        let base = header.base_fee_per_gas.unwrap_or_default();
        history.base_fee_per_gas.push(base as u128);
        history
            .gas_used_ratio
            .push(header.gas_used as f64 / header.gas_limit as f64);
        history.base_fee_per_blob_gas.push(1);
        history.blob_gas_used_ratio.push(0.0);
        if let Some(p) = &percentiles {
            rewards.push(block_rewards(&entry, base, p));
        }
        last = Some(entry);
    }
    if let Some(entry) = last {
        history
            .base_fee_per_gas
            .push(next_base_fee(&entry.block.header, c.spec.base_fee_floor) as u128);
        history.base_fee_per_blob_gas.push(1);
    }
    if percentiles.is_some() {
        history.reward = Some(rewards);
    }
    Ok(history)
}

/// Tips at the requested gas-weighted percentiles of one block (geth's method).
fn block_rewards(entry: &BlockWithReceipts, base_fee: u64, percentiles: &[f64]) -> Vec<u128> {
    let mut tips: Vec<(u128, u64)> = entry
        .block
        .transactions
        .iter()
        .zip(entry.receipts.iter())
        .map(|(tx, r)| (tx.effective_tip(base_fee).unwrap_or_default(), r.gas_used))
        .collect();
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    tips.sort_unstable();
    let total: u64 = entry.block.header.gas_used.max(1);
    let mut out = Vec::with_capacity(percentiles.len());
    let mut i = 0;
    let mut cumulative = tips[0].1;
    for p in percentiles {
        let threshold = (total as f64 * p / 100.0) as u64;
        while cumulative < threshold && i + 1 < tips.len() {
            i += 1;
            cumulative += tips[i].1;
        }
        out.push(tips[i].0);
    }
    out
}
