//! What an honest signer checks before signing a payout: every input is a peg coin it
//! knows, every paying output is a withdrawal its own derived L2 state has finalized and not
//! seen paid, fees follow the documented rule and stay under the policy's ceiling, and
//! whatever is left returns to the current peg output. The coordinator proposes; this
//! decides. Nothing here trusts the proposal's claims about itself.
//!
//! **Fee rule (documented for users):** the payout's fee is split equally among the
//! withdrawals it pays, the remainder (under one satoshi per withdrawal) going to the first
//! one; each output pays its withdrawal's amount minus its share.

use std::collections::{BTreeMap, HashSet};

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Weight};

use crate::Federation;

/// Identifies one withdrawal request: the L2 transaction and the log's index in it.
pub type WithdrawalId = (alloy_primitives::B256, u32);

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
    /// Highest fee rate, in sat per vbyte of the signed transaction.
    pub max_sat_per_vb: u64,
}

/// A payout the coordinator asks the federation to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutProposal {
    /// The unsigned transaction: withdrawal outputs first (in `withdrawals` order), then at
    /// most one change output to the peg.
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
    #[error("withdrawal {0:?} is not finalized and unpaid here")]
    UnknownWithdrawal(WithdrawalId),
    /// The same withdrawal twice.
    #[error("withdrawal {0:?} is paid twice")]
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
    /// Outputs beyond the withdrawals other than one change output to the peg.
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
    #[error("withdrawal {0:?} cannot carry its share of the fee")]
    Dust(WithdrawalId),
}

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

/// Checks `proposal` against this signer's own view: the peg coins it knows (outpoint →
/// output), the withdrawals it has finalized and unpaid, the peg's current output script
/// for change. `Ok` means: sign.
pub fn check_payout(
    proposal: &PayoutProposal,
    coins: &BTreeMap<OutPoint, TxOut>,
    pending: &BTreeMap<WithdrawalId, PendingWithdrawal>,
    peg_script: &ScriptBuf,
    federation: &Federation,
    control_len: usize,
    policy: &FeePolicy,
) -> Result<(), PolicyError> {
    let tx = &proposal.tx;
    let mut seen = HashSet::new();
    let mut total_in = Amount::ZERO;
    for input in &tx.input {
        if !seen.insert(input.previous_output) {
            return Err(PolicyError::DuplicateInput(input.previous_output));
        }
        let coin = coins
            .get(&input.previous_output)
            .ok_or(PolicyError::UnknownInput(input.previous_output))?;
        total_in = total_in
            .checked_add(coin.value)
            .ok_or(PolicyError::Overspend)?;
    }
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
    // Output values are the coordinator's: add them without trusting them not to overflow.
    let total_out = tx
        .output
        .iter()
        .try_fold(Amount::ZERO, |sum, o| sum.checked_add(o.value))
        .ok_or(PolicyError::Overspend)?;
    let fee = total_in
        .checked_sub(total_out)
        .ok_or(PolicyError::Overspend)?;
    let shares = fee_shares(fee, proposal.withdrawals.len());
    for (index, (id, share)) in proposal.withdrawals.iter().zip(&shares).enumerate() {
        let withdrawal = pending.get(id).ok_or(PolicyError::UnknownWithdrawal(*id))?;
        let expected = withdrawal
            .amount
            .checked_sub(*share)
            .filter(|a| *a >= Amount::from_sat(330))
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
    let rest = &tx.output[proposal.withdrawals.len().min(tx.output.len())..];
    match rest {
        [] => {}
        [change] if change.script_pubkey == *peg_script => {}
        _ => return Err(PolicyError::StrayOutput(proposal.withdrawals.len())),
    }
    let vbytes = signed_weight(tx, federation, control_len).to_vbytes_ceil();
    let sat_per_vb = fee.to_sat().div_ceil(vbytes.max(1));
    if sat_per_vb > policy.max_sat_per_vb {
        return Err(PolicyError::FeeTooHigh {
            sat_per_vb,
            max: policy.max_sat_per_vb,
        });
    }
    Ok(())
}
