//! The check every follower makes of a batch's peg records ([`PegVerifier`]): against the
//! Bitcoin blocks derivation already holds ([`L1Blocks`]), never by calling the Bitcoin
//! node, so a flapping `bitcoind` cannot stall derivation inside a check. A record naming
//! a block derivation does not hold yet answers [`PegRecordError::Missing`]; the
//! settlement task fetches it and derivation resumes.

use std::sync::Arc;

use alloy_primitives::B256;
use bitcoin::hashes::Hash as _;
use bitcoin::{BlockHash, ScriptBuf, Transaction, Txid};
use cairn_peg::policy::payout_commitment;
use cairn_primitives::{Deposit, Payout};
use cairn_settlement::derive::{PegRecordError, PegVerifier};
use cairn_settlement::l1blocks::{L1Blocks, Lookup, PEG_LOOKBACK};

use crate::Peg;

/// Checks deposits and payouts against the network's peg configuration.
pub struct PegChecker {
    peg: Arc<Peg>,
}

impl PegChecker {
    /// A checker for `peg`'s network.
    pub fn new(peg: Arc<Peg>) -> Self {
        Self { peg }
    }
}

/// The transaction `txid` in Bitcoin block `l1_block`, on the best chain at or below
/// `l1_height`. If a reorg replaced that block, the transaction counts where the best chain
/// has it now (within [`PEG_LOOKBACK`] blocks below `l1_height`): a deposit or payout mined
/// again is the same deposit or payout.
fn find_tx(
    l1: &L1Blocks,
    l1_block: &B256,
    txid: &B256,
    l1_height: u32,
) -> Result<Arc<Transaction>, PegRecordError> {
    let hash = BlockHash::from_byte_array(l1_block.0);
    let wanted = Txid::from_byte_array(txid.0);
    let refusal = match l1.lookup(&hash) {
        Lookup::Missing => return Err(PegRecordError::Missing(hash)),
        Lookup::Best(block) if block.height > l1_height => PegRecordError::AfterBatch {
            hash,
            height: block.height,
            batch: l1_height,
        },
        Lookup::Best(block) => match block.txs.get(&wanted) {
            Some(tx) => return Ok(tx.clone()),
            None => PegRecordError::NotInBlock(hash),
        },
        Lookup::NotBest => PegRecordError::NotBest(hash),
    };
    (l1_height.saturating_sub(PEG_LOOKBACK)..=l1_height)
        .rev()
        .filter_map(|height| l1.at(height))
        .find_map(|block| block.txs.get(&wanted).cloned())
        .ok_or(refusal)
}

impl PegVerifier for PegChecker {
    fn verify_deposit(
        &self,
        deposit: &Deposit,
        l1_height: u32,
        l1: &L1Blocks,
    ) -> Result<(), PegRecordError> {
        let tx = find_tx(l1, &deposit.l1_block, &deposit.txid, l1_height)?;
        let output = tx
            .output
            .get(deposit.vout as usize)
            .ok_or(PegRecordError::NoSuchOutput)?;
        if output.value.to_sat() != deposit.amount_sat {
            return Err(PegRecordError::WrongAmount {
                pays: output.value.to_sat(),
                recorded: deposit.amount_sat,
            });
        }
        let min = self.peg.spec.min_deposit_sat;
        if deposit.amount_sat < min {
            return Err(PegRecordError::BelowMinimum {
                amount: deposit.amount_sat,
                min,
            });
        }
        let expected = self
            .peg
            .output_in(deposit.epoch, deposit.recipient, deposit.reclaim_key)
            .map_err(|e| PegRecordError::Underivable(e.to_string()))?
            .tree()
            .script_pubkey();
        if output.script_pubkey != expected {
            return Err(PegRecordError::NotTheDepositAddress);
        }
        Ok(())
    }

    fn verify_payout(
        &self,
        payout: &Payout,
        l1_height: u32,
        l1: &L1Blocks,
    ) -> Result<(), PegRecordError> {
        let tx = find_tx(l1, &payout.l1_block, &payout.txid, l1_height)?;
        let inputs: Vec<(B256, u32)> = tx
            .input
            .iter()
            .map(|i| {
                let prev = i.previous_output;
                (B256::from(prev.txid.to_byte_array()), prev.vout)
            })
            .collect();
        if inputs != payout.inputs {
            return Err(PegRecordError::InputsDiffer);
        }
        // Every input spends through a signer set's leaf: Bitcoin checked M signatures of
        // that set over this transaction, which commits to the withdrawals it pays.
        let leaves: Vec<ScriptBuf> = self
            .peg
            .epochs
            .iter()
            .map(|e| cairn_peg::scripts::multisig_script(&e.federation.signers))
            .collect();
        let through_leaf = |input: &bitcoin::TxIn| {
            input.witness.taproot_leaf_script().is_some_and(|l| {
                l.version == bitcoin::taproot::LeafVersion::TapScript
                    && leaves.iter().any(|leaf| l.script == leaf.as_script())
            })
        };
        if !tx.input.iter().all(through_leaf) {
            return Err(PegRecordError::NotThroughLeaf);
        }
        let paid = payout.withdrawals.len();
        let commitment = payout_commitment(self.peg.chain_id, &payout.withdrawals);
        if tx.output.get(paid).map(|o| &o.script_pubkey) != Some(&commitment) {
            return Err(PegRecordError::NoCommitment);
        }
        let change = tx.output.get(paid + 1).map(|o| {
            if o.script_pubkey == self.peg.peg_script_of(payout.epoch) {
                Ok(((paid + 1) as u32, o.value.to_sat()))
            } else {
                Err(PegRecordError::ChangeDiffers)
            }
        });
        if change.transpose()? != payout.change || tx.output.len() > paid + 2 {
            return Err(PegRecordError::ChangeDiffers);
        }
        Ok(())
    }
}
