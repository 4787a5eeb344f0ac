//! `eth_call` and `eth_estimateGas`: transactions run against a block's state
//! and thrown away, with geth's defaults (no nonce check, no base fee when no
//! price is given, a 50M gas cap) and geth's estimation search.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rpc_types_eth::BlockOverrides;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_eth::state::StateOverride;
use cairn_primitives::{Block, ChainSpec, Log};
use cairn_storage::{Storage, StorageError};
use revm::context::result::{EVMError, ExecutionResult, HaltReason, OutOfGasError};
use revm::context::{Context, TxEnv};
use revm::database_interface::WrapDatabaseRef;
use revm::{ExecuteEvm, InspectEvm, Inspector, MainContext};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::Signature;

use crate::builder::{InspectContext, Inspected, invalid_tx_message};
use crate::db::StateDb;
use crate::env::{block_env, cfg_env};
use crate::fees::next_base_fee;
use crate::l1fee::{execution_gas_limit, l1_gas_padded};

/// geth's default `--rpc.gascap`.
pub const RPC_GAS_CAP: u64 = 50_000_000;
/// EIP-7825 (Osaka): no transaction may use more gas than this.
pub const TX_GAS_CAP: u64 = 1 << 24;

/// A call's request (alloy's RPC type, as wallets send it).
pub type CallRequest = TransactionRequest;

/// Why a call did not succeed, in the shape geth reports it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The EVM reverted: JSON-RPC code 3 with the revert data.
    #[error("execution reverted")]
    Revert(Bytes),
    /// The EVM halted (out of gas, invalid opcode...).
    #[error("{0}")]
    Halt(String),
    /// The transaction is invalid against the state (funds, nonce, gas).
    #[error("{0}")]
    Invalid(String),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub output: Bytes,
    pub gas_used: u64,
    pub logs: Vec<Log>,
}

/// Runs calls for the RPC.
pub struct Caller<'a> {
    pub storage: &'a Storage,
    pub spec: &'a ChainSpec,
    /// The L1 data fee rate (sat/kwu) the next block charges: `eth_estimateGas` adds the
    /// gas that pays it.
    pub l1_fee_rate: u64,
}

pub(crate) fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(OutOfGasError::Basic | OutOfGasError::Precompile) => {
            "out of gas".into()
        }
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::StackOverflow => "stack limit reached 1024 (1023)".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::NonceOverflow => "nonce uint64 overflow".into(),
        HaltReason::StateChangeDuringStaticCall => "write protection".into(),
        other => format!("{other:?}"),
    }
}

struct Prepared<'a> {
    db: StateDb<'a>,
    tx: TxEnv,
    block: revm::context::BlockEnv,
    chain_id: u64,
    withdrawals: Option<cairn_primitives::WithdrawalSpec>,
    no_fee: bool,
    nonce_given: bool,
}

impl<'a> Caller<'a> {
    fn prepare(
        &self,
        block: &Block,
        request: &CallRequest,
        overrides: Option<&StateOverride>,
        default_gas: u64,
    ) -> Result<Prepared<'a>, CallError> {
        let view = self.storage.state_at(block.number())?;
        let db = StateDb::new(view, self.storage);
        if let Some(overrides) = overrides {
            apply_overrides(&db, overrides)?;
        }
        let from = request.from.unwrap_or(Address::ZERO);
        let no_fee = request.gas_price.is_none()
            && request.max_fee_per_gas.is_none()
            && request.max_priority_fee_per_gas.is_none();
        let mut block_env = block_env(&block.header);
        if no_fee {
            block_env.basefee = 0;
        }
        let gas_price = request
            .gas_price
            .or(request.max_fee_per_gas)
            .unwrap_or_default();
        let is_1559 =
            request.max_fee_per_gas.is_some() || request.max_priority_fee_per_gas.is_some();
        let tx_type = if request.authorization_list.is_some() {
            4
        } else if is_1559 {
            2
        } else if request.access_list.is_some() {
            1
        } else {
            0
        };
        let nonce = match request.nonce {
            Some(n) => n,
            None => db.account(&from).map(|a| a.nonce).unwrap_or_default(),
        };
        let mut tx = TxEnv {
            tx_type,
            caller: from,
            gas_limit: request.gas.unwrap_or(default_gas),
            gas_price: if is_1559 {
                request.max_fee_per_gas.unwrap_or(gas_price)
            } else {
                gas_price
            },
            gas_priority_fee: is_1559.then(|| request.max_priority_fee_per_gas.unwrap_or_default()),
            kind: request.to.unwrap_or(TxKind::Create),
            value: request.value.unwrap_or_default(),
            data: request.input.input().cloned().unwrap_or_default(),
            nonce,
            chain_id: request.chain_id.or(Some(self.spec.chain_id)),
            access_list: request.access_list.clone().unwrap_or_default(),
            ..Default::default()
        };
        if let Some(list) = &request.authorization_list {
            tx.set_signed_authorization(list.clone());
        }
        Ok(Prepared {
            db,
            tx,
            block: block_env,
            chain_id: self.spec.chain_id,
            withdrawals: self.spec.withdrawals,
            no_fee,
            nonce_given: request.nonce.is_some(),
        })
    }

    /// Execute `request` on the state after `block`.
    pub fn call(
        &self,
        block: &Block,
        request: &CallRequest,
        overrides: Option<&StateOverride>,
    ) -> Result<CallOutcome, CallError> {
        let prepared = self.prepare_capped(block, request, overrides)?;
        run(&prepared, prepared.tx.clone(), RPC_GAS_CAP)
    }

    /// [`Caller::prepare`] at the RPC gas cap, refusing a request that asks for more.
    fn prepare_capped(
        &self,
        block: &Block,
        request: &CallRequest,
        overrides: Option<&StateOverride>,
    ) -> Result<Prepared<'a>, CallError> {
        let prepared = self.prepare(block, request, overrides, RPC_GAS_CAP)?;
        if prepared.tx.gas_limit > RPC_GAS_CAP {
            return Err(CallError::BadRequest(format!(
                "gas limit {} exceeds the RPC gas cap {RPC_GAS_CAP}",
                prepared.tx.gas_limit
            )));
        }
        Ok(prepared)
    }

    /// Run `request` on the state after `block` with `inspector` watching (debug_traceCall,
    /// trace_call, eth_createAccessList): `look` sees the outcome, whether it succeeded,
    /// reverted or halted. `block_overrides` replace fields of the block environment.
    pub fn inspect<I, R>(
        &self,
        block: &Block,
        request: &CallRequest,
        overrides: Option<&StateOverride>,
        block_overrides: Option<&BlockOverrides>,
        inspector: &mut I,
        look: impl FnOnce(&mut I, Inspected<'_>) -> R,
    ) -> Result<R, CallError>
    where
        I: for<'x> Inspector<InspectContext<'x>>,
    {
        let mut prepared = self.prepare_capped(block, request, overrides)?;
        if let Some(o) = block_overrides {
            override_block(&mut prepared.block, o);
        }
        let ctx = Context::mainnet()
            .with_db(WrapDatabaseRef(crate::builder::shorten(&prepared.db)))
            .with_cfg(call_cfg(&prepared, RPC_GAS_CAP))
            .with_block(prepared.block.clone());
        let mut evm = crate::env::inspecting_evm(ctx, prepared.withdrawals, &mut *inspector);
        let outcome = evm.inspect_tx(prepared.tx.clone()).map_err(evm_error)?;
        drop(evm);
        Ok(look(
            inspector,
            Inspected {
                outcome: &outcome,
                tx: &prepared.tx,
                block: &prepared.block,
                db: crate::builder::shorten(&prepared.db),
            },
        ))
    }

    /// The smallest gas limit with which `request` succeeds (geth's search).
    pub fn estimate_gas(
        &self,
        block: &Block,
        request: &CallRequest,
        overrides: Option<&StateOverride>,
    ) -> Result<u64, CallError> {
        let execution_cap = execution_gas_limit(&block.header).min(TX_GAS_CAP);
        let mut hi = request.gas.unwrap_or(execution_cap);
        let prepared = self.prepare(block, request, overrides, hi)?;
        // The L1 data fee is gas too: the EVM gets what is left of the limit after it.
        let base_fee = next_base_fee(&block.header, self.spec.base_fee_floor);
        let l1_gas = l1_gas_padded(
            signed_len(&prepared.tx, base_fee),
            self.l1_fee_rate,
            base_fee,
        );
        // A limit the caller gave covers both; the default caps execution alone.
        if let Some(total) = request.gas {
            hi = total.checked_sub(l1_gas).ok_or_else(|| {
                CallError::Invalid(format!(
                    "gas required exceeds allowance ({total}): the L1 data fee alone needs {l1_gas}"
                ))
            })?;
        }
        // Cap by what the sender can pay at the given fee cap.
        let fee_cap = prepared.tx.gas_price;
        if fee_cap > 0 {
            let balance = prepared
                .db
                .account(&prepared.tx.caller)
                .map(|a| a.balance)
                .unwrap_or_default();
            let available = balance
                .checked_sub(prepared.tx.value)
                .ok_or_else(|| CallError::Invalid("insufficient funds for transfer".to_string()))?;
            let allowance = (available / U256::from(fee_cap)).saturating_sub(U256::from(l1_gas));
            if allowance < U256::from(hi) {
                hi = allowance.to::<u64>();
            }
        }
        let attempt = |gas: u64| -> Result<CallOutcome, CallError> {
            let mut tx = prepared.tx.clone();
            tx.gas_limit = gas;
            run(&prepared, tx, TX_GAS_CAP)
        };
        let first = match attempt(hi) {
            Ok(outcome) => outcome,
            Err(CallError::Halt(reason)) if reason == "out of gas" => {
                return Err(CallError::Invalid(format!(
                    "gas required exceeds allowance ({})",
                    hi + l1_gas
                )));
            }
            Err(e) => return Err(e),
        };
        // Plain transfers to accounts without code need exactly 21000.
        if let TxKind::Call(to) = prepared.tx.kind {
            let no_code = prepared.db.account(&to).is_none_or(|a| !a.has_code());
            if no_code && prepared.tx.data.is_empty() && first.gas_used == 21_000 {
                return Ok(21_000 + l1_gas);
            }
        }
        let mut lo = first.gas_used.saturating_sub(1);
        // Most calls succeed with what they used plus the 63/64 call reserve.
        let optimistic = (first.gas_used + 2_300) * 64 / 63;
        if optimistic < hi && attempt(optimistic).is_ok() {
            hi = optimistic;
        }
        while lo + 1 < hi {
            if (hi - lo) as f64 / hi as f64 <= 0.015 {
                break;
            }
            let mut mid = lo + (hi - lo) / 2;
            if mid > lo * 2 {
                mid = lo * 2;
            }
            match attempt(mid) {
                Ok(_) => hi = mid,
                Err(CallError::Storage(e)) => return Err(CallError::Storage(e)),
                Err(_) => lo = mid,
            }
        }
        Ok(hi + l1_gas)
    }
}

/// The length of `tx` once signed, as its L1 data fee counts it. Fee fields missing from
/// a request are counted at twice the base fee, a typical wallet's cap.
fn signed_len(tx: &TxEnv, base_fee: u64) -> usize {
    let fee = tx.gas_price.max(u128::from(base_fee) * 2);
    let tip = tx.gas_priority_fee.unwrap_or_default();
    let chain_id = tx.chain_id.unwrap_or_default();
    let input = tx.data.clone();
    let envelope: TxEnvelope = match tx.tx_type {
        0 => signed(TxLegacy {
            chain_id: Some(chain_id),
            nonce: tx.nonce,
            gas_price: fee,
            gas_limit: tx.gas_limit,
            to: tx.kind,
            value: tx.value,
            input,
        }),
        1 => signed(TxEip2930 {
            chain_id,
            nonce: tx.nonce,
            gas_price: fee,
            gas_limit: tx.gas_limit,
            to: tx.kind,
            value: tx.value,
            access_list: tx.access_list.clone(),
            input,
        }),
        4 => signed(TxEip7702 {
            chain_id,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: tip,
            to: tx.kind.to().copied().unwrap_or_default(),
            value: tx.value,
            access_list: tx.access_list.clone(),
            authorization_list: tx
                .authorization_list
                .iter()
                .filter_map(|a| a.as_ref().left().cloned())
                .collect(),
            input,
        }),
        _ => signed(TxEip1559 {
            chain_id,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: tip,
            to: tx.kind,
            value: tx.value,
            access_list: tx.access_list.clone(),
            input,
        }),
    };
    envelope.encode_2718_len()
}

fn signed<T>(tx: T) -> TxEnvelope
where
    T: SignableTransaction<Signature>,
    alloy_consensus::Signed<T>: Into<TxEnvelope>,
{
    tx.into_signed(Signature::test_signature()).into()
}

/// revm's configuration for an RPC call: geth's relaxed checks.
fn call_cfg(prepared: &Prepared<'_>, gas_cap: u64) -> revm::context::CfgEnv {
    let mut cfg = cfg_env(prepared.chain_id);
    cfg.tx_gas_limit_cap = Some(gas_cap);
    cfg.disable_nonce_check = !prepared.nonce_given;
    cfg.disable_base_fee = prepared.no_fee;
    cfg.disable_block_gas_limit = true;
    cfg.disable_eip3607 = true;
    cfg
}

fn evm_error(error: EVMError<crate::ExecutionError>) -> CallError {
    match error {
        EVMError::Transaction(invalid) => CallError::Invalid(invalid_tx_message(&invalid)),
        EVMError::Database(e) => CallError::Internal(e.to_string()),
        other => CallError::Internal(other.to_string()),
    }
}

/// Applies `eth_call`-style block overrides to a block environment.
fn override_block(env: &mut revm::context::BlockEnv, o: &BlockOverrides) {
    if let Some(number) = o.number {
        env.number = number;
    }
    if let Some(time) = o.time {
        env.timestamp = U256::from(time);
    }
    if let Some(gas_limit) = o.gas_limit {
        env.gas_limit = gas_limit;
    }
    if let Some(coinbase) = o.coinbase {
        env.beneficiary = coinbase;
    }
    if let Some(random) = o.random {
        env.prevrandao = Some(random);
    }
    if let Some(base_fee) = o.base_fee {
        env.basefee = base_fee.saturating_to();
    }
}

fn run(prepared: &Prepared<'_>, tx: TxEnv, gas_cap: u64) -> Result<CallOutcome, CallError> {
    let ctx = Context::mainnet()
        .with_db(WrapDatabaseRef(&prepared.db))
        .with_cfg(call_cfg(prepared, gas_cap))
        .with_block(prepared.block.clone());
    let mut evm = crate::env::evm(ctx, prepared.withdrawals);
    let outcome = evm.transact(tx).map_err(evm_error)?;
    match outcome.result {
        ExecutionResult::Success {
            output, gas, logs, ..
        } => Ok(CallOutcome {
            output: output.into_data(),
            gas_used: gas.tx_gas_used(),
            logs,
        }),
        ExecutionResult::Revert { output, .. } => Err(CallError::Revert(output)),
        ExecutionResult::Halt { reason, .. } => Err(CallError::Halt(halt_message(&reason))),
    }
}

pub(crate) fn apply_overrides(
    db: &StateDb<'_>,
    overrides: &StateOverride,
) -> Result<(), CallError> {
    for (address, o) in overrides.iter() {
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(CallError::BadRequest(format!(
                "account {address} has both 'state' and 'stateDiff'"
            )));
        }
        let mut account = db.account(address).unwrap_or_default();
        if let Some(balance) = o.balance {
            account.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            account.nonce = nonce;
        }
        db.set_account(*address, account);
        if let Some(code) = &o.code {
            db.set_code(*address, code.clone());
        }
        if let Some(state) = &o.state {
            db.clear_storage(*address);
            for (slot, value) in state {
                db.set_storage(
                    *address,
                    U256::from_be_bytes(slot.0),
                    U256::from_be_bytes(value.0),
                );
            }
        }
        if let Some(diff) = &o.state_diff {
            for (slot, value) in diff {
                db.set_storage(
                    *address,
                    U256::from_be_bytes(slot.0),
                    U256::from_be_bytes(value.0),
                );
            }
        }
    }
    Ok(())
}
