//! What an honest signer checks before signing a payout: every input is a peg coin it
//! knows, every paying output is a withdrawal its own derived L2 state has finalized and not
//! seen paid, fees follow the documented rule and stay under the policy's ceiling, and
//! whatever is left returns to the current peg output. The coordinator proposes; this
//! decides. Nothing here trusts the proposal's claims about itself.
//!
//! **Fee rule (documented for users):** the payout's fee is split equally among the
//! withdrawals it pays, the remainder (under one satoshi per withdrawal) going to the first
//! one; each output pays its withdrawal's amount minus its share. Change returns to the peg
//! exactly what the inputs hold beyond the withdrawn amounts, unless that is below the dust
//! limit: then there is no change output and those few satoshis go to the miner on top of
//! the withdrawers' fee.
//!
//! **Shape of a payout:** the withdrawal outputs in the order the proposal lists them, then
//! an `OP_RETURN` output committing to the chain id and those withdrawal ids (so Bitcoin
//! itself says which withdrawals the federation paid, and every L2 node can record it),
//! then at most one change output to the current peg output. Inputs are peg coins.

use std::collections::{BTreeMap, HashSet};

use bitcoin::hashes::{Hash as _, sha256};
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, FeeRate, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight, Witness,
    absolute,
};

use crate::Federation;

/// Identifies one withdrawal request: its id in the withdrawal contract (0, 1, 2, …).
pub type WithdrawalId = u64;

/// The smallest output a payout makes (Bitcoin Core's dust limit for the largest standard
/// output types).
pub const DUST_SAT: u64 = 330;

/// The first bytes of a payout's `OP_RETURN` commitment.
pub const PAYOUT_TAG: &[u8; 8] = b"cairnpay";

/// Most withdrawals one payout pays.
pub const MAX_PAYOUT_WITHDRAWALS: usize = 100;

/// Most peg coins one payout spends.
pub const MAX_PAYOUT_INPUTS: usize = 50;

/// Bitcoin blocks an unconfirmed payout waits before it is replaced at a higher fee rate.
pub const BUMP_AFTER_BLOCKS: u32 = 3;

/// Default fee ceiling of signers and coordinator, sat/vB (`--peg-max-fee-rate`).
pub const DEFAULT_MAX_FEE_RATE: u64 = 200;

/// A withdrawal the signer's own node has seen burned in a finalized L2 block and not paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWithdrawal {
    /// The payout script (the Bitcoin address's `scriptPubKey`).
    pub script_pubkey: ScriptBuf,
    /// The burned amount.
    pub amount: Amount,
}

/// The fee ceiling a signer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    /// Highest fee rate of the signed transaction (priced on its exact vbytes).
    pub max_fee_rate: FeeRate,
}

/// A node's own view of the peg: what a signer checks a proposal against and what a
/// coordinator builds one from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PegView {
    /// The L2 chain's id (the payout commitment names it).
    pub chain_id: u64,
    /// Peg coins: outpoint → output (deposits credited and not swept, peg change).
    pub coins: BTreeMap<OutPoint, TxOut>,
    /// Withdrawals finalized on L2 and not paid.
    pub pending: BTreeMap<WithdrawalId, PendingWithdrawal>,
    /// The current peg output's script: where change goes.
    pub peg_script: ScriptBuf,
}

/// A payout the coordinator asks the federation to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutProposal {
    /// The unsigned transaction: withdrawal outputs first (in `withdrawals` order), the
    /// commitment, then at most one change output to the peg.
    pub tx: Transaction,
    /// The withdrawal each leading output pays.
    pub withdrawals: Vec<WithdrawalId>,
}

/// Why a signer refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An input is not a peg coin this signer knows.
    #[error("input {0} is not a peg coin")]
    UnknownInput(OutPoint),
    /// The same input twice.
    #[error("input {0} is spent twice")]
    DuplicateInput(OutPoint),
    /// A withdrawal this signer does not have as finalized and unpaid.
    #[error("withdrawal {0} is not finalized and unpaid here")]
    UnknownWithdrawal(WithdrawalId),
    /// The same withdrawal twice.
    #[error("withdrawal {0} is paid twice")]
    DuplicateWithdrawal(WithdrawalId),
    /// An output does not pay its withdrawal as the fee rule says.
    #[error(
        "output {index} pays {actual} to {script}, the fee rule says {expected} to {expected_script}"
    )]
    WrongPayout {
        /// The output's index.
        index: usize,
        /// What it pays.
        actual: Amount,
        /// To whom.
        script: ScriptBuf,
        /// What it should pay.
        expected: Amount,
        /// To whom it should.
        expected_script: ScriptBuf,
    },
    /// The output after the withdrawals is not the commitment to exactly them.
    #[error("output {0} is not the commitment to the withdrawals paid")]
    BadCommitment(usize),
    /// No change output although the inputs exceed the withdrawals by more than dust.
    #[error("the payout keeps {0} of the peg's coins without returning them as change")]
    MissingChange(Amount),
    /// Outputs beyond the withdrawals and commitment other than one change output to the
    /// peg.
    #[error("output {0} is neither a withdrawal nor change to the peg")]
    StrayOutput(usize),
    /// Nothing to pay.
    #[error("the payout pays no withdrawal")]
    Empty,
    /// Outputs exceed inputs.
    #[error("outputs exceed inputs")]
    Overspend,
    /// The fee is above the ceiling.
    #[error("fee rate {sat_per_vb} sat/vB is above the ceiling {max} sat/vB")]
    FeeTooHigh {
        /// The proposal's fee rate.
        sat_per_vb: u64,
        /// The policy's ceiling.
        max: u64,
    },
    /// A share of the fee would leave a withdrawal output below the dust limit.
    #[error("withdrawal {0} cannot carry its share of the fee")]
    Dust(WithdrawalId),
}

/// The `OP_RETURN` output script committing to `withdrawals` on chain `chain_id`:
/// `OP_RETURN <"cairnpay" ‖ SHA-256(chain id ‖ id…)>` (integers as 8 big-endian bytes).
pub fn payout_commitment(chain_id: u64, withdrawals: &[WithdrawalId]) -> ScriptBuf {
    let mut preimage = Vec::with_capacity(8 * (withdrawals.len() + 1));
    preimage.extend_from_slice(&chain_id.to_be_bytes());
    for id in withdrawals {
        preimage.extend_from_slice(&id.to_be_bytes());
    }
    let mut data = PAYOUT_TAG.to_vec();
    data.extend_from_slice(sha256::Hash::hash(&preimage).as_byte_array());
    let push = PushBytesBuf::try_from(data).expect("40 bytes fit a push");
    ScriptBuf::new_op_return(push)
}

/// Control block length of a peg or deposit output's federation leaf (both trees have two
/// leaves: 33 bytes plus one 32-byte branch).
pub const CONTROL_LEN: usize = 65;

/// The weight of `tx` once each input carries an M-of-N federation witness whose control
/// block is `control_len` bytes (33 + 32 per tree level).
pub fn signed_weight(tx: &Transaction, federation: &Federation, control_len: usize) -> Weight {
    let set = &federation.signers;
    let leaf_len = crate::scripts::multisig_script(set).len();
    let witness = varint_len(set.keys.len() + 2)
        + set.threshold * 65
        + (set.keys.len() - set.threshold)
        + varint_len(leaf_len)
        + leaf_len
        + varint_len(control_len)
        + control_len;
    // Without witnesses, the serialization omits the segwit marker and flag (2 WU).
    tx.weight() + Weight::from_wu((2 + witness * tx.input.len()) as u64)
}

fn varint_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        _ => 5,
    }
}

/// Each withdrawal's share of `fee` under the fee rule.
pub fn fee_shares(fee: Amount, count: usize) -> Vec<Amount> {
    if count == 0 {
        return Vec::new();
    }
    let each = fee.to_sat() / count as u64;
    let rest = fee.to_sat() - each * count as u64;
    (0..count)
        .map(|i| Amount::from_sat(each + if i == 0 { rest } else { 0 }))
        .collect()
}

/// Checks `proposal` against this signer's own `view`. `Ok` means: sign.
pub fn check_payout(
    proposal: &PayoutProposal,
    view: &PegView,
    federation: &Federation,
    policy: &FeePolicy,
) -> Result<(), PolicyError> {
    let (coins, pending) = (&view.coins, &view.pending);
    let tx = &proposal.tx;
    let total_in = spent_value(tx.input.iter().map(|i| i.previous_output), coins)?;
    if proposal.withdrawals.is_empty() {
        return Err(PolicyError::Empty);
    }
    let mut paid = HashSet::new();
    for id in &proposal.withdrawals {
        if !paid.insert(*id) {
            return Err(PolicyError::DuplicateWithdrawal(*id));
        }
        if !pending.contains_key(id) {
            return Err(PolicyError::UnknownWithdrawal(*id));
        }
    }
    let commitment = payout_commitment(view.chain_id, &proposal.withdrawals);
    match tx.output.get(proposal.withdrawals.len()) {
        Some(output) if output.script_pubkey == commitment && output.value == Amount::ZERO => {}
        _ => return Err(PolicyError::BadCommitment(proposal.withdrawals.len())),
    }
    // Output values are the coordinator's: add them without trusting them not to overflow.
    let total_out = tx
        .output
        .iter()
        .try_fold(Amount::ZERO, |sum, o| sum.checked_add(o.value))
        .ok_or(PolicyError::Overspend)?;
    let fee = total_in
        .checked_sub(total_out)
        .ok_or(PolicyError::Overspend)?;
    let withdrawn = proposal
        .withdrawals
        .iter()
        .filter_map(|id| pending.get(id))
        .try_fold(Amount::ZERO, |sum, w| sum.checked_add(w.amount))
        .ok_or(PolicyError::Overspend)?;
    let surplus = total_in
        .checked_sub(withdrawn)
        .ok_or(PolicyError::Overspend)?;
    let has_change = tx.output.len() > proposal.withdrawals.len() + 1;
    if !has_change && surplus >= Amount::from_sat(DUST_SAT) {
        return Err(PolicyError::MissingChange(surplus));
    }
    // What the withdrawers pay: the fee, less a dust surplus the peg gives the miner.
    let withdrawers_fee = if has_change {
        fee
    } else {
        fee.checked_sub(surplus).ok_or(PolicyError::Overspend)?
    };
    let shares = fee_shares(withdrawers_fee, proposal.withdrawals.len());
    for (index, (id, share)) in proposal.withdrawals.iter().zip(&shares).enumerate() {
        let withdrawal = pending.get(id).ok_or(PolicyError::UnknownWithdrawal(*id))?;
        let expected = withdrawal
            .amount
            .checked_sub(*share)
            .filter(|a| *a >= Amount::from_sat(DUST_SAT))
            .ok_or(PolicyError::Dust(*id))?;
        let output = tx.output.get(index).ok_or(PolicyError::Empty)?;
        if output.value != expected || output.script_pubkey != withdrawal.script_pubkey {
            return Err(PolicyError::WrongPayout {
                index,
                actual: output.value,
                script: output.script_pubkey.clone(),
                expected,
                expected_script: withdrawal.script_pubkey.clone(),
            });
        }
    }
    let paid = proposal.withdrawals.len();
    match &tx.output[paid + 1..] {
        [] => {}
        [change] if change.script_pubkey == view.peg_script => {}
        _ => return Err(PolicyError::StrayOutput(paid + 1)),
    }
    check_fee_rate(tx, fee, federation, policy)
}

/// Builds the payout of `withdrawals` (in that order) from `coins` at `fee_rate`, by the
/// fee rule and in the shape [`check_payout`] accepts.
pub fn build_payout(
    view: &PegView,
    federation: &Federation,
    coins: &[OutPoint],
    withdrawals: &[WithdrawalId],
    fee_rate: FeeRate,
) -> Result<PayoutProposal, PolicyError> {
    if withdrawals.is_empty() {
        return Err(PolicyError::Empty);
    }
    let total_in = spent_value(coins.iter().copied(), &view.coins)?;
    let mut outputs = Vec::with_capacity(withdrawals.len() + 2);
    let mut withdrawn = Amount::ZERO;
    for id in withdrawals {
        let pending = view
            .pending
            .get(id)
            .ok_or(PolicyError::UnknownWithdrawal(*id))?;
        withdrawn = withdrawn
            .checked_add(pending.amount)
            .ok_or(PolicyError::Overspend)?;
        outputs.push(TxOut {
            value: pending.amount,
            script_pubkey: pending.script_pubkey.clone(),
        });
    }
    outputs.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: payout_commitment(view.chain_id, withdrawals),
    });
    let change = total_in
        .checked_sub(withdrawn)
        .ok_or(PolicyError::Overspend)?;
    let mut tx = unsigned(coins, outputs);
    if change >= Amount::from_sat(DUST_SAT) {
        tx.output.push(TxOut {
            value: change,
            script_pubkey: view.peg_script.clone(),
        });
    }
    let vbytes = signed_weight(&tx, federation, CONTROL_LEN).to_vbytes_ceil();
    let fee = fee_rate.fee_vb(vbytes).ok_or(PolicyError::Overspend)?;
    for ((output, share), id) in tx
        .output
        .iter_mut()
        .zip(fee_shares(fee, withdrawals.len()))
        .zip(withdrawals)
    {
        output.value = output
            .value
            .checked_sub(share)
            .filter(|a| *a >= Amount::from_sat(DUST_SAT))
            .ok_or(PolicyError::Dust(*id))?;
    }
    Ok(PayoutProposal {
        tx,
        withdrawals: withdrawals.to_vec(),
    })
}

/// Checks a rotation sweep: coins of an earlier signer set moved, whole, to the current peg
/// output (`view.peg_script`), after the commitment to no withdrawals, the peg paying the
/// fee under the ceiling. `Ok` means: sign.
pub fn check_sweep(
    proposal: &PayoutProposal,
    view: &PegView,
    federation: &Federation,
    policy: &FeePolicy,
) -> Result<(), PolicyError> {
    if !proposal.withdrawals.is_empty() {
        return Err(PolicyError::StrayOutput(0));
    }
    let tx = &proposal.tx;
    let total_in = spent_value(tx.input.iter().map(|i| i.previous_output), &view.coins)?;
    if tx.input.is_empty() {
        return Err(PolicyError::Empty);
    }
    match tx.output.first() {
        Some(o)
            if o.script_pubkey == payout_commitment(view.chain_id, &[])
                && o.value == Amount::ZERO => {}
        _ => return Err(PolicyError::BadCommitment(0)),
    }
    let change = match &tx.output[1..] {
        [change] if change.script_pubkey == view.peg_script => change.value,
        _ => return Err(PolicyError::StrayOutput(1)),
    };
    let fee = total_in.checked_sub(change).ok_or(PolicyError::Overspend)?;
    check_fee_rate(tx, fee, federation, policy)
}

/// Builds the sweep [`check_sweep`] accepts: `coins` to `view.peg_script` at `fee_rate`.
pub fn build_sweep(
    view: &PegView,
    federation: &Federation,
    coins: &[OutPoint],
    fee_rate: FeeRate,
) -> Result<PayoutProposal, PolicyError> {
    let total_in = spent_value(coins.iter().copied(), &view.coins)?;
    let mut tx = unsigned(
        coins,
        vec![
            TxOut {
                value: Amount::ZERO,
                script_pubkey: payout_commitment(view.chain_id, &[]),
            },
            TxOut {
                value: total_in,
                script_pubkey: view.peg_script.clone(),
            },
        ],
    );
    let vbytes = signed_weight(&tx, federation, CONTROL_LEN).to_vbytes_ceil();
    let fee = fee_rate.fee_vb(vbytes).ok_or(PolicyError::Overspend)?;
    tx.output[1].value = total_in
        .checked_sub(fee)
        .filter(|v| *v >= Amount::from_sat(DUST_SAT))
        .ok_or(PolicyError::Overspend)?;
    Ok(PayoutProposal {
        tx,
        withdrawals: Vec::new(),
    })
}

/// The value of `outpoints`, each a distinct coin of `coins`.
fn spent_value(
    outpoints: impl Iterator<Item = OutPoint>,
    coins: &BTreeMap<OutPoint, TxOut>,
) -> Result<Amount, PolicyError> {
    let mut seen = HashSet::new();
    let mut total = Amount::ZERO;
    for outpoint in outpoints {
        if !seen.insert(outpoint) {
            return Err(PolicyError::DuplicateInput(outpoint));
        }
        let coin = coins
            .get(&outpoint)
            .ok_or(PolicyError::UnknownInput(outpoint))?;
        total = total
            .checked_add(coin.value)
            .ok_or(PolicyError::Overspend)?;
    }
    Ok(total)
}

/// `fee` over the signed size of `tx` is within the ceiling.
fn check_fee_rate(
    tx: &Transaction,
    fee: Amount,
    federation: &Federation,
    policy: &FeePolicy,
) -> Result<(), PolicyError> {
    let vbytes = signed_weight(tx, federation, CONTROL_LEN).to_vbytes_ceil();
    let ceiling = policy
        .max_fee_rate
        .fee_vb(vbytes)
        .unwrap_or(Amount::MAX_MONEY);
    if fee > ceiling {
        return Err(PolicyError::FeeTooHigh {
            sat_per_vb: fee.to_sat().div_ceil(vbytes.max(1)),
            max: policy.max_fee_rate.to_sat_per_vb_ceil(),
        });
    }
    Ok(())
}

/// An unsigned, replaceable version-2 transaction spending `coins` to `outputs`.
fn unsigned(coins: &[OutPoint], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: coins
            .iter()
            .map(|outpoint| TxIn {
                previous_output: *outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}
