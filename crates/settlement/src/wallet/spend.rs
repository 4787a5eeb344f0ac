//! Spending: the commit transactions that carry batch envelopes, their BIP125 fee bumps,
//! and giving up on a transaction that never made it to the mempool.
//!
//! Coin selection is BDK's (branch and bound, falling back to single random draw).
//! Coins count as spendable once confirmed, or while unconfirmed if they are the wallet's
//! own change (so batches can follow each other without waiting for a block); unconfirmed
//! payments from others are not spent, as Bitcoin Core's wallet does by default.

use bdk_wallet::error::{BuildFeeBumpError, CreateTxError};
use bdk_wallet::{KeychainKind, TxOrdering};
use bitcoin::{Amount, FeeRate, OutPoint, Psbt, ScriptBuf, Transaction, Txid};

use super::error::{Error, Result};
use super::{BatcherWallet, TARGET, TxStatus};

impl BatcherWallet {
    /// A signed transaction paying `outputs` in this order (`outputs[i]` is output `i`),
    /// with change (if any) to the wallet after them, at `fee_rate` or slightly above (BDK
    /// budgets the largest signature size). It signals replaceability (BIP125) and is
    /// recorded as unconfirmed, so its inputs are not selected again; if it is not
    /// broadcast after all, [`BatcherWallet::abandon`] releases them.
    pub fn build_commit(
        &mut self,
        outputs: &[(ScriptBuf, Amount)],
        fee_rate: FeeRate,
    ) -> Result<Transaction> {
        if outputs.is_empty() {
            return Err(Error::Build("a commit transaction needs outputs".into()));
        }
        let unspendable = self.untrusted_pending_coins();
        let psbt = {
            let mut builder = self.wallet.build_tx();
            builder
                .ordering(TxOrdering::Untouched)
                .fee_rate(fee_rate)
                .unspendable(unspendable);
            for (script, amount) in outputs {
                builder.add_recipient(script.clone(), *amount);
            }
            builder.finish().map_err(|e| build_error(e, None))?
        };
        let tx = self.sign_and_record(psbt)?;
        tracing::info!(
            target: TARGET,
            txid = %tx.compute_txid(),
            outputs = outputs.len(),
            inputs = tx.input.len(),
            fee = %self.fee(&tx).unwrap_or(Amount::ZERO),
            vsize = tx.vsize(),
            "commit transaction built"
        );
        Ok(tx)
    }

    /// A signed BIP125 replacement of the unconfirmed wallet transaction `txid` at
    /// `fee_rate` (at least 1 sat/vB above the original's): the same non-change outputs in
    /// the same order, the fee taken from the change or from added confirmed coins. It is
    /// recorded as unconfirmed and outranks the original in the wallet.
    ///
    /// The replacement has a new txid, so whatever spends the original's outputs (a reveal
    /// spending a commit output) must be signed again against it.
    pub fn bump_fee(&mut self, txid: Txid, fee_rate: FeeRate) -> Result<Transaction> {
        let unspendable = self.untrusted_pending_coins();
        let psbt = {
            let mut builder = self
                .wallet
                .build_fee_bump(txid)
                .map_err(|e| fee_bump_error(txid, e))?;
            builder
                .ordering(TxOrdering::Untouched)
                .fee_rate(fee_rate)
                .unspendable(unspendable);
            builder.finish().map_err(|e| build_error(e, Some(txid)))?
        };
        let tx = self.sign_and_record(psbt)?;
        tracing::info!(
            target: TARGET,
            original = %txid,
            replacement = %tx.compute_txid(),
            fee = %self.fee(&tx).unwrap_or(Amount::ZERO),
            %fee_rate,
            "commit transaction fee bumped"
        );
        Ok(tx)
    }

    /// Forgets the unconfirmed transaction `txid` (one whose broadcast failed, or that the
    /// mempool dropped) and the wallet's transactions spending its outputs: its inputs
    /// become spendable again, and a transaction it replaced comes back. If it shows up in
    /// a block later, the wallet sees it again.
    pub fn abandon(&mut self, txid: Txid) -> Result<()> {
        match self.tx_status(txid) {
            None => return Err(Error::UnknownTransaction(txid)),
            Some(TxStatus::Confirmed { height, .. }) => {
                return Err(Error::Build(format!(
                    "transaction {txid} is confirmed at height {height}: it cannot be abandoned"
                )));
            }
            Some(TxStatus::Unconfirmed) => {}
        }
        // BDK keeps an evicted transaction in view while an unconfirmed child of it is, so
        // the children (which cannot be valid without it) go too.
        let mut gone = vec![txid];
        gone.extend(
            self.wallet
                .tx_graph()
                .walk_descendants(txid, |_, descendant| Some(descendant)),
        );
        let stamp = self.next_stamp();
        self.wallet
            .apply_evicted_txs(gone.iter().map(|txid| (*txid, stamp)));
        self.persist()?;
        tracing::info!(target: TARGET, %txid, descendants = gone.len() - 1, "transaction abandoned");
        Ok(())
    }

    /// Signs `psbt`, records the transaction as unconfirmed and persists.
    fn sign_and_record(&mut self, psbt: Psbt) -> Result<Transaction> {
        let tx = self.keys.sign(&self.wallet, psbt, self.wallet.secp_ctx())?;
        self.apply_unconfirmed(std::slice::from_ref(&tx))?;
        Ok(tx)
    }

    /// Unconfirmed outputs paying the receiving keychain: payments from others that may
    /// still be double-spent.
    fn untrusted_pending_coins(&self) -> Vec<OutPoint> {
        self.wallet
            .list_unspent()
            .filter(|o| o.keychain == KeychainKind::External && !o.chain_position.is_confirmed())
            .map(|o| o.outpoint)
            .collect()
    }
}

/// Sorts BDK's transaction-building errors: insufficient funds with their amounts, a too
/// low replacement fee as a fee-bump error, the rest as build errors.
fn build_error(e: CreateTxError, bumping: Option<Txid>) -> Error {
    match (e, bumping) {
        (CreateTxError::CoinSelection(funds), _) => Error::InsufficientFunds {
            needed: funds.needed,
            available: funds.available,
        },
        (
            e @ (CreateTxError::FeeRateTooLow { .. } | CreateTxError::FeeTooLow { .. }),
            Some(txid),
        ) => Error::FeeBump {
            txid,
            reason: e.to_string(),
        },
        (e, _) => Error::Build(e.to_string()),
    }
}

fn fee_bump_error(txid: Txid, e: BuildFeeBumpError) -> Error {
    match e {
        BuildFeeBumpError::TransactionNotFound(missing) if missing == txid => {
            Error::UnknownTransaction(txid)
        }
        e => Error::FeeBump {
            txid,
            reason: e.to_string(),
        },
    }
}
