//! bitcoind's standardness policy (`IsStandardTx`, `AreInputsStandard`, the witness
//! checks) for what enters the mempool: things consensus allows but default Core nodes do
//! not relay. Blocks are not held to these rules.

use bitcoin::{Script, Transaction, TxOut};

use crate::error::Reject;

/// Largest standard scriptSig.
const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1650;
/// Smallest standard non-witness transaction size.
const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Largest standard OP_RETURN output script (bitcoind 29's `-datacarriersize` default + 3).
const MAX_OP_RETURN_RELAY: usize = 83;

/// bitcoind's `IsStandardTx` (less the weight limit, checked by the caller).
pub fn check_standard(tx: &Transaction) -> Result<(), Reject> {
    if tx.base_size() < MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(Reject::invalid("tx-size-small"));
    }
    for input in &tx.input {
        if input.script_sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err(Reject::invalid("scriptsig-size"));
        }
        if !input.script_sig.is_push_only() {
            return Err(Reject::invalid("scriptsig-not-pushonly"));
        }
    }
    let mut data_outputs = 0;
    for out in &tx.output {
        let spk = &out.script_pubkey;
        if spk.is_op_return() {
            if spk.len() > MAX_OP_RETURN_RELAY || !is_push_only_after_op_return(spk) {
                return Err(Reject::invalid("scriptpubkey"));
            }
            data_outputs += 1;
            continue;
        }
        if !is_standard_output_script(spk) {
            return Err(Reject::invalid("scriptpubkey"));
        }
        if is_dust(out) {
            return Err(Reject::invalid("dust"));
        }
    }
    if data_outputs > 1 {
        return Err(Reject::invalid("multi-op-return"));
    }
    Ok(())
}

/// bitcoind's `IsWitnessStandard` for taproot inputs: no annex.
pub fn check_standard_witness(tx: &Transaction, spent: &[TxOut]) -> Result<(), Reject> {
    for (input, prev) in tx.input.iter().zip(spent) {
        if prev.script_pubkey.is_p2tr() {
            let items = input.witness.len();
            let last = input.witness.last();
            if items >= 2 && last.is_some_and(|a| a.first() == Some(&0x50)) {
                return Err(Reject::invalid("bad-witness-nonstandard"));
            }
        }
    }
    Ok(())
}

/// Whether an output is below the dust threshold at 3 sat/vB.
pub fn is_dust(out: &TxOut) -> bool {
    out.value < out.script_pubkey.minimal_non_dust()
}

fn is_standard_output_script(spk: &Script) -> bool {
    spk.is_p2pk()
        || spk.is_p2pkh()
        || spk.is_p2sh()
        || spk.is_p2wpkh()
        || spk.is_p2wsh()
        || spk.is_multisig()
        // Taproot and future witness versions (v1 and up) are standard outputs.
        || spk.witness_version().is_some_and(|v| v.to_num() >= 1)
}

fn is_push_only_after_op_return(spk: &Script) -> bool {
    bitcoin::Script::from_bytes(&spk.as_bytes()[1..]).is_push_only()
}

#[cfg(test)]
mod tests {
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash as _;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, Witness};

    use super::*;

    fn tx(outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: bitcoin::Txid::from_byte_array([7; 32]),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: outputs,
        }
    }

    fn p2tr(value: u64) -> TxOut {
        let mut spk = vec![0x51, 0x20];
        spk.extend_from_slice(&[3; 32]);
        TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(spk),
        }
    }

    fn reason(tx: &Transaction) -> Option<String> {
        check_standard(tx).err().map(|r| r.reason)
    }

    #[test]
    fn standard_outputs() {
        assert_eq!(reason(&tx(vec![p2tr(330)])), None);
        assert_eq!(reason(&tx(vec![p2tr(329)])), Some("dust".into()));
        let bare = TxOut {
            value: Amount::from_sat(10_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        };
        assert_eq!(
            reason(&tx(vec![p2tr(1000), bare])),
            Some("scriptpubkey".into())
        );
        let data = |n: usize| TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::new_op_return(
                bitcoin::script::PushBytesBuf::try_from(vec![1u8; n]).unwrap(),
            ),
        };
        assert_eq!(reason(&tx(vec![p2tr(1000), data(80)])), None);
        assert_eq!(
            reason(&tx(vec![p2tr(1000), data(81)])),
            Some("scriptpubkey".into())
        );
        assert_eq!(
            reason(&tx(vec![p2tr(1000), data(10), data(10)])),
            Some("multi-op-return".into())
        );
        let small = tx(vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: ScriptBuf::new_op_return([]),
        }]);
        assert_eq!(reason(&small), Some("tx-size-small".into()));
    }
}
