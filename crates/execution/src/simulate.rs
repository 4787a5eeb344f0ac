//! `eth_simulateV1`'s engine: blocks that are built and thrown away. Each simulated block
//! runs through the same [`BlockBuilder`] as a real one (L1 data fee, fee crediting,
//! receipts and roots), on the state the previous simulated block left, starting from a
//! recorded block's state. Calls come in as requests and run as transactions from their
//! `from`, unsigned. Simulated blocks carry no state root (Cairn's commitment covers
//! only real blocks).

use std::sync::Arc;

use alloy_primitives::{
    Address, B256, Bytes, Log, LogData, TxKind, U256, address, b256, keccak256,
};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_eth::state::StateOverride;
use cairn_primitives::{Block, ChainSpec, Header, Receipt, RecoveredTx, header_template};
use cairn_storage::Storage;
use revm::context::result::ExecutionResult;
use revm_inspectors::transfer::TransferInspector;

use crate::builder::{BlockBuilder, SkippedTx};
use crate::call::{CallError, TX_GAS_CAP, apply_overrides, halt_message};
use crate::db::StateDb;
use crate::fees::next_base_fee;

/// Where `traceTransfers` logs come from (geth's pseudo-address for ether).
pub const TRANSFER_LOG_ADDRESS: Address = address!("0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE");
/// `Transfer(address,address,uint256)`.
pub const TRANSFER_TOPIC: B256 =
    b256!("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// How a simulated call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimulatedStatus {
    Success,
    /// Reverted; the output is the revert data.
    Revert,
    /// Halted (out of gas, invalid opcode...), with geth's message.
    Halt(String),
}

/// One simulated call's outcome.
#[derive(Debug, Clone)]
pub struct SimulatedCall {
    pub status: SimulatedStatus,
    pub output: Bytes,
    /// Gas used, the L1 data fee's included.
    pub gas_used: u64,
    /// Its logs, after any ether transfer logs (`traceTransfers`).
    pub logs: Vec<Log>,
}

/// One simulated block.
#[derive(Debug, Clone)]
pub struct SimulatedBlock {
    pub block: Block,
    pub receipts: Vec<Receipt>,
    pub calls: Vec<SimulatedCall>,
}

/// Why a simulation stopped (geth's `eth_simulateV1` codes).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A call that could not run as a transaction (nonce, funds, fee...), with geth's
    /// code for it.
    #[error("{message}")]
    Invalid { code: i32, message: String },
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Execution(#[from] crate::ExecutionError),
}

/// geth's code for a transaction the simulation cannot include.
fn invalid_code(message: &str) -> i32 {
    match message {
        m if m.starts_with("nonce too low") => -38010,
        m if m.starts_with("nonce too high") => -38011,
        m if m.contains("less than block base fee") => -38012,
        m if m.starts_with("intrinsic gas too low") || m.contains("floor data gas") => -38013,
        m if m.starts_with("insufficient funds") => -38014,
        m if m.contains("gas limit") => -38015,
        m if m.contains("not an eoa") => -38024,
        m if m.contains("initcode") => -38025,
        _ => -32000,
    }
}

/// Simulated blocks on top of a recorded block.
pub struct Simulator<'a> {
    storage: &'a Storage,
    spec: &'a ChainSpec,
    db: Option<StateDb<'a>>,
    parent: Header,
    parent_hash: B256,
    l1_fee_rate: u64,
    validation: bool,
    trace_transfers: bool,
}

impl<'a> Simulator<'a> {
    /// Simulate after `base` (its state must be in the history window), charging the L1
    /// data fee at `l1_fee_rate`; with `validation`, calls are checked as transactions
    /// (nonces, base fee).
    pub fn new(
        storage: &'a Storage,
        spec: &'a ChainSpec,
        base: &Block,
        l1_fee_rate: u64,
        validation: bool,
        trace_transfers: bool,
    ) -> Result<Self, SimulateError> {
        let view = storage.state_at(base.number()).map_err(CallError::from)?;
        Ok(Self {
            storage,
            spec,
            db: Some(StateDb::new(view, storage)),
            parent: base.header.clone(),
            parent_hash: base.hash,
            l1_fee_rate,
            validation,
            trace_transfers,
        })
    }

    /// The header the next block gets unless overridden: the next number, a second later,
    /// the chain's gas limit, the parent's recipient, and (with validation) the EIP-1559
    /// base fee, else none.
    pub fn next_header(&self) -> Header {
        let mut header = header_template();
        header.parent_hash = self.parent_hash;
        header.number = self.parent.number + 1;
        header.timestamp = self.parent.timestamp + 1;
        header.gas_limit = self.spec.block_gas_limit;
        header.beneficiary = self.parent.beneficiary;
        header.base_fee_per_gas = Some(if self.validation {
            next_base_fee(&self.parent, self.spec.base_fee_floor)
        } else {
            0
        });
        header.mix_hash = keccak256(self.parent_hash);
        header
    }

    /// Simulate one block: `header` (from [`Simulator::next_header`], overridden as asked),
    /// `overrides` applied first, then `calls` in order.
    pub fn block(
        &mut self,
        header: Header,
        overrides: Option<&StateOverride>,
        calls: &[TransactionRequest],
    ) -> Result<SimulatedBlock, SimulateError> {
        let db = self
            .db
            .take()
            .ok_or_else(|| crate::ExecutionError::Evm("the simulation lost its state".into()))?;
        if let Some(overrides) = overrides {
            apply_overrides(&db, overrides)?;
        }
        let mut builder =
            BlockBuilder::starting(self.storage, self.spec, db, header, self.l1_fee_rate);
        if !self.validation {
            builder.relax();
        }
        let mut results = Vec::with_capacity(calls.len());
        for request in calls {
            let tx = self.transaction(&builder, request)?;
            let mut transfers = TransferInspector::new(false);
            let (status, output) = builder
                .push_inspected(tx, &mut transfers, |_, seen| match &seen.outcome.result {
                    ExecutionResult::Success { output, .. } => {
                        (SimulatedStatus::Success, output.data().clone())
                    }
                    ExecutionResult::Revert { output, .. } => {
                        (SimulatedStatus::Revert, output.clone())
                    }
                    ExecutionResult::Halt { reason, .. } => {
                        (SimulatedStatus::Halt(halt_message(reason)), Bytes::new())
                    }
                })
                .map_err(|skipped| match skipped {
                    SkippedTx::BlockFull => SimulateError::Invalid {
                        code: -38015,
                        message: "block gas limit reached".into(),
                    },
                    SkippedTx::Invalid(message) => SimulateError::Invalid {
                        code: invalid_code(&message),
                        message,
                    },
                })?;
            let receipt = builder.last_receipt().ok_or_else(|| {
                crate::ExecutionError::Evm("a simulated call left no receipt".into())
            })?;
            let mut logs = Vec::new();
            if self.trace_transfers {
                for transfer in transfers.into_transfers() {
                    if transfer.value.is_zero() {
                        continue;
                    }
                    logs.push(transfer_log(transfer.from, transfer.to, transfer.value));
                }
            }
            logs.extend(receipt.logs.iter().cloned());
            results.push(SimulatedCall {
                status,
                output,
                gas_used: receipt.gas_used,
                logs,
            });
        }
        let (block, receipts, db) = builder.seal_simulated()?;
        self.parent = block.header.clone();
        self.parent_hash = block.hash;
        self.db = Some(db);
        Ok(SimulatedBlock {
            block,
            receipts,
            calls: results,
        })
    }

    /// A call request as the transaction the block runs: defaults as geth fills them (the
    /// sender's next nonce, the gas left in the block, fees only when validating).
    fn transaction(
        &self,
        builder: &BlockBuilder<'a>,
        request: &TransactionRequest,
    ) -> Result<Arc<RecoveredTx>, SimulateError> {
        let mut request = request.clone();
        let from = request.from.unwrap_or(Address::ZERO);
        request.from = Some(from);
        request.to.get_or_insert(TxKind::Create);
        request.chain_id = Some(self.spec.chain_id);
        if request.nonce.is_none() {
            let nonce = builder.state().account(&from).map_or(0, |a| a.nonce);
            request.nonce = Some(nonce);
        }
        if request.gas.is_none() {
            request.gas = Some(builder.gas_remaining().min(TX_GAS_CAP));
        }
        if request.gas_price.is_none() {
            let base_fee = u128::from(builder.base_fee());
            let tip = request.max_priority_fee_per_gas.unwrap_or_default();
            request.max_priority_fee_per_gas = Some(tip);
            let default_cap = if self.validation {
                2 * base_fee + tip
            } else {
                tip
            };
            request.max_fee_per_gas.get_or_insert(default_cap);
        }
        let tx = request.build_typed_tx().map_err(|_| {
            CallError::BadRequest("a call does not make a complete transaction".into())
        })?;
        Ok(Arc::new(RecoveredTx::impersonated(tx, from)))
    }
}

/// A simulated value transfer as `traceTransfers` reports it.
pub fn transfer_log(from: Address, to: Address, value: U256) -> Log {
    Log {
        address: TRANSFER_LOG_ADDRESS,
        data: LogData::new_unchecked(
            vec![TRANSFER_TOPIC, from.into_word(), to.into_word()],
            Bytes::from(value.to_be_bytes::<32>().to_vec()),
        ),
    }
}
