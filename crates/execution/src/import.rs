//! Re-executing a block that someone else built: what derivation does with each L2 block
//! a batch on Bitcoin carries. The inputs are exactly what a batch records (timestamp, fee
//! recipient, system transactions, signed transactions in order); everything else (number,
//! parent, gas limit, base fee, PREVRANDAO, roots) is derived, so two nodes that import the
//! same inputs on the same parent state seal the same block hash. Unlike the sequencer,
//! an importer may not skip anything: a transaction that does not apply makes the whole
//! block invalid.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use cairn_primitives::{Block, ChainSpec, Deposit, Payout, RecoveredTx};
use cairn_storage::Storage;

use crate::ExecutionError;
use crate::builder::{BlockBuilder, BuiltBlock, SkippedTx, SystemTx};

/// The inputs of one L2 block, as a batch carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInput {
    /// The block's timestamp (never before its parent's).
    pub timestamp: u64,
    /// Its fee recipient.
    pub beneficiary: Address,
    /// The L1 data fee rate it charged (sat/kwu; 0: none).
    pub l1_fee_rate: u64,
    /// System transactions, applied first in this order.
    pub system: Vec<SystemTx>,
    /// Bitcoin deposits credited (after the system transactions, before the rest),
    /// already checked against Bitcoin by the caller.
    pub deposits: Vec<Deposit>,
    /// Bitcoin payouts recorded (after the deposits), already checked against Bitcoin by
    /// the caller.
    pub payouts: Vec<Payout>,
    /// Signed transactions, in block order.
    pub transactions: Vec<Arc<RecoveredTx>>,
}

impl BlockInput {
    /// The inputs that would rebuild `block` (without its system transactions, which the
    /// block does not record).
    pub fn of(block: &Block) -> Self {
        Self {
            timestamp: block.header.timestamp,
            beneficiary: block.header.beneficiary,
            l1_fee_rate: crate::l1fee::l1_fee_rate_of(&block.header),
            system: Vec::new(),
            deposits: block.deposits.clone(),
            payouts: block.payouts.clone(),
            transactions: block.transactions.clone(),
        }
    }
}

/// Why an imported block is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The timestamp goes back in time.
    #[error("block {number}: timestamp {timestamp} is before its parent's {parent}")]
    TimestampBeforeParent {
        /// The block's number.
        number: u64,
        /// Its timestamp.
        timestamp: u64,
        /// The parent's timestamp.
        parent: u64,
    },
    /// A transaction does not apply to the state before it.
    #[error("block {number}: transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTransaction {
        /// The block's number.
        number: u64,
        /// Its position in the block.
        index: usize,
        /// Its hash.
        hash: B256,
        /// geth's wording of the reason.
        reason: String,
    },
    /// The transactions need more gas than the block has.
    #[error("block {number}: transaction {index} ({hash}) exceeds the block gas limit")]
    GasLimitExceeded {
        /// The block's number.
        number: u64,
        /// Its position in the block.
        index: usize,
        /// Its hash.
        hash: B256,
    },
    /// A payout record does not apply (a withdrawal unknown or already paid).
    #[error("block {number}: payout {txid}: {reason}")]
    InvalidPayout {
        /// The block's number.
        number: u64,
        /// The payout transaction (internal byte order).
        txid: B256,
        /// Why.
        reason: String,
    },
    /// A deposit is credited twice (earlier in the chain or in this block).
    #[error("block {number}: deposit {txid}:{vout} is already credited")]
    DepositAlreadyCredited {
        /// The block's number.
        number: u64,
        /// The deposit transaction (consensus byte order).
        txid: B256,
        /// Its output.
        vout: u32,
    },
    /// Execution itself failed (storage, EVM internals).
    #[error(transparent)]
    Execution(#[from] ExecutionError),
}

/// Executes `input` on `parent` (the storage head) and seals the block; nothing is
/// committed. Every transaction must apply, in order.
pub fn execute_input(
    storage: &Storage,
    spec: &ChainSpec,
    parent: &Block,
    input: &BlockInput,
) -> Result<BuiltBlock, ImportError> {
    let number = parent.header.number + 1;
    if input.timestamp < parent.header.timestamp {
        return Err(ImportError::TimestampBeforeParent {
            number,
            timestamp: input.timestamp,
            parent: parent.header.timestamp,
        });
    }
    let mut builder = BlockBuilder::new(
        storage,
        spec,
        parent,
        input.timestamp,
        input.beneficiary,
        input.l1_fee_rate,
    );
    for tx in &input.system {
        builder.apply_system(tx);
    }
    let mut seen = std::collections::HashSet::new();
    for deposit in &input.deposits {
        let credited = storage
            .deposit_location(&deposit.txid, deposit.vout)
            .map_err(ExecutionError::from)?;
        if credited.is_some() || !seen.insert(deposit.outpoint_key()) {
            return Err(ImportError::DepositAlreadyCredited {
                number,
                txid: deposit.txid,
                vout: deposit.vout,
            });
        }
        builder.apply_deposit(deposit);
    }
    for payout in &input.payouts {
        builder
            .apply_payout(payout)
            .map_err(|reason| ImportError::InvalidPayout {
                number,
                txid: payout.txid,
                reason,
            })?;
    }
    for (index, tx) in input.transactions.iter().enumerate() {
        match builder.push(tx.clone()) {
            Ok(()) => {}
            Err(SkippedTx::BlockFull) => {
                return Err(ImportError::GasLimitExceeded {
                    number,
                    index,
                    hash: tx.hash,
                });
            }
            Err(SkippedTx::Invalid(reason)) => {
                return Err(ImportError::InvalidTransaction {
                    number,
                    index,
                    hash: tx.hash,
                    reason,
                });
            }
        }
    }
    Ok(builder.finish()?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy_consensus::{SignableTransaction as _, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718 as _;
    use alloy_network::TxSignerSync as _;
    use alloy_primitives::{Bytes, TxKind, U256};
    use alloy_signer_local::PrivateKeySigner;
    use cairn_primitives::{GenesisAccount, decode_raw_transaction};
    use cairn_storage::StorageOptions;

    use super::*;

    fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address) -> Arc<RecoveredTx> {
        transfer_with(signer, nonce, to, 21_000, U256::from(1_000_000u64))
    }

    fn transfer_with(
        signer: &PrivateKeySigner,
        nonce: u64,
        to: Address,
        gas_limit: u64,
        value: U256,
    ) -> Arc<RecoveredTx> {
        signed_call(signer, nonce, to, gas_limit, Vec::new(), value)
    }

    /// A signed EIP-1559 transaction to `to` with `input` and `value` wei.
    fn signed_call(
        signer: &PrivateKeySigner,
        nonce: u64,
        to: Address,
        gas_limit: u64,
        input: Vec<u8>,
        value: U256,
    ) -> Arc<RecoveredTx> {
        let mut tx = TxEip1559 {
            chain_id: 7,
            nonce,
            gas_limit,
            max_fee_per_gas: 1_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(to),
            value,
            input: input.into(),
            access_list: Default::default(),
        };
        let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
        let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
        Arc::new(decode_raw_transaction(&raw).expect("decode"))
    }

    fn node(dir: &std::path::Path, spec: &ChainSpec) -> Storage {
        Storage::open(dir, spec, StorageOptions::default()).expect("open")
    }

    #[test]
    fn importing_a_sealed_block_reproduces_it_exactly() {
        let signer = PrivateKeySigner::random();
        let alloc = BTreeMap::from([(
            signer.address(),
            GenesisAccount {
                balance: U256::from(10u128.pow(20)),
                code: None,
            },
        )]);
        let spec = ChainSpec::dev(7, alloc);
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (sequencer, follower) = (node(a.path(), &spec), node(b.path(), &spec));
        let to = Address::repeat_byte(0x42);
        let mint = SystemTx::Mint {
            to,
            amount: U256::from(5u64),
        };
        // The sequencer builds two blocks; the follower imports their inputs.
        for round in 0..2u64 {
            let head = sequencer.head().block;
            let mut builder =
                BlockBuilder::new(&sequencer, &spec, &head, 1_000 + round, Address::ZERO, 0);
            builder.apply_system(&mint);
            for nonce in 0..3 {
                builder
                    .push(transfer(&signer, round * 3 + nonce, to))
                    .expect("applies");
            }
            let built = builder.finish().expect("seal");
            let block = built.block.clone();
            sequencer
                .commit(built.block, built.receipts, built.changes)
                .expect("commit");

            let mut input = BlockInput::of(&block);
            input.system = vec![mint.clone()];
            let parent = follower.head().block;
            let imported = execute_input(&follower, &spec, &parent, &input).expect("valid");
            assert_eq!(imported.block.hash, block.hash);
            assert_eq!(imported.block.header.state_root, block.header.state_root);
            follower
                .commit(imported.block, imported.receipts, imported.changes)
                .expect("commit");
        }
        assert_eq!(follower.head().block.hash, sequencer.head().block.hash);

        // A replayed nonce makes the block invalid instead of being skipped.
        let parent = follower.head().block;
        let bad = BlockInput {
            timestamp: 2_000,
            beneficiary: Address::ZERO,
            l1_fee_rate: 0,
            system: Vec::new(),
            deposits: Vec::new(),
            payouts: Vec::new(),
            transactions: vec![transfer(&signer, 6, to), transfer(&signer, 0, to)],
        };
        let err = execute_input(&follower, &spec, &parent, &bad).expect_err("invalid");
        assert!(
            matches!(err, ImportError::InvalidTransaction { index: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("nonce too low"), "{err}");
        // Time may not go backwards.
        let early = BlockInput {
            timestamp: 1,
            ..bad
        };
        assert!(matches!(
            execute_input(&follower, &spec, &parent, &early),
            Err(ImportError::TimestampBeforeParent { .. })
        ));
    }

    #[test]
    fn deposits_are_credited_once_committed_to_by_the_header_and_reproduced() {
        let spec = ChainSpec::dev(7, BTreeMap::new());
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (sequencer, follower) = (node(a.path(), &spec), node(b.path(), &spec));
        let to = Address::repeat_byte(0x42);
        let deposit = Deposit {
            l1_block: B256::repeat_byte(1),
            txid: B256::repeat_byte(2),
            vout: 1,
            amount_sat: 25_000,
            recipient: to,
            reclaim_key: None,
            epoch: 0,
        };
        let head = sequencer.head().block;
        let mut builder = BlockBuilder::new(&sequencer, &spec, &head, 1_000, Address::ZERO, 0);
        builder.apply_deposit(&deposit);
        let built = builder.finish().expect("seal");
        assert_eq!(built.block.deposits, vec![deposit]);
        assert_ne!(
            built.block.header.withdrawals_root,
            Some(alloy_consensus::EMPTY_ROOT_HASH),
            "the header commits to the deposit"
        );
        let block = built.block.clone();
        sequencer
            .commit(built.block, built.receipts, built.changes)
            .expect("commit");
        let credited = sequencer.latest_state().account(&to).expect("account");
        assert_eq!(
            credited.balance,
            U256::from(25_000u64) * U256::from(10u64.pow(10))
        );

        // A follower importing the inputs seals the same block.
        let input = BlockInput::of(&block);
        assert_eq!(input.deposits, vec![deposit]);
        let imported =
            execute_input(&follower, &spec, &follower.head().block, &input).expect("valid");
        assert_eq!(imported.block.hash, block.hash);
        follower
            .commit(imported.block, imported.receipts, imported.changes)
            .expect("commit");

        // The same outpoint again, in a later block or twice in one, is refused.
        let parent = follower.head().block;
        let again = BlockInput {
            timestamp: 1_001,
            beneficiary: Address::ZERO,
            l1_fee_rate: 0,
            system: Vec::new(),
            deposits: vec![deposit],
            payouts: Vec::new(),
            transactions: Vec::new(),
        };
        let err = execute_input(&follower, &spec, &parent, &again).expect_err("twice");
        assert!(
            matches!(err, ImportError::DepositAlreadyCredited { vout: 1, .. }),
            "{err}"
        );
        let other = Deposit {
            txid: B256::repeat_byte(3),
            ..deposit
        };
        let doubled = BlockInput {
            deposits: vec![other, other],
            ..again
        };
        let err = execute_input(&follower, &spec, &parent, &doubled).expect_err("doubled");
        assert!(err.to_string().contains("already credited"), "{err}");
    }

    #[test]
    fn the_withdrawal_contract_burns_valid_requests_and_reverts_the_rest() {
        use alloy_sol_types::{SolCall as _, SolError as _};

        use crate::withdraw::{WITHDRAWAL_CONTRACT, WithdrawalRequest, withdrawCall};

        let signer = PrivateKeySigner::random();
        let funds = U256::from(10u128.pow(18));
        let alloc = BTreeMap::from([(
            signer.address(),
            GenesisAccount {
                balance: funds,
                code: None,
            },
        )]);
        let mut spec = ChainSpec::dev(7, alloc);
        spec.withdrawals = Some(cairn_primitives::WithdrawalSpec {
            network: cairn_primitives::L1Network::Regtest,
            min_sat: 10_000,
        });
        let dir = tempfile::tempdir().expect("dir");
        let storage = node(dir.path(), &spec);
        let payout = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        let request = |address: &str| {
            withdrawCall {
                bitcoinAddress: address.to_owned(),
            }
            .abi_encode()
        };
        let sat = U256::from(10u64.pow(10));
        let cases: Vec<(Vec<u8>, U256, Option<&str>)> = vec![
            (request(payout), sat * U256::from(25_000u64), None),
            (
                request("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
                sat * U256::from(25_000u64),
                Some("is not for regtest"),
            ),
            (
                request("not an address"),
                sat * U256::from(25_000u64),
                Some("invalid Bitcoin address"),
            ),
            (
                request(payout),
                sat * U256::from(9_999u64),
                Some("below the minimum of 10000 sat"),
            ),
            (
                request(payout),
                sat * U256::from(25_000u64) + U256::from(1),
                Some("whole number of satoshis"),
            ),
            (
                vec![1, 2, 3, 4],
                sat * U256::from(25_000u64),
                Some("unknown function"),
            ),
        ];
        let head = storage.head().block;
        let mut builder = BlockBuilder::new(&storage, &spec, &head, 1_000, Address::ZERO, 0);
        for (nonce, (input, value, _)) in cases.iter().enumerate() {
            builder
                .push(signed_call(
                    &signer,
                    nonce as u64,
                    WITHDRAWAL_CONTRACT,
                    200_000,
                    input.clone(),
                    *value,
                ))
                .expect("included");
        }
        let built = builder.finish().expect("seal");
        for (receipt, (_, _, want)) in built.receipts.iter().zip(&cases) {
            match want {
                None => {
                    assert!(receipt.success);
                    assert_eq!(receipt.logs.len(), 1);
                    let request = WithdrawalRequest::from_log(&receipt.logs[0]).expect("event");
                    assert_eq!(request.sender, signer.address());
                    assert_eq!(request.bitcoin_address, payout);
                    assert_eq!(request.amount_sat, 25_000);
                    assert_eq!(request.id, 0, "the first request");
                }
                Some(reason) => {
                    assert!(!receipt.success, "{reason}");
                    assert!(receipt.logs.is_empty());
                }
            }
        }
        storage
            .commit(built.block, built.receipts, built.changes)
            .expect("commit");
        let burned = storage
            .latest_state()
            .account(&WITHDRAWAL_CONTRACT)
            .expect("the contract holds the burned BTC");
        assert_eq!(
            burned.balance,
            sat * U256::from(25_000u64),
            "only the valid one"
        );
        {
            // (A state view holds the state's read lock: drop it before committing.)
            let state = storage.latest_state();
            let slot = |index| state.storage(&WITHDRAWAL_CONTRACT, &index);
            assert_eq!(crate::withdraw::request_count(slot), 1);
            let record = crate::withdraw::WithdrawalRecord::read(0, slot).expect("recorded");
            let expected_script = crate::withdraw::check_bitcoin_address(
                payout,
                cairn_primitives::L1Network::Regtest,
            )
            .expect("valid");
            assert_eq!(record.amount_sat, 25_000);
            assert_eq!(record.l2_block, 1);
            assert_eq!(record.script_pubkey, expected_script);
            assert_eq!(record.paid_by, None);
            assert!(crate::withdraw::WithdrawalRecord::read(1, slot).is_none());
        }

        // A confirmed payout marks it paid and completes the burn; never twice.
        let record_of = |withdrawals: Vec<u64>| cairn_primitives::Payout {
            l1_block: B256::repeat_byte(1),
            txid: B256::repeat_byte(0xaa),
            inputs: vec![(B256::repeat_byte(2), 0)],
            change: None,
            epoch: 0,
            withdrawals,
        };
        let head = storage.head().block;
        let mut builder = BlockBuilder::new(&storage, &spec, &head, 1_001, Address::ZERO, 0);
        let err = builder
            .apply_payout(&record_of(vec![1]))
            .expect_err("unknown");
        assert!(err.contains("withdrawal 1 does not exist"), "{err}");
        let err = builder
            .apply_payout(&record_of(vec![0, 0]))
            .expect_err("twice");
        assert!(err.contains("already paid"), "{err}");
        builder.apply_payout(&record_of(vec![0])).expect("pays");
        let built = builder.finish().expect("seal");
        assert_eq!(built.block.payouts, vec![record_of(vec![0])]);
        storage
            .commit(built.block, built.receipts, built.changes)
            .expect("commit");
        let state = storage.latest_state();
        let slot = |index| state.storage(&WITHDRAWAL_CONTRACT, &index);
        let record = crate::withdraw::WithdrawalRecord::read(0, slot).expect("recorded");
        assert_eq!(record.paid_by, Some(B256::repeat_byte(0xaa)));
        let contract = state.account(&WITHDRAWAL_CONTRACT).expect("kept");
        assert_eq!(contract.balance, U256::ZERO, "the burn is complete");
        assert_eq!(contract.nonce, 1);
        let parent = storage.head().block;
        let again = BlockInput {
            timestamp: 1_002,
            beneficiary: Address::ZERO,
            l1_fee_rate: 0,
            system: Vec::new(),
            deposits: Vec::new(),
            payouts: vec![record_of(vec![0])],
            transactions: Vec::new(),
        };
        let err = execute_input(&storage, &spec, &parent, &again).expect_err("paid");
        assert!(matches!(err, ImportError::InvalidPayout { .. }), "{err}");

        // The revert reason reaches callers as Solidity's Error(string).
        let caller = crate::Caller {
            storage: &storage,
            spec: &spec,
            l1_fee_rate: 0,
        };
        let outcome = caller.call(
            &storage.head().block,
            &crate::CallRequest::default()
                .from(signer.address())
                .to(WITHDRAWAL_CONTRACT)
                .value(sat * U256::from(5u64))
                .input(Bytes::from(request(payout)).into()),
            None,
        );
        let data = match outcome {
            Err(crate::CallError::Revert(data)) => data,
            other => panic!("expected a revert, got {other:?}"),
        };
        let reason = crate::withdraw::Error::abi_decode(&data).expect("Error(string)");
        assert!(
            reason.reason.contains("below the minimum"),
            "{}",
            reason.reason
        );
    }

    #[test]
    fn the_l1_data_fee_is_charged_as_gas_and_paid_to_the_fee_recipient() {
        let (payer, maxer) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let funds = U256::from(10u128.pow(18));
        let alloc = [&payer, &maxer]
            .iter()
            .map(|s| {
                let account = GenesisAccount {
                    balance: funds,
                    code: None,
                };
                (s.address(), account)
            })
            .collect();
        let spec = ChainSpec::dev(7, alloc);
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (sequencer, follower) = (node(a.path(), &spec), node(b.path(), &spec));
        let (to, recipient) = (Address::repeat_byte(0x42), Address::repeat_byte(0xfe));
        let rate = 500; // 2 sat/vB
        let head = sequencer.head().block;
        let mut builder = BlockBuilder::new(&sequencer, &spec, &head, 1_000, recipient, rate);
        let base_fee = builder.base_fee();
        let value = U256::from(1_000_000u64);

        // A limit admitted before the rate rose: the L1 charge stops at what it leaves.
        let tight = transfer_with(&payer, 0, to, 25_000, value);
        let l1 = crate::l1fee::l1_gas(tight.encoded.len(), rate, base_fee);
        assert!(l1 > 10_000, "{l1}");
        builder.push(tight).expect("still valid");
        // The EVM refuses a nonce gap after the L1 fee was debited: the debit is undone.
        let gap = transfer_with(&payer, 5, to, 100_000, value);
        let err = builder.push(gap).expect_err("nonce gap");
        assert!(err.to_string().contains("nonce too high"), "{err}");

        let tx = transfer_with(&payer, 1, to, 100_000, value);
        let l1 = crate::l1fee::l1_gas(tx.encoded.len(), rate, base_fee);
        let price = tx.effective_gas_price(base_fee);
        builder.push(tx).expect("pays execution and L1 gas");

        // "Send max": value = balance − gas limit × fee cap, with the L1 gas in the limit.
        let probe = transfer_with(&maxer, 0, to, 21_000, U256::ZERO);
        let limit = 21_000 + crate::l1fee::l1_gas_padded(probe.encoded.len(), rate, base_fee);
        let max = funds - U256::from(limit) * U256::from(1_000_000_000u64);
        builder
            .push(transfer_with(&maxer, 0, to, limit, max))
            .expect("send max fits");
        let built = builder.finish().expect("seal");
        let header = &built.block.header;
        assert_eq!(crate::l1fee::l1_fee_rate_of(header), rate);
        // L1 gas is outside the block's space: the limit grows by it, the base fee ignores it.
        let maxer_l1 = built.receipts[2].gas_used - 21_000;
        assert_eq!(crate::l1fee::l1_gas_of(header), 4_000 + l1 + maxer_l1);
        assert_eq!(
            header.gas_limit,
            spec.block_gas_limit + crate::l1fee::l1_gas_of(header)
        );
        assert_eq!(crate::l1fee::execution_gas_used(header), 3 * 21_000);
        assert_eq!(built.receipts[0].gas_used, 25_000, "capped at the limit");
        let receipt = &built.receipts[1];
        assert_eq!(receipt.gas_used, 21_000 + l1);
        let maxer_receipt = &built.receipts[2];
        assert_eq!(
            built.block.header.gas_used,
            25_000 + receipt.gas_used + maxer_receipt.gas_used
        );
        let block = built.block.clone();
        sequencer
            .commit(built.block, built.receipts.clone(), built.changes)
            .expect("commit");
        let state = sequencer.latest_state();
        let balance = |a: &Address| state.account(a).unwrap_or_default().balance;
        let paid = U256::from(25_000 + receipt.gas_used) * U256::from(price);
        assert_eq!(balance(&payer.address()), funds - value - value - paid);
        let maxer_paid = U256::from(maxer_receipt.gas_used) * U256::from(price);
        assert_eq!(balance(&maxer.address()), funds - max - maxer_paid);
        assert_eq!(
            balance(&recipient),
            paid + maxer_paid,
            "execution, L1 fee and tips all go to the fee recipient"
        );

        // A follower re-executing the block's inputs charges the same.
        let imported = execute_input(
            &follower,
            &spec,
            &follower.head().block,
            &BlockInput::of(&block),
        )
        .expect("valid");
        assert_eq!(imported.block.hash, block.hash);
        assert_eq!(imported.receipts, built.receipts);
    }
}
