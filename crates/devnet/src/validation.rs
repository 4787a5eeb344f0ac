//! Deterministic transaction checks: context-free rules, finality, BIP68 sequence locks,
//! input amounts and script verification with libbitcoinconsensus. No I/O, no chain state.

use std::collections::HashSet;

use bitcoin::consensus::encode::serialize;
use bitcoin::{Amount, Transaction, TxOut};

use crate::error::{Reject, RejectKind};
use crate::params::{
    COINBASE_MATURITY, LOCKTIME_THRESHOLD, MAX_BLOCK_WEIGHT, SCRIPT_FLAGS, format_money,
};

/// An unspent output with the facts consensus needs about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    /// The output itself.
    pub output: TxOut,
    /// Height of the block that created it (for mempool parents: the next block's height).
    pub height: u32,
    /// Whether it was created by a coinbase.
    pub is_coinbase: bool,
}

const SEQUENCE_DISABLE_FLAG: u32 = 1 << 31;
const SEQUENCE_TYPE_FLAG: u32 = 1 << 22;
const SEQUENCE_MASK: u32 = 0x0000_ffff;
const SEQUENCE_GRANULARITY: u32 = 9;

/// bitcoind's `CheckTransaction`: rules that need no context.
pub fn check_transaction(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(Reject::invalid("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(Reject::invalid("bad-txns-vout-empty"));
    }
    if (tx.base_size() as u64).saturating_mul(4) > MAX_BLOCK_WEIGHT {
        return Err(Reject::invalid("bad-txns-oversize"));
    }
    let mut total = Amount::ZERO;
    for out in &tx.output {
        if out.value > Amount::MAX_MONEY {
            return Err(Reject::invalid("bad-txns-vout-toolarge"));
        }
        total = match total.checked_add(out.value) {
            Some(t) if t <= Amount::MAX_MONEY => t,
            _ => return Err(Reject::invalid("bad-txns-txouttotal-toolarge")),
        };
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    if !tx.input.iter().all(|i| seen.insert(i.previous_output)) {
        return Err(Reject::invalid("bad-txns-inputs-duplicate"));
    }
    if tx.is_coinbase() {
        let len = tx.input[0].script_sig.len();
        if !(2..=100).contains(&len) {
            return Err(Reject::invalid("bad-cb-length"));
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(Reject::invalid("bad-txns-prevout-null"));
    }
    Ok(())
}

/// bitcoind's `IsFinalTx`: the absolute locktime is satisfied at `height` and `time`
/// (the median time past of the block's parent, BIP113).
pub fn is_final(tx: &Transaction, height: u32, time: u32) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let cmp = if lock < LOCKTIME_THRESHOLD {
        height
    } else {
        time
    };
    if lock < cmp {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == u32::MAX)
}

/// The heights and times a transaction's BIP68 relative locks require (bitcoind's
/// `CalculateSequenceLocks`): the lock holds once both are below the block's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPoints {
    /// The last height at which the transaction is not yet final.
    pub min_height: i64,
    /// The last median time past at which the transaction is not yet final.
    pub min_time: i64,
}

/// Computes BIP68 lock points. `coins` are the spent coins in input order;
/// `mtp_before(h)` gives the median time past of the block at height `h - 1`.
pub fn sequence_locks(
    tx: &Transaction,
    coins: &[Coin],
    mtp_before: impl Fn(u32) -> u32,
) -> LockPoints {
    let mut lp = LockPoints {
        min_height: -1,
        min_time: -1,
    };
    if tx.version.0 < 2 {
        return lp;
    }
    for (input, coin) in tx.input.iter().zip(coins) {
        let seq = input.sequence.0;
        if seq & SEQUENCE_DISABLE_FLAG != 0 {
            continue;
        }
        let value = i64::from(seq & SEQUENCE_MASK);
        if seq & SEQUENCE_TYPE_FLAG != 0 {
            let coin_time = i64::from(mtp_before(coin.height));
            lp.min_time = lp
                .min_time
                .max(coin_time + (value << SEQUENCE_GRANULARITY) - 1);
        } else {
            lp.min_height = lp.min_height.max(i64::from(coin.height) + value - 1);
        }
    }
    lp
}

/// Whether BIP68 lock points are met by a block at `height` whose parent has
/// median time past `prev_mtp`.
pub fn sequence_locks_met(lp: LockPoints, height: u32, prev_mtp: u32) -> bool {
    lp.min_height < i64::from(height) && lp.min_time < i64::from(prev_mtp)
}

/// bitcoind's `Consensus::CheckTxInputs`: maturity and amounts. Returns the fee.
pub fn check_tx_inputs(
    tx: &Transaction,
    coins: &[Coin],
    spend_height: u32,
) -> Result<Amount, Reject> {
    let mut value_in = Amount::ZERO;
    for coin in coins {
        if coin.is_coinbase && spend_height.saturating_sub(coin.height) < COINBASE_MATURITY {
            return Err(
                Reject::invalid("bad-txns-premature-spend-of-coinbase").with_details(format!(
                    "tried to spend coinbase at depth {}",
                    spend_height.saturating_sub(coin.height)
                )),
            );
        }
        value_in = match value_in.checked_add(coin.output.value) {
            Some(v) if coin.output.value <= Amount::MAX_MONEY && v <= Amount::MAX_MONEY => v,
            _ => return Err(Reject::invalid("bad-txns-inputvalues-outofrange")),
        };
    }
    // check_transaction bounded the output total by MAX_MONEY.
    let value_out = tx.output.iter().fold(Amount::ZERO, |acc, o| {
        acc.checked_add(o.value).unwrap_or(Amount::MAX)
    });
    match value_in.checked_sub(value_out) {
        Some(fee) => Ok(fee),
        None => Err(
            Reject::invalid("bad-txns-in-belowout").with_details(format!(
                "value in ({}) < value out ({})",
                format_money(value_in),
                format_money(value_out)
            )),
        ),
    }
}

/// bitcoind's `GetTransactionSigOpCost`: legacy sigops ×4, P2SH sigops ×4, witness sigops.
/// `spent` are the spent outputs in input order (ignored for a coinbase).
pub fn sigop_cost(tx: &Transaction, spent: &[TxOut]) -> u64 {
    let by_outpoint: std::collections::HashMap<_, _> = tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .zip(spent.iter().cloned())
        .collect();
    let cost = if tx.is_coinbase() {
        tx.total_sigop_cost(|_| None)
    } else {
        tx.total_sigop_cost(|op| by_outpoint.get(op).cloned())
    };
    u64::try_from(cost).unwrap_or(u64::MAX)
}

/// bitcoind's `GetVirtualTransactionSize` with the default 20 bytes per sigop.
pub fn sigop_adjusted_vsize(weight: u64, sigop_cost: u64) -> u64 {
    weight.max(sigop_cost.saturating_mul(20)).div_ceil(4)
}

/// Verifies every input's script with Bitcoin Core's interpreter (libbitcoinconsensus 26),
/// always passing all spent outputs and the taproot flag.
pub fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), Reject> {
    let internal =
        |what: String| Reject::invalid("mandatory-script-verify-flag-failed").with_details(what);
    if spent.len() != tx.input.len() {
        return Err(internal(format!(
            "{} spent outputs for {} inputs",
            spent.len(),
            tx.input.len()
        )));
    }
    let bytes = serialize(tx);
    let mut utxos = Vec::with_capacity(spent.len());
    for out in spent {
        let spk = out.script_pubkey.as_bytes();
        let len = u32::try_from(spk.len()).map_err(|_| internal("script too long".into()))?;
        let value = i64::try_from(out.value.to_sat())
            .map_err(|_| internal("amount out of range".into()))?;
        // The pointers borrow `spent`, which outlives `utxos`.
        utxos.push(bitcoinconsensus::Utxo {
            script_pubkey: spk.as_ptr(),
            script_pubkey_len: len,
            value,
        });
    }
    for (index, out) in spent.iter().enumerate() {
        let result = bitcoinconsensus::verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &bytes,
            Some(&utxos),
            index,
            SCRIPT_FLAGS,
        );
        match result {
            Ok(()) => {}
            Err(bitcoinconsensus::Error::ERR_SCRIPT) => {
                // bitcoind 29 puts the script error in the reason and adds no details.
                return Err(Reject {
                    kind: RejectKind::Invalid,
                    reason: format!(
                        "mandatory-script-verify-flag-failed ({})",
                        script_error_guess(tx, index, out)
                    ),
                    details: None,
                });
            }
            Err(e) => return Err(internal(format!("libbitcoinconsensus: {e}"))),
        }
    }
    Ok(())
}

/// libbitcoinconsensus says only "the script failed", not why. For the common taproot
/// key-path case the reason is known from the witness shape; otherwise say so plainly.
fn script_error_guess(tx: &Transaction, index: usize, out: &TxOut) -> &'static str {
    if !out.script_pubkey.is_p2tr() {
        return "Script evaluation failed";
    }
    let witness = &tx.input[index].witness;
    let mut items: Vec<&[u8]> = witness.iter().collect();
    if items.len() >= 2 && items.last().is_some_and(|a| a.first() == Some(&0x50)) {
        items.pop();
    }
    match items.as_slice() {
        [sig] if sig.len() == 64 || sig.len() == 65 => "Invalid Schnorr signature",
        [_] => "Invalid Schnorr signature size",
        _ => "Script evaluation failed",
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{OutPoint, ScriptBuf, Sequence, TxIn, Witness};

    use super::*;

    fn tx(lock: u32, seq: u32, version: i32) -> Transaction {
        Transaction {
            version: Version(version),
            lock_time: LockTime::from_consensus(lock),
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: bitcoin::Txid::from_byte_array([1; 32]),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence(seq),
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    use bitcoin::hashes::Hash as _;

    #[test]
    fn absolute_locktime_by_height_and_time() {
        assert!(is_final(&tx(0, 0, 2), 1, 0));
        assert!(!is_final(&tx(10, 0, 2), 10, 0));
        assert!(is_final(&tx(10, 0, 2), 11, 0));
        assert!(is_final(&tx(10, u32::MAX, 2), 5, 0));
        assert!(!is_final(&tx(600_000_000, 0, 2), 5, 600_000_000));
        assert!(is_final(&tx(600_000_000, 0, 2), 5, 600_000_001));
    }

    #[test]
    fn relative_locks_by_height_and_time() {
        let coin = Coin {
            output: TxOut::NULL,
            height: 10,
            is_coinbase: false,
        };
        let lp = sequence_locks(&tx(0, 5, 2), std::slice::from_ref(&coin), |_| 0);
        assert_eq!(lp.min_height, 14);
        assert!(!sequence_locks_met(lp, 14, 0));
        assert!(sequence_locks_met(lp, 15, 0));
        let lp = sequence_locks(&tx(0, 5, 1), std::slice::from_ref(&coin), |_| 0);
        assert_eq!(lp.min_height, -1);
        let lp = sequence_locks(&tx(0, SEQUENCE_TYPE_FLAG | 2, 2), &[coin], |h| {
            (h - 1) * 1000
        });
        assert_eq!(lp.min_time, 9000 + 1024 - 1);
    }

    #[test]
    fn sigops_and_adjusted_vsize() {
        let mut t = tx(0, 0, 2);
        t.output[0].script_pubkey = ScriptBuf::from_bytes(vec![0xac, 0xac]);
        let spent = TxOut {
            value: Amount::from_sat(2000),
            script_pubkey: ScriptBuf::new(),
        };
        assert_eq!(sigop_cost(&t, std::slice::from_ref(&spent)), 8);
        assert_eq!(sigop_adjusted_vsize(400, 8), 100);
        assert_eq!(sigop_adjusted_vsize(400, 100), 500);
        assert_eq!(sigop_adjusted_vsize(401, 0), 101);
    }

    #[test]
    fn context_free_rules() {
        let mut t = tx(0, 0, 2);
        t.input.push(t.input[0].clone());
        assert_eq!(
            check_transaction(&t).map_err(|r| r.reason),
            Err("bad-txns-inputs-duplicate".into())
        );
        let mut t = tx(0, 0, 2);
        t.output[0].value = Amount::MAX_MONEY + Amount::from_sat(1);
        assert_eq!(
            check_transaction(&t).map_err(|r| r.reason),
            Err("bad-txns-vout-toolarge".into())
        );
        let coin = Coin {
            output: TxOut {
                value: Amount::from_sat(999),
                script_pubkey: ScriptBuf::new(),
            },
            height: 1,
            is_coinbase: false,
        };
        let err = check_tx_inputs(&tx(0, 0, 2), &[coin], 5)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.message(),
            "bad-txns-in-belowout, value in (0.00000999) < value out (0.00001)"
        );
    }
}
