//! Taproot spends through libbitcoinconsensus: key path, script path with CSV, forged
//! signatures and lied-about prevout amounts.

use bitcoin::{Amount, Sequence, TxOut, Witness};
use cairn_devnet::RejectKind;

use crate::harness::{
    CsvLock, Key, coinbase, first_output, funded, refused_block, spend_coinbase, unsigned,
    unsigned_to,
};

const DELAY: u16 = 10;

#[test]
fn key_path_spend_is_accepted_and_mined() {
    let key = Key::new(1);
    let other = Key::new(2);
    let (_dir, mut devnet) = funded(&key, 101);
    let tx = spend_coinbase(&key, &devnet, 1, &other.spk, Amount::from_sat(1_000));
    devnet.send_transaction(&tx).unwrap();
    let hash = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    assert_eq!(devnet.chain().tx_block(&tx.compute_txid()), Some(hash));
    let coin = devnet.chain().utxo(&first_output(&tx).0).unwrap();
    assert_eq!(coin.output.script_pubkey, other.spk);
}

#[test]
fn forged_taproot_signature_is_refused() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 101);
    let mut tx = spend_coinbase(&key, &devnet, 1, &key.spk, Amount::from_sat(1_000));
    let mut sig = tx.input[0].witness.to_vec().remove(0);
    sig[10] ^= 0x01;
    tx.input[0].witness = Witness::from_slice(&[sig]);
    let err = devnet.send_transaction(&tx).unwrap_err();
    assert_eq!(err.kind, RejectKind::Invalid);
    assert_eq!(
        err.reason,
        "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"
    );
    assert_eq!(err.rpc_code(), -26);

    // The all-zero signature that libbitcoinconsensus 0.105 let through.
    tx.input[0].witness = Witness::from_slice(&[[0u8; 64]]);
    let err = devnet.send_transaction(&tx).unwrap_err();
    assert_eq!(
        err.reason,
        "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"
    );

    // Another key's valid signature does not do either.
    let thief = Key::new(9);
    let mut stolen = unsigned(&[coinbase(&devnet, 1).0], tx.output.clone());
    thief.sign_key_path(&mut stolen, 0, &[coinbase(&devnet, 1).1]);
    assert!(
        devnet
            .send_transaction(&stolen)
            .unwrap_err()
            .reason
            .starts_with("mandatory-script-verify-flag-failed")
    );

    // And a block carrying the forged spend is refused; the tip stays.
    let (tip, reject) = refused_block(&mut devnet, &key, vec![tx]);
    assert_eq!(
        reject.reason,
        "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"
    );
    assert_eq!(devnet.chain().tip(), tip);
    assert!(devnet.chain().mempool().is_empty());
}

#[test]
fn wrong_prevout_amount_in_sighash_is_refused() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 101);
    let (op, out) = coinbase(&devnet, 1);
    let mut tx = unsigned_to(op, Amount::from_int_btc(49), &key.spk);
    let lie = TxOut {
        value: out.value + Amount::from_sat(1),
        script_pubkey: out.script_pubkey.clone(),
    };
    key.sign_key_path(&mut tx, 0, &[lie]);
    let err = devnet.send_transaction(&tx).unwrap_err();
    assert!(
        err.reason
            .starts_with("mandatory-script-verify-flag-failed"),
        "{err}"
    );

    // Signed over the true amount, the same transaction is fine.
    key.sign_key_path(&mut tx, 0, &[out]);
    assert_eq!(
        devnet.send_transaction(&tx).unwrap().fee,
        Amount::from_int_btc(1)
    );
}

#[test]
fn csv_script_path_spend_waits_for_its_delay() {
    let key = Key::new(1);
    let internal = Key::new(3);
    let (_dir, mut devnet) = funded(&key, 101);

    // A taproot output whose only script is `<10> CSV DROP <key> CHECKSIG`.
    let lock = CsvLock::new(&key, internal.xonly, DELAY);
    let fund = spend_coinbase(&key, &devnet, 1, &lock.spk, Amount::from_sat(1_000));
    devnet.send_transaction(&fund).unwrap();
    devnet.mine_blocks(1, &key.spk).unwrap();
    let funded_at = devnet.chain().height();
    let locked = first_output(&fund);

    let script_spend =
        |sequence: Sequence| lock.spend(&key, &locked, sequence, Amount::from_sat(1_000));
    let tx = script_spend(Sequence::from_height(DELAY));

    let err = devnet.send_transaction(&tx).unwrap_err();
    assert_eq!(err.message(), "non-BIP68-final");
    devnet.mine_blocks(u32::from(DELAY) - 2, &key.spk).unwrap();
    assert_eq!(devnet.chain().height(), funded_at + u32::from(DELAY) - 2);
    assert_eq!(
        devnet.send_transaction(&tx).unwrap_err().reason,
        "non-BIP68-final"
    );
    // A block including it one block early is refused too.
    let (_, reject) = refused_block(&mut devnet, &key, vec![tx.clone()]);
    assert_eq!(
        reject.message(),
        "bad-txns-nonfinal, contains a non-BIP68-final transaction"
    );

    devnet.mine_blocks(1, &key.spk).unwrap();
    // A shorter sequence than the script demands passes BIP68 but fails OP_CSV.
    let short = script_spend(Sequence::from_height(DELAY - 1));
    assert!(
        devnet
            .send_transaction(&short)
            .unwrap_err()
            .reason
            .starts_with("mandatory-script-verify-flag-failed")
    );
    let accepted = devnet.send_transaction(&tx).unwrap();
    assert_eq!(accepted.fee, Amount::from_sat(1_000));
    let hash = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    assert_eq!(devnet.chain().tx_block(&tx.compute_txid()), Some(hash));
    assert_eq!(
        devnet.chain().block(&hash).unwrap().height,
        funded_at + u32::from(DELAY)
    );
}

#[test]
fn time_based_relative_lock_follows_median_time_past() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 101);
    let start = devnet.chain().median_time_past(&devnet.chain().tip()) + 1;
    devnet.set_mock_time(Some(start));
    let fund = spend_coinbase(&key, &devnet, 1, &key.spk, Amount::from_sat(1_000));
    devnet.send_transaction(&fund).unwrap();
    devnet.mine_blocks(1, &key.spk).unwrap();
    let prev = first_output(&fund);

    // Two 512-second units after the funding block's parent's median time past.
    let mut tx = unsigned_to(prev.0, prev.1.value - Amount::from_sat(1_000), &key.spk);
    tx.input[0].sequence = Sequence::from_512_second_intervals(2);
    key.sign_key_path(&mut tx, 0, std::slice::from_ref(&prev.1));
    assert_eq!(
        devnet.send_transaction(&tx).unwrap_err().reason,
        "non-BIP68-final"
    );

    // Blocks 20 minutes apart: the median time past (of 11 blocks) moves slowly.
    // BIP68 measures from the median time past of the block before the funding block.
    let coin_time = devnet
        .chain()
        .median_time_past(&devnet.chain().block_hash_at(101).unwrap());
    let mut before = devnet.chain().median_time_past(&devnet.chain().tip());
    let mut accepted = false;
    for i in 1..=12u32 {
        devnet.set_mock_time(Some(start + i * 1_200));
        devnet.mine_blocks(1, &key.spk).unwrap();
        let mtp = devnet.chain().median_time_past(&devnet.chain().tip());
        accepted = devnet.test_transaction(&tx).is_ok();
        // Final exactly when the tip's median time past reaches coin_time + 2 * 512.
        assert_eq!(accepted, mtp >= coin_time + 1024, "block {i}: mtp {mtp}");
        if accepted {
            assert!(before < coin_time + 1024);
            break;
        }
        before = mtp;
    }
    assert!(accepted, "the lock expires within 12 blocks");
    devnet.send_transaction(&tx).unwrap();
}
