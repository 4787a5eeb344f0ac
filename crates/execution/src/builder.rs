//! Building one L2 block: system transactions first, then user transactions in
//! the order the sequencer chose, each executed with revm on top of the last.

use std::sync::Arc;

use alloy_consensus::Transaction as _;
use alloy_consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy_primitives::{Address, Bloom, U256, keccak256};
use cairn_primitives::{
    Block, ChainSpec, Deposit, Header, Payout, Receipt, RecoveredTx, deposits_root, header_template,
};
use cairn_storage::{StateChanges, Storage};
use revm::context::result::{EVMError, ExecutionResult, InvalidTransaction, ResultAndState};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::database_interface::WrapDatabaseRef;
use revm::{ExecuteEvm, InspectEvm, Inspector, MainContext};

use crate::db::StateDb;
use crate::env::{block_env, cfg_env, tx_env};
use crate::fees::next_base_fee;
use crate::intrinsic::intrinsic_gas;
use crate::l1fee::{extra_data_for, l1_gas};
use crate::{ExecutionError, Result};

/// A state change that does not come from a signed transaction: the peg's deposit mints,
/// and on `cairn dev` the state edits Anvil and Hardhat serve (`anvil_setBalance`...),
/// which no batch carries (see `Storage::mark_local_from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemTx {
    /// Credit `amount` wei to `to`.
    Mint { to: Address, amount: U256 },
    /// Set an account's balance.
    SetBalance { address: Address, balance: U256 },
    /// Set an account's nonce.
    SetNonce { address: Address, nonce: u64 },
    /// Replace an account's code (empty: none).
    SetCode {
        address: Address,
        code: alloy_primitives::Bytes,
    },
    /// Set one storage slot.
    SetStorage {
        address: Address,
        slot: U256,
        value: U256,
    },
}

impl SystemTx {
    /// Whether batches can carry it (a deposit's mint is re-derived from Bitcoin; edits
    /// exist only on the node that made them).
    pub fn is_settled(&self) -> bool {
        matches!(self, Self::Mint { .. })
    }
}

/// Why a transaction was left out of the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkippedTx {
    /// Not enough gas left in this block; it may fit the next one.
    #[error("block gas limit reached")]
    BlockFull,
    /// Invalid against the current state (nonce, funds, fee below base fee...).
    #[error("{0}")]
    Invalid(String),
}

/// A transaction between its admission checks and its commit (what the EVM runs, the
/// gas limit less the L1 gas, travels beside it).
struct Pending {
    l1_gas: u64,
    l1_fee: U256,
    /// The sender's earlier change, to undo the L1 fee debit if the EVM refuses.
    undo: Option<Option<Option<cairn_storage::Account>>>,
}

/// The EVM context an inspector watches while a block is built or replayed. One lifetime
/// for the borrow and the state it borrows (the state view is covariant), so that an
/// inspector bound over every `'x` does not demand a `'static` store.
pub type InspectContext<'x> = Context<BlockEnv, TxEnv, CfgEnv, WrapDatabaseRef<&'x StateDb<'x>>>;

/// A state borrowed for no longer than the state itself lives (see [`InspectContext`]).
pub(crate) fn shorten<'x>(db: &'x StateDb<'_>) -> &'x StateDb<'x> {
    db
}

/// What an inspected transaction left, before it is committed.
pub struct Inspected<'x> {
    /// The EVM's result and the state it would write.
    pub outcome: &'x ResultAndState,
    /// The transaction as the EVM ran it (its gas limit is less the L1 gas).
    pub tx: &'x TxEnv,
    /// The block environment.
    pub block: &'x BlockEnv,
    /// The state before the transaction (after its L1 fee debit).
    pub db: &'x StateDb<'x>,
}

/// A sealed block with its receipts and state changes, ready to commit.
#[derive(Debug)]
pub struct BuiltBlock {
    pub block: Block,
    pub receipts: Vec<Receipt>,
    pub changes: StateChanges,
}

/// Builds one block on top of the storage head.
pub struct BlockBuilder<'a> {
    storage: &'a Storage,
    db: StateDb<'a>,
    cfg: CfgEnv,
    env: BlockEnv,
    header: Header,
    transactions: Vec<Arc<RecoveredTx>>,
    receipts: Vec<Receipt>,
    /// Gas used so far, execution and L1 (the receipts' cumulative gas).
    cumulative_gas: u64,
    /// Of which L1 gas: not block space.
    l1_gas_used: u64,
    /// Base fees and L1 data fees, credited to the fee recipient at the end (revm pays
    /// the tips itself).
    recipient_fees: U256,
    /// The L1 fee rate this block charges (sat/kwu).
    l1_fee_rate: u64,
    /// Bitcoin deposits credited, in order.
    deposits: Vec<Deposit>,
    /// Bitcoin payouts recorded, in order.
    payouts: Vec<Payout>,
    /// The withdrawal contract's rules (chains with a peg).
    withdrawals: Option<cairn_primitives::WithdrawalSpec>,
    /// A simulation without geth's validation (`eth_simulateV1`): no nonce or base fee
    /// checks, senders may have code.
    relaxed: bool,
}

impl<'a> BlockBuilder<'a> {
    /// Start the block after `parent` (which must be the storage head), charging the L1
    /// data fee at `l1_fee_rate` sat/kwu (0: none).
    pub fn new(
        storage: &'a Storage,
        spec: &ChainSpec,
        parent: &Block,
        timestamp: u64,
        beneficiary: Address,
        l1_fee_rate: u64,
    ) -> Self {
        let mut header = header_template();
        header.parent_hash = parent.hash;
        header.number = parent.header.number + 1;
        header.beneficiary = beneficiary;
        header.gas_limit = spec.block_gas_limit;
        header.timestamp = timestamp.max(parent.header.timestamp);
        header.base_fee_per_gas = Some(next_base_fee(&parent.header, spec.base_fee_floor));
        // Cairn has no beacon chain: PREVRANDAO is derived from the parent hash.
        header.mix_hash = keccak256(parent.hash);
        Self::starting(
            storage,
            spec,
            StateDb::new(storage.latest_state(), storage),
            header,
            l1_fee_rate,
        )
    }

    /// A builder over `db` for the block `header` describes.
    pub(crate) fn starting(
        storage: &'a Storage,
        spec: &ChainSpec,
        db: StateDb<'a>,
        header: Header,
        l1_fee_rate: u64,
    ) -> Self {
        Self {
            storage,
            db,
            cfg: cfg_env(spec.chain_id),
            env: block_env(&header),
            header,
            transactions: Vec::new(),
            receipts: Vec::new(),
            cumulative_gas: 0,
            l1_gas_used: 0,
            recipient_fees: U256::ZERO,
            l1_fee_rate,
            deposits: Vec::new(),
            payouts: Vec::new(),
            withdrawals: spec.withdrawals,
            relaxed: false,
        }
    }

    /// Start re-executing the recorded `block` (not the genesis) on its parent's state,
    /// which must still be in the history window: the environment is the block's own
    /// header, so a replay sees what the block saw. For tracers; nothing is committed.
    pub fn replay(storage: &'a Storage, spec: &ChainSpec, block: &Block) -> Result<Self> {
        let parent = block.number().checked_sub(1).ok_or_else(|| {
            ExecutionError::Evm("the genesis block has no transactions to replay".into())
        })?;
        let view = storage.state_at(parent)?;
        let header = block.header.clone();
        let l1_fee_rate = crate::l1fee::l1_fee_rate_of(&header);
        Ok(Self::starting(
            storage,
            spec,
            StateDb::new(view, storage),
            header,
            l1_fee_rate,
        ))
    }

    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// Charge `base_fee` instead of the EIP-1559 one (`cairn dev`'s
    /// `anvil_setNextBlockBaseFeePerGas`; a block no follower would accept). Before any
    /// transaction.
    pub fn set_base_fee(&mut self, base_fee: u64) {
        self.header.base_fee_per_gas = Some(base_fee);
        self.env = block_env(&self.header);
    }

    /// Give the block `gas_limit` instead of the chain spec's (`cairn dev`'s
    /// `anvil_setBlockGasLimit`). Before any transaction.
    pub fn set_gas_limit(&mut self, gas_limit: u64) {
        self.header.gas_limit = gas_limit;
        self.env = block_env(&self.header);
    }

    pub fn base_fee(&self) -> u64 {
        self.env.basefee
    }

    /// Execution gas left in the block (L1 gas does not take block space).
    pub fn gas_remaining(&self) -> u64 {
        self.header
            .gas_limit
            .saturating_sub(self.cumulative_gas - self.l1_gas_used)
    }

    pub fn l1_fee_rate(&self) -> u64 {
        self.l1_fee_rate
    }

    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    /// Apply a system transaction.
    pub fn apply_system(&mut self, tx: &SystemTx) {
        match tx {
            SystemTx::Mint { to, amount } => {
                let mut account = self.db.account(to).unwrap_or_default();
                account.balance = account.balance.saturating_add(*amount);
                self.db.set_account(*to, account);
            }
            SystemTx::SetBalance { address, balance } => {
                let mut account = self.db.account(address).unwrap_or_default();
                account.balance = *balance;
                self.db.set_account(*address, account);
            }
            SystemTx::SetNonce { address, nonce } => {
                let mut account = self.db.account(address).unwrap_or_default();
                account.nonce = *nonce;
                self.db.set_account(*address, account);
            }
            SystemTx::SetCode { address, code } => self.db.set_code(*address, code.clone()),
            SystemTx::SetStorage {
                address,
                slot,
                value,
            } => {
                // A slot of an account the state does not have yet needs the account.
                let account = self.db.account(address).unwrap_or_default();
                self.db.set_account(*address, account);
                self.db.set_storage(*address, *slot, *value);
            }
        }
    }

    /// Credit a Bitcoin deposit (before any transaction; the block records it). Whether
    /// the deposit is real and new is the caller's to check: the sequencer's peg watcher,
    /// or derivation against Bitcoin.
    pub fn apply_deposit(&mut self, deposit: &Deposit) {
        self.apply_system(&SystemTx::Mint {
            to: deposit.recipient,
            amount: deposit.amount_wei(),
        });
        self.deposits.push(*deposit);
    }

    /// Deposits credited so far.
    pub fn deposit_count(&self) -> usize {
        self.deposits.len()
    }

    /// Record a confirmed Bitcoin payout: each withdrawal it pays is marked paid by its
    /// transaction in the withdrawal contract's storage, and their amounts leave the
    /// contract's balance. `Err` (and nothing applied) if a withdrawal does not exist or is
    /// already paid. Whether the payout is real is the caller's to check: the coordinator,
    /// or derivation against Bitcoin.
    pub fn apply_payout(&mut self, payout: &Payout) -> Result<(), String> {
        use crate::withdraw::{PAID_TOTAL_SLOT, WITHDRAWAL_CONTRACT, WithdrawalRecord, paid_slot};
        let slot = |index| {
            revm::database_interface::DatabaseRef::storage_ref(&self.db, WITHDRAWAL_CONTRACT, index)
                .unwrap_or_default()
        };
        let mut total = 0u64;
        let mut seen = std::collections::HashSet::new();
        for id in &payout.withdrawals {
            let record = WithdrawalRecord::read(*id, slot)
                .ok_or_else(|| format!("withdrawal {id} does not exist"))?;
            if record.paid_by.is_some() || !seen.insert(*id) {
                return Err(format!("withdrawal {id} is already paid"));
            }
            total = total
                .checked_add(record.amount_sat)
                .ok_or("payout total overflows")?;
        }
        let mut account = self.db.account(&WITHDRAWAL_CONTRACT).unwrap_or_default();
        let amount = cairn_primitives::units::sats_to_wei(total);
        account.balance = account.balance.checked_sub(amount).ok_or_else(|| {
            format!(
                "the withdrawal contract holds {} wei, the payout takes {amount}",
                account.balance
            )
        })?;
        // A nonce keeps the account non-empty (EIP-161) when its balance reaches zero, so
        // its records outlive any later touch.
        account.nonce = account.nonce.max(1);
        self.db.set_account(WITHDRAWAL_CONTRACT, account);
        let paid_total = slot(PAID_TOTAL_SLOT).saturating_add(U256::from(total));
        let txid = U256::from_be_bytes(payout.txid.0);
        self.db
            .set_storage(WITHDRAWAL_CONTRACT, PAID_TOTAL_SLOT, paid_total);
        for id in &payout.withdrawals {
            self.db
                .set_storage(WITHDRAWAL_CONTRACT, paid_slot(*id), txid);
        }
        self.payouts.push(payout.clone());
        Ok(())
    }

    /// Payouts recorded so far.
    pub fn payout_count(&self) -> usize {
        self.payouts.len()
    }

    /// Execute `tx` on top of the block so far and include it, or say why not.
    pub fn push(&mut self, tx: Arc<RecoveredTx>) -> Result<(), SkippedTx> {
        let (env, pending) = self.begin(&tx)?;
        let mut evm = crate::env::evm(self.context(), self.withdrawals);
        let transacted = evm.transact(env);
        drop(evm);
        let outcome = self.settle_attempt(&tx, &pending, transacted)?;
        self.conclude(tx, &pending, outcome);
        Ok(())
    }

    /// [`BlockBuilder::push`] with `inspector` watching the EVM: `look` sees the outcome
    /// before it is committed, with the state as it was before the transaction (what
    /// tracers such as the prestate tracer read).
    pub fn push_inspected<I, R>(
        &mut self,
        tx: Arc<RecoveredTx>,
        inspector: &mut I,
        look: impl FnOnce(&mut I, Inspected<'_>) -> R,
    ) -> Result<R, SkippedTx>
    where
        I: for<'x> Inspector<InspectContext<'x>>,
    {
        let (env, pending) = self.begin(&tx)?;
        let mut evm = crate::env::inspecting_evm(self.context(), self.withdrawals, &mut *inspector);
        let transacted = evm.inspect_tx(env.clone());
        drop(evm);
        let outcome = self.settle_attempt(&tx, &pending, transacted)?;
        let seen = look(
            inspector,
            Inspected {
                outcome: &outcome,
                tx: &env,
                block: &self.env,
                db: shorten(&self.db),
            },
        );
        self.conclude(tx, &pending, outcome);
        Ok(seen)
    }

    /// The EVM context over the block so far.
    fn context(&self) -> InspectContext<'_> {
        Context::mainnet()
            .with_db(WrapDatabaseRef(shorten(&self.db)))
            .with_cfg(self.cfg.clone())
            .with_block(self.env.clone())
    }

    /// Admission checks and the L1 data fee debit that come before the EVM runs `tx`;
    /// returns what the EVM runs.
    fn begin(&mut self, tx: &RecoveredTx) -> Result<(TxEnv, Pending), SkippedTx> {
        let basefee = self.env.basefee;
        // The mempool admits a transaction only if its limit covers the L1 gas at the rate
        // of the moment; if the rate rose since, the charge stops at what the limit leaves
        // above intrinsic gas, so an accepted transaction never becomes invalid because of
        // it (and a journal replayed before the rate is known stays valid).
        let (intrinsic, floor) = intrinsic_gas(tx);
        let l1_gas = l1_gas(tx.encoded.len(), self.l1_fee_rate, basefee)
            .min(tx.gas_limit().saturating_sub(intrinsic.max(floor)));
        if tx.gas_limit() - l1_gas > self.gas_remaining() {
            return Err(SkippedTx::BlockFull);
        }
        let mut env = tx_env(tx);
        let mut undo = None;
        let mut l1_fee = U256::ZERO;
        if l1_gas > 0 {
            let charge = self.charge_l1_fee(tx, l1_gas)?;
            l1_fee = charge.0;
            undo = Some(charge.1);
            env.gas_limit -= l1_gas;
        }
        Ok((
            env,
            Pending {
                l1_gas,
                l1_fee,
                undo,
            },
        ))
    }

    /// The EVM's answer, or the L1 fee debit undone and the reason it refused `tx`.
    fn settle_attempt(
        &self,
        tx: &RecoveredTx,
        pending: &Pending,
        transacted: Result<ResultAndState, EVMError<ExecutionError>>,
    ) -> Result<ResultAndState, SkippedTx> {
        transacted.map_err(|error| {
            if let Some(change) = pending.undo {
                self.db.restore_change(tx.sender, change);
            }
            match error {
                EVMError::Transaction(invalid) => SkippedTx::Invalid(invalid_tx_message(&invalid)),
                other => SkippedTx::Invalid(other.to_string()),
            }
        })
    }

    /// Commits an executed transaction and its receipt.
    fn conclude(&mut self, tx: Arc<RecoveredTx>, pending: &Pending, outcome: ResultAndState) {
        let basefee = self.env.basefee;
        let result = outcome.result;
        self.db.commit(outcome.state);
        let execution_gas = result.tx_gas_used();
        let gas_used = execution_gas + pending.l1_gas;
        self.cumulative_gas += gas_used;
        self.l1_gas_used += pending.l1_gas;
        self.recipient_fees += U256::from(execution_gas) * U256::from(basefee) + pending.l1_fee;
        let contract_address = result.created_address().unwrap_or_default();
        let success = matches!(result, ExecutionResult::Success { .. });
        self.receipts.push(Receipt {
            tx_type: tx.envelope.tx_type() as u8,
            success,
            cumulative_gas_used: self.cumulative_gas,
            gas_used,
            effective_gas_price: tx.effective_gas_price(basefee),
            contract_address,
            logs: result.into_logs(),
        });
        self.transactions.push(tx);
    }

    /// Checks that `tx` can pay (geth's messages, counted over the whole gas limit) and
    /// debits the L1 fee (`l1_gas` at its price) from its sender before the EVM runs, so
    /// nothing the transaction does can spend it first. Returns the fee and the sender's
    /// earlier change, to undo the debit if the EVM refuses the transaction.
    fn charge_l1_fee(
        &self,
        tx: &RecoveredTx,
        l1_gas: u64,
    ) -> Result<(U256, Option<Option<cairn_storage::Account>>), SkippedTx> {
        let basefee = self.env.basefee;
        if !self.relaxed && tx.max_fee_per_gas() < u128::from(basefee) {
            return Err(SkippedTx::Invalid(invalid_tx_message(
                &InvalidTransaction::GasPriceLessThanBasefee,
            )));
        }
        let before = self.db.change_of(&tx.sender);
        let mut account = self.db.account(&tx.sender).unwrap_or_default();
        let cost =
            U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.envelope.value();
        if account.balance < cost {
            return Err(SkippedTx::Invalid(invalid_tx_message(
                &InvalidTransaction::LackOfFundForMaxFee {
                    fee: Box::new(cost),
                    balance: Box::new(account.balance),
                },
            )));
        }
        let fee = U256::from(l1_gas) * U256::from(tx.effective_gas_price(basefee));
        account.balance -= fee;
        self.db.set_account(tx.sender, account);
        Ok((fee, before))
    }

    /// Drop geth's validation (a simulation's `validation: false`): nonces and base fees
    /// are not checked, and senders may have code.
    pub(crate) fn relax(&mut self) {
        self.relaxed = true;
        self.cfg.disable_nonce_check = true;
        self.cfg.disable_base_fee = true;
        self.cfg.disable_eip3607 = true;
    }

    /// The receipt of the last transaction included.
    pub(crate) fn last_receipt(&self) -> Option<&Receipt> {
        self.receipts.last()
    }

    /// The state as the block has left it so far.
    pub(crate) fn state(&self) -> &StateDb<'a> {
        &self.db
    }

    /// Seal a simulated block as [`BlockBuilder::finish`] does, but without a state root
    /// (the commitment covers only real blocks: zero) and keeping the state, for the next
    /// simulated block to build on.
    pub(crate) fn seal_simulated(self) -> Result<(Block, Vec<Receipt>, StateDb<'a>)> {
        let Sealed {
            db,
            mut header,
            transactions,
            receipts,
            deposits,
            payouts,
            ..
        } = self.seal()?;
        header.state_root = alloy_primitives::B256::ZERO;
        Ok((
            block_of(header, transactions, deposits, payouts),
            receipts,
            db,
        ))
    }

    /// Seal the block: credit the base fees to the fee recipient (they are not
    /// burned, so L2 supply stays backed by the peg), compute the roots.
    pub fn finish(self) -> Result<BuiltBlock> {
        let Sealed {
            storage,
            db,
            mut header,
            transactions,
            receipts,
            deposits,
            payouts,
        } = self.seal()?;
        let changes = db.into_changes();
        header.state_root = storage.state_root_after(&changes);
        Ok(BuiltBlock {
            block: block_of(header, transactions, deposits, payouts),
            receipts,
            changes,
        })
    }

    /// The fees credited and every header field filled but the state root.
    fn seal(self) -> Result<Sealed<'a>> {
        let Self {
            storage,
            db,
            mut header,
            transactions,
            receipts,
            cumulative_gas,
            l1_gas_used,
            recipient_fees,
            l1_fee_rate,
            deposits,
            payouts,
            ..
        } = self;
        if !recipient_fees.is_zero() {
            let mut account = db.account(&header.beneficiary).unwrap_or_default();
            account.balance = account.balance.saturating_add(recipient_fees);
            db.set_account(header.beneficiary, account);
        }
        seal_header(
            &mut header,
            &transactions,
            &receipts,
            cumulative_gas,
            l1_gas_used,
            l1_fee_rate,
            &deposits,
        )?;
        Ok(Sealed {
            storage,
            db,
            header,
            transactions,
            receipts,
            deposits,
            payouts,
        })
    }
}

/// A block whose fees are credited and whose header lacks only its state root.
struct Sealed<'a> {
    storage: &'a Storage,
    db: StateDb<'a>,
    header: Header,
    transactions: Vec<Arc<RecoveredTx>>,
    receipts: Vec<Receipt>,
    deposits: Vec<Deposit>,
    payouts: Vec<Payout>,
}

/// The block a sealed header (state root set) heads.
fn block_of(
    header: Header,
    transactions: Vec<Arc<RecoveredTx>>,
    deposits: Vec<Deposit>,
    payouts: Vec<Payout>,
) -> Block {
    let hash = header.hash_slow();
    Block {
        header,
        hash,
        transactions,
        deposits,
        payouts,
    }
}

/// Fills a sealed block's roots, bloom, gas and extra data (all but the state root).
fn seal_header(
    header: &mut Header,
    transactions: &[Arc<RecoveredTx>],
    receipts: &[Receipt],
    cumulative_gas: u64,
    l1_gas_used: u64,
    l1_fee_rate: u64,
    deposits: &[Deposit],
) -> Result<()> {
    let envelopes: Vec<_> = transactions.iter().map(|tx| tx.envelope.clone()).collect();
    header.transactions_root = calculate_transaction_root(&envelopes);
    let consensus_receipts = receipts
        .iter()
        .map(Receipt::to_envelope)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ExecutionError::Evm(e.to_string()))?;
    header.receipts_root = calculate_receipt_root(&consensus_receipts);
    let mut bloom = Bloom::ZERO;
    // Each envelope already carries its receipt's bloom.
    for receipt in &consensus_receipts {
        bloom.accrue_bloom(receipt.logs_bloom());
    }
    header.logs_bloom = bloom;
    header.gas_used = cumulative_gas;
    // gasUsed ≤ gasLimit, as tools expect, with the L1 gas outside the block's space.
    header.gas_limit += l1_gas_used;
    header.extra_data = extra_data_for(l1_fee_rate, l1_gas_used);
    header.withdrawals_root = Some(deposits_root(header.number, deposits));
    Ok(())
}

/// geth's wording for a transaction that cannot run against the current state.
pub fn invalid_tx_message(invalid: &InvalidTransaction) -> String {
    match invalid {
        InvalidTransaction::NonceTooLow { tx, state } => {
            format!("nonce too low: next nonce {state}, tx nonce {tx}")
        }
        InvalidTransaction::NonceTooHigh { tx, state } => {
            format!("nonce too high: next nonce {state}, tx nonce {tx}")
        }
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => {
            format!("insufficient funds for gas * price + value: have {balance} want {fee}")
        }
        InvalidTransaction::GasPriceLessThanBasefee => {
            "max fee per gas less than block base fee".to_string()
        }
        InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        } => {
            format!("intrinsic gas too low: have {gas_limit}, want {initial_gas}")
        }
        InvalidTransaction::GasFloorMoreThanGasLimit {
            gas_floor,
            gas_limit,
        } => {
            format!("insufficient gas for floor data gas cost: have {gas_limit}, want {gas_floor}")
        }
        InvalidTransaction::CallerGasLimitMoreThanBlock => "exceeds block gas limit".to_string(),
        InvalidTransaction::TxGasLimitGreaterThanCap { gas_limit, cap } => {
            format!("transaction gas limit too high (cap: {cap}, tx: {gas_limit})")
        }
        InvalidTransaction::InvalidChainId | InvalidTransaction::MissingChainId => {
            "invalid chain id".to_string()
        }
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => {
            "max priority fee per gas higher than max fee per gas".to_string()
        }
        InvalidTransaction::RejectCallerWithCode => "sender not an eoa".to_string(),
        InvalidTransaction::CreateInitCodeSizeLimit => "max initcode size exceeded".to_string(),
        InvalidTransaction::Eip4844NotSupported
        | InvalidTransaction::Eip7702NotSupported
        | InvalidTransaction::Eip2930NotSupported
        | InvalidTransaction::Eip1559NotSupported => "transaction type not supported".to_string(),
        other => other.to_string(),
    }
}
