//! Dev-chain controls as Anvil and Hardhat serve them (`evm_`, `anvil_`, `hardhat_`),
//! answered only by `cairn dev`: mining on demand, block time, state edits, snapshots,
//! impersonation and the knobs of block production. Every other node refuses them with
//! an error naming `cairn dev`.
//!
//! Mining and time controls make ordinary blocks (batched, re-derivable). State edits,
//! snapshots, impersonated transactions, a set base fee or gas limit make blocks no
//! follower could re-derive from Bitcoin: from the first such block on, the chain is this
//! node's alone and settlement stops posting it (`Storage::mark_local_from`; the peg
//! still credits deposits, withdrawals from then on are not paid).

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::TransactionRequest;
use cairn_execution::SystemTx;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

use crate::context::RpcContext;
use crate::error::RpcError;
use cairn_sequencer::DevChain;

/// `evm_mine`'s optional argument: a timestamp, or Ganache's `{timestamp, blocks}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MineOptions {
    Timestamp(U256),
    Options {
        timestamp: Option<U256>,
        blocks: Option<U256>,
    },
}

/// The dev methods.
#[rpc(server, client)]
pub trait DevApi {
    /// Seal one block (Anvil answers `"0x0"`).
    #[method(name = "evm_mine", blocking)]
    fn evm_mine(&self, options: Option<MineOptions>) -> RpcResult<String>;
    /// Seal `count` blocks (default 1), `interval` seconds apart (default: the clock).
    #[method(name = "anvil_mine", aliases = ["hardhat_mine"], blocking)]
    fn anvil_mine(&self, count: Option<U256>, interval: Option<U256>) -> RpcResult<()>;
    /// Move block time ahead; returns the whole offset in seconds.
    #[method(name = "evm_increaseTime", aliases = ["anvil_increaseTime"])]
    fn increase_time(&self, seconds: U256) -> RpcResult<u64>;
    /// Give the next block this timestamp.
    #[method(name = "evm_setNextBlockTimestamp", aliases = ["anvil_setNextBlockTimestamp"])]
    fn set_next_block_timestamp(&self, timestamp: U256) -> RpcResult<()>;
    /// Whether blocks are sealed as transactions arrive.
    #[method(name = "hardhat_getAutomine", aliases = ["anvil_getAutomine"])]
    fn get_automine(&self) -> RpcResult<bool>;
    /// Seal blocks as transactions arrive (`true`) or only on request.
    #[method(name = "evm_setAutomine", aliases = ["anvil_setAutomine"])]
    fn set_automine(&self, on: bool) -> RpcResult<()>;
    /// Seal a block every `seconds` (Anvil's unit, which clients that see Anvil's
    /// version also send to `evm_setIntervalMining`); 0: as transactions arrive.
    #[method(name = "anvil_setIntervalMining", aliases = ["evm_setIntervalMining"])]
    fn set_interval_mining(&self, seconds: U256) -> RpcResult<()>;
    /// A transaction from any address, without a signature (Anvil).
    #[method(name = "eth_sendUnsignedTransaction", blocking)]
    fn send_unsigned_transaction(&self, request: TransactionRequest) -> RpcResult<B256>;
    #[method(name = "anvil_setBalance", aliases = ["hardhat_setBalance"], blocking)]
    fn set_balance(&self, address: Address, balance: U256) -> RpcResult<()>;
    #[method(name = "anvil_setNonce", aliases = ["hardhat_setNonce"], blocking)]
    fn set_nonce(&self, address: Address, nonce: U256) -> RpcResult<()>;
    #[method(name = "anvil_setCode", aliases = ["hardhat_setCode"], blocking)]
    fn set_code(&self, address: Address, code: Bytes) -> RpcResult<()>;
    #[method(name = "anvil_setStorageAt", aliases = ["hardhat_setStorageAt"], blocking)]
    fn set_storage_at(&self, address: Address, slot: U256, value: B256) -> RpcResult<bool>;
    /// Snapshot the chain; returns its id.
    #[method(name = "evm_snapshot", aliases = ["anvil_snapshot"], blocking)]
    fn snapshot(&self) -> RpcResult<U256>;
    /// Back to a snapshot (which is used up, with later ones); `false` if unknown.
    #[method(name = "evm_revert", aliases = ["anvil_revert"], blocking)]
    fn revert(&self, id: U256) -> RpcResult<bool>;
    #[method(name = "anvil_impersonateAccount", aliases = ["hardhat_impersonateAccount"])]
    fn impersonate_account(&self, address: Address) -> RpcResult<()>;
    #[method(
        name = "anvil_stopImpersonatingAccount",
        aliases = ["hardhat_stopImpersonatingAccount"]
    )]
    fn stop_impersonating_account(&self, address: Address) -> RpcResult<()>;
    #[method(name = "anvil_autoImpersonateAccount")]
    fn auto_impersonate_account(&self, on: bool) -> RpcResult<()>;
    /// Drop a waiting transaction: its hash if it was waiting (Anvil).
    #[method(name = "anvil_dropTransaction")]
    fn anvil_drop_transaction(&self, hash: B256) -> RpcResult<Option<B256>>;
    /// Drop a waiting transaction: whether it was waiting (Hardhat).
    #[method(name = "hardhat_dropTransaction")]
    fn hardhat_drop_transaction(&self, hash: B256) -> RpcResult<bool>;
    #[method(name = "anvil_dropAllTransactions")]
    fn drop_all_transactions(&self) -> RpcResult<()>;
    #[method(
        name = "anvil_setNextBlockBaseFeePerGas",
        aliases = ["hardhat_setNextBlockBaseFeePerGas"]
    )]
    fn set_next_block_base_fee(&self, base_fee: U256) -> RpcResult<()>;
    #[method(name = "anvil_setCoinbase", aliases = ["hardhat_setCoinbase"])]
    fn set_coinbase(&self, coinbase: Address) -> RpcResult<()>;
    #[method(name = "evm_setBlockGasLimit", aliases = ["anvil_setBlockGasLimit"])]
    fn set_block_gas_limit(&self, gas_limit: U256) -> RpcResult<bool>;
    /// Hardhat's description of the node.
    #[method(name = "hardhat_metadata")]
    fn hardhat_metadata(&self) -> RpcResult<serde_json::Value>;
    /// Anvil's description of the node.
    #[method(name = "anvil_nodeInfo")]
    fn anvil_node_info(&self) -> RpcResult<serde_json::Value>;
}

/// Serves the dev methods from the node's context.
pub(crate) struct DevRpc(pub(crate) Arc<RpcContext>);

impl DevRpc {
    fn control(&self, method: &str) -> Result<&DevChain, ErrorObjectOwned> {
        self.0.dev.as_deref().ok_or_else(|| {
            ErrorObjectOwned::owned(
                jsonrpsee::types::error::METHOD_NOT_FOUND_CODE,
                format!(
                    "the method {method} is only served by `cairn dev`: this node's chain is settled on Bitcoin as it is"
                ),
                None::<()>,
            )
        })
    }
}

fn to_u64(value: U256, what: &str) -> Result<u64, ErrorObjectOwned> {
    u64::try_from(value)
        .map_err(|_| RpcError::InvalidParams(format!("{what} {value} is out of range")).into())
}

fn server(message: impl std::fmt::Display) -> ErrorObjectOwned {
    RpcError::Server(message.to_string()).into()
}

/// The most blocks one mining call may seal.
const MAX_MINE: u64 = 100_000;

/// A mining call's block count (default 1), within [`MAX_MINE`].
fn block_count(value: Option<U256>) -> Result<u64, ErrorObjectOwned> {
    let count = value.map_or(Ok(1), |c| to_u64(c, "block count"))?;
    if count > MAX_MINE {
        return Err(RpcError::InvalidParams(format!("at most {MAX_MINE} blocks at once")).into());
    }
    Ok(count)
}

impl DevApiServer for DevRpc {
    fn evm_mine(&self, options: Option<MineOptions>) -> RpcResult<String> {
        let control = self.control("evm_mine")?;
        let (timestamp, blocks) = match options {
            None => (None, None),
            Some(MineOptions::Timestamp(t)) => (Some(t), None),
            Some(MineOptions::Options { timestamp, blocks }) => (timestamp, blocks),
        };
        if let Some(t) = timestamp {
            control
                .producer()
                .set_next_timestamp(to_u64(t, "timestamp")?)
                .map_err(server)?;
        }
        let count = block_count(blocks)?;
        control
            .producer()
            .mine(count.max(1), None)
            .map_err(server)?;
        Ok("0x0".into())
    }

    fn anvil_mine(&self, count: Option<U256>, interval: Option<U256>) -> RpcResult<()> {
        let control = self.control("anvil_mine")?;
        let count = block_count(count)?;
        let interval = interval.map(|i| to_u64(i, "interval")).transpose()?;
        control.producer().mine(count, interval).map_err(server)?;
        Ok(())
    }

    fn increase_time(&self, value: U256) -> RpcResult<u64> {
        let control = self.control("evm_increaseTime")?;
        Ok(control
            .producer()
            .increase_time(to_u64(value, "time increase")?))
    }

    fn set_next_block_timestamp(&self, timestamp: U256) -> RpcResult<()> {
        let control = self.control("evm_setNextBlockTimestamp")?;
        control
            .producer()
            .set_next_timestamp(to_u64(timestamp, "timestamp")?)
            .map_err(server)
    }

    fn get_automine(&self) -> RpcResult<bool> {
        Ok(self.control("hardhat_getAutomine")?.producer().automine())
    }

    fn set_automine(&self, on: bool) -> RpcResult<()> {
        self.control("evm_setAutomine")?.producer().set_automine(on);
        Ok(())
    }

    fn set_interval_mining(&self, seconds: U256) -> RpcResult<()> {
        let control = self.control("anvil_setIntervalMining")?;
        let seconds = to_u64(seconds, "interval")?;
        control
            .producer()
            .set_interval_mining((seconds > 0).then(|| Duration::from_secs(seconds)));
        Ok(())
    }

    fn send_unsigned_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        self.control("eth_sendUnsignedTransaction")?;
        Ok(send(&self.0, request, true)?)
    }

    fn set_balance(&self, address: Address, balance: U256) -> RpcResult<()> {
        self.edit(
            "anvil_setBalance",
            SystemTx::SetBalance { address, balance },
        )
    }

    fn set_nonce(&self, address: Address, nonce: U256) -> RpcResult<()> {
        let nonce = to_u64(nonce, "nonce")?;
        self.edit("anvil_setNonce", SystemTx::SetNonce { address, nonce })
    }

    fn set_code(&self, address: Address, code: Bytes) -> RpcResult<()> {
        if code.len() > revm::primitives::eip170::MAX_CODE_SIZE {
            return Err(RpcError::InvalidParams(format!(
                "code of {} bytes is above the {}-byte limit (EIP-170)",
                code.len(),
                revm::primitives::eip170::MAX_CODE_SIZE
            ))
            .into());
        }
        self.edit("anvil_setCode", SystemTx::SetCode { address, code })
    }

    fn set_storage_at(&self, address: Address, slot: U256, value: B256) -> RpcResult<bool> {
        let value = U256::from_be_bytes(value.0);
        self.edit(
            "anvil_setStorageAt",
            SystemTx::SetStorage {
                address,
                slot,
                value,
            },
        )?;
        Ok(true)
    }

    fn snapshot(&self) -> RpcResult<U256> {
        let id = self.control("evm_snapshot")?.snapshot().map_err(server)?;
        Ok(U256::from(id))
    }

    fn revert(&self, id: U256) -> RpcResult<bool> {
        let control = self.control("evm_revert")?;
        match u64::try_from(id) {
            Ok(id) => control.revert(id).map_err(server),
            Err(_) => Ok(false),
        }
    }

    fn impersonate_account(&self, address: Address) -> RpcResult<()> {
        self.control("anvil_impersonateAccount")?
            .impersonate(address, true);
        Ok(())
    }

    fn stop_impersonating_account(&self, address: Address) -> RpcResult<()> {
        self.control("anvil_stopImpersonatingAccount")?
            .impersonate(address, false);
        Ok(())
    }

    fn auto_impersonate_account(&self, on: bool) -> RpcResult<()> {
        self.control("anvil_autoImpersonateAccount")?
            .auto_impersonate(on);
        Ok(())
    }

    fn anvil_drop_transaction(&self, hash: B256) -> RpcResult<Option<B256>> {
        self.control("anvil_dropTransaction")?;
        Ok(self.0.pool.drop_transaction(&hash).then_some(hash))
    }

    fn hardhat_drop_transaction(&self, hash: B256) -> RpcResult<bool> {
        self.control("hardhat_dropTransaction")?;
        Ok(self.0.pool.drop_transaction(&hash))
    }

    fn drop_all_transactions(&self) -> RpcResult<()> {
        self.control("anvil_dropAllTransactions")?;
        self.0.pool.drop_all();
        Ok(())
    }

    fn set_next_block_base_fee(&self, base_fee: U256) -> RpcResult<()> {
        let control = self.control("anvil_setNextBlockBaseFeePerGas")?;
        control
            .producer()
            .set_next_base_fee(to_u64(base_fee, "base fee")?)
            .map_err(server)
    }

    fn set_coinbase(&self, coinbase: Address) -> RpcResult<()> {
        self.control("anvil_setCoinbase")?
            .producer()
            .set_coinbase(coinbase);
        Ok(())
    }

    fn set_block_gas_limit(&self, gas_limit: U256) -> RpcResult<bool> {
        let control = self.control("evm_setBlockGasLimit")?;
        let gas_limit = to_u64(gas_limit, "gas limit")?;
        if gas_limit < 21_000 {
            return Err(RpcError::InvalidParams(format!(
                "gas limit {gas_limit} is below the 21000 a transfer needs"
            ))
            .into());
        }
        control
            .producer()
            .set_block_gas_limit(gas_limit)
            .map_err(server)?;
        Ok(true)
    }

    fn hardhat_metadata(&self) -> RpcResult<serde_json::Value> {
        self.control("hardhat_metadata")?;
        let c = &self.0;
        let head = c.storage.head();
        Ok(serde_json::json!({
            "clientVersion": c.client_version,
            "chainId": c.spec.chain_id,
            "instanceId": c.storage.block_by_number(0).ok().flatten().map(|b| b.block.hash),
            "latestBlockNumber": head.block.number(),
            "latestBlockHash": head.block.hash,
        }))
    }

    fn anvil_node_info(&self) -> RpcResult<serde_json::Value> {
        let control = self.control("anvil_nodeInfo")?;
        let c = &self.0;
        let head = c.storage.head();
        let base_fee =
            cairn_execution::fees::next_base_fee(&head.block.header, c.spec.base_fee_floor);
        Ok(serde_json::json!({
            "currentBlockNumber": head.block.number(),
            "currentBlockTimestamp": head.block.header.timestamp,
            "currentBlockHash": head.block.hash,
            "hardFork": "prague",
            "transactionOrder": "fees",
            "environment": {
                "baseFee": base_fee,
                "chainId": c.spec.chain_id,
                "gasLimit": head.block.header.gas_limit,
                "gasPrice": u128::from(base_fee) + c.suggested_tip(),
            },
            "forkConfig": {},
            "coinbase": control.producer().coinbase(),
            "automine": control.producer().automine(),
        }))
    }
}

impl DevRpc {
    fn edit(&self, method: &str, edit: SystemTx) -> RpcResult<()> {
        self.control(method)?
            .producer()
            .edit_state(vec![edit])
            .map(|_| ())
            .map_err(server)
    }
}

/// `eth_accounts`: the dev accounts on `cairn dev`, none elsewhere (geth without keys).
pub(crate) fn accounts(ctx: &RpcContext) -> Vec<Address> {
    ctx.dev.as_ref().map(|d| d.accounts()).unwrap_or_default()
}

/// `eth_sendTransaction` on `cairn dev`: the request completed as a wallet would (nonce,
/// gas, fees, chain id), signed with the sender's dev key or impersonated, and sent to the
/// mempool. Other nodes hold no keys: "unknown account", as geth says.
pub(crate) fn send_transaction(
    ctx: &RpcContext,
    request: TransactionRequest,
) -> Result<B256, RpcError> {
    send(ctx, request, false)
}

/// [`send_transaction`]; with `unsigned`, as any sender, impersonated.
fn send(
    ctx: &RpcContext,
    mut request: TransactionRequest,
    unsigned: bool,
) -> Result<B256, RpcError> {
    let unknown = || RpcError::Server("unknown account".into());
    let Some(dev) = ctx.dev.as_deref() else {
        return Err(unknown());
    };
    let from = request
        .from
        .ok_or_else(|| RpcError::InvalidParams("missing \"from\": the sender".into()))?;
    if !unsigned && !dev.can_send_as(from) {
        return Err(unknown());
    }
    let head = ctx.storage.head();
    let base_fee =
        cairn_execution::fees::next_base_fee(&head.block.header, ctx.spec.base_fee_floor);
    if request.chain_id.is_some_and(|id| id != ctx.spec.chain_id) {
        return Err(RpcError::InvalidParams(format!(
            "chainId {} is not this chain's {}",
            request.chain_id.unwrap_or_default(),
            ctx.spec.chain_id
        )));
    }
    request.chain_id = Some(ctx.spec.chain_id);
    // No `to`: a deployment.
    request.to.get_or_insert(alloy_primitives::TxKind::Create);
    if request.nonce.is_none() {
        let state = ctx
            .storage
            .latest_state()
            .account(&from)
            .map_or(0, |a| a.nonce);
        request.nonce = Some(ctx.pool.pending_nonce(&from, state));
    }
    if request.gas_price.is_none() {
        let tip = request
            .max_priority_fee_per_gas
            .unwrap_or_else(|| ctx.suggested_tip());
        request.max_priority_fee_per_gas = Some(tip);
        request
            .max_fee_per_gas
            .get_or_insert(2 * u128::from(base_fee) + tip);
    }
    if request.gas.is_none() {
        request.gas = Some(ctx.caller().estimate_gas(&head.block, &request, None)?);
    }
    let tx = request.build_typed_tx().map_err(|_| {
        RpcError::InvalidParams("the request does not make a complete transaction".into())
    })?;
    let signed = dev
        .sign(from, tx, unsigned)
        .map_err(RpcError::Server)?
        .ok_or_else(unknown)?;
    Ok(ctx.pool.add(Arc::new(signed))?)
}
