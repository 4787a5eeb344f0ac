//! Maturity, double spends, replacement and CPFP.

use bitcoin::{Amount, OutPoint, TxOut};
use cairn_devnet::params::block_subsidy;
use cairn_devnet::{Devnet, RejectKind};

use crate::harness::{
    Key, coinbase, first_output, funded, refused_block, spend, spend_back, spend_coinbase,
    unsigned, unsigned_to,
};

/// Key 1, a devnet with 101 blocks mined to it, and block 1's coinbase, which the next
/// block may spend.
fn mature_coin() -> (Key, tempfile::TempDir, Devnet, (OutPoint, TxOut)) {
    let key = Key::new(1);
    let (dir, devnet) = funded(&key, 101);
    let prev = coinbase(&devnet, 1);
    (key, dir, devnet, prev)
}

#[test]
fn coinbase_matures_after_100_confirmations() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 99);
    assert_eq!(devnet.chain().height(), 99);
    let prev = coinbase(&devnet, 1);
    assert_eq!(prev.1.value, Amount::from_int_btc(50));
    let tx = spend(&key, prev.clone(), &key.spk, Amount::from_sat(1_000));

    let err = devnet.send_transaction(&tx).unwrap_err();
    assert_eq!(err.reason, "bad-txns-premature-spend-of-coinbase");
    assert_eq!(
        err.message(),
        "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99"
    );
    assert_eq!(err.rpc_code(), -26);

    devnet.mine_blocks(1, &key.spk).unwrap();
    let accepted = devnet.send_transaction(&tx).unwrap();
    assert_eq!(accepted.fee, Amount::from_sat(1_000));
    assert_eq!(accepted.txid, tx.compute_txid());
    assert_eq!(devnet.chain().mempool().len(), 1);

    let mined = devnet.mine_blocks(1, &key.spk).unwrap();
    let block = &devnet.chain().block(&mined[0]).unwrap().block;
    assert_eq!(block.txdata.len(), 2);
    assert_eq!(block.txdata[1], tx);
    // The fee goes to the miner on top of the subsidy.
    assert_eq!(
        block.txdata[0].output[0].value,
        block_subsidy(101) + Amount::from_sat(1_000)
    );
    assert!(devnet.chain().mempool().is_empty());
    assert!(devnet.chain().utxo(&prev.0).is_none());
    let coin = devnet.chain().utxo(&first_output(&tx).0).unwrap();
    assert_eq!(coin.output.value, Amount::from_sat(5_000_000_000 - 1_000));
    assert_eq!(coin.height, 101);
}

#[test]
fn subsidy_halves_at_150_on_chain() {
    let key = Key::new(1);
    let (_dir, devnet) = funded(&key, 151);
    assert_eq!(coinbase(&devnet, 149).1.value, Amount::from_int_btc(50));
    assert_eq!(coinbase(&devnet, 150).1.value, Amount::from_int_btc(25));
}

#[test]
fn double_spends_are_refused() {
    let (key, _dir, mut devnet, prev) = mature_coin();
    let other = Key::new(2);
    let first = spend(&key, prev.clone(), &key.spk, Amount::from_sat(1_000));
    let second = spend(&key, prev.clone(), &other.spk, Amount::from_sat(1_000));
    devnet.send_transaction(&first).unwrap();

    // Same fee against a mempool conflict: a replacement that does not pay more.
    let err = devnet.send_transaction(&second).unwrap_err();
    assert_eq!(err.reason, "insufficient fee");
    assert_eq!(err.rpc_code(), -26);

    devnet.mine_blocks(1, &key.spk).unwrap();
    let err = devnet.send_transaction(&second).unwrap_err();
    assert_eq!(err.kind, RejectKind::MissingInputs);
    assert_eq!(err.reason, "bad-txns-inputs-missingorspent");
    assert_eq!(err.rpc_code(), -25);
    assert_eq!(err.test_accept_reason(), "missing-inputs");

    // The confirmed transaction itself: outputs already in the UTXO set.
    let err = devnet.send_transaction(&first).unwrap_err();
    assert_eq!(err.kind, RejectKind::AlreadyInChain);
    assert_eq!(err.rpc_code(), -27);
    assert_eq!(err.rpc_message(), "Transaction outputs already in utxo set");

    // A block double-spending a spent output is refused and the tip stays.
    let (tip, reject) = refused_block(&mut devnet, &key, vec![second]);
    assert_eq!(reject.reason, "bad-txns-inputs-missingorspent");
    assert_eq!(devnet.chain().tip(), tip);
    assert_eq!(devnet.chain().invalid_blocks().len(), 1);
}

#[test]
fn rbf_replacement_needs_more_fee() {
    let (key, _dir, mut devnet, prev) = mature_coin();
    let other = Key::new(2);
    let original = spend(&key, prev.clone(), &key.spk, Amount::from_sat(2_000));
    let cheaper = spend(&key, prev.clone(), &other.spk, Amount::from_sat(500));
    let richer = spend(&key, prev.clone(), &other.spk, Amount::from_sat(5_000));
    devnet.send_transaction(&original).unwrap();
    let vsize = original.weight().to_vbytes_ceil();

    let err = devnet.send_transaction(&cheaper).unwrap_err();
    assert_eq!(err.reason, "insufficient fee");
    let expected = format!(
        "insufficient fee, rejecting replacement {}; new feerate 0.{:08} BTC/kvB <= old feerate 0.{:08} BTC/kvB",
        cheaper.compute_txid(),
        500_000 / vsize,
        2_000_000 / vsize
    );
    assert_eq!(err.rpc_message(), expected);
    assert!(devnet.chain().mempool().contains(&original.compute_txid()));

    let accepted = devnet.send_transaction(&richer).unwrap();
    assert_eq!(accepted.replaced, vec![original.compute_txid()]);
    assert_eq!(
        devnet.chain().mempool().txids(),
        vec![richer.compute_txid()]
    );

    // A higher fee rate but too little extra absolute fee to pay for its own relay.
    let marginal = spend(&key, prev, &key.spk, Amount::from_sat(5_050));
    let err = devnet.test_transaction(&marginal).unwrap_err();
    assert_eq!(err.reason, "insufficient fee");
    assert_eq!(
        err.details.as_deref(),
        Some(format!(
            "rejecting replacement {}, not enough additional fees to relay; 0.0000005 < 0.00000{}",
            marginal.compute_txid(),
            vsize
        ))
        .as_deref()
    );
}

#[test]
fn relay_fee_and_value_rules() {
    let (key, _dir, mut devnet, prev) = mature_coin();
    let free = spend(&key, prev.clone(), &key.spk, Amount::ZERO);
    let err = devnet.send_transaction(&free).unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "min relay fee not met, 0 < {}",
            free.weight().to_vbytes_ceil()
        )
    );

    let mut too_much = unsigned_to(prev.0, Amount::from_int_btc(51), &key.spk);
    key.sign_key_path(&mut too_much, 0, &[prev.1]);
    let err = devnet.send_transaction(&too_much).unwrap_err();
    assert_eq!(
        err.message(),
        "bad-txns-in-belowout, value in (50.00) < value out (51.00)"
    );

    let (_dir2, mut empty) = crate::harness::devnet();
    let err = empty.send_transaction(&free).unwrap_err();
    assert_eq!(err.reason, "bad-txns-inputs-missingorspent");
}

#[test]
fn absolute_locktime_must_have_passed() {
    let (key, _dir, mut devnet, prev) = mature_coin();
    let mut tx = unsigned_to(prev.0, Amount::from_int_btc(49), &key.spk);
    // Final from the block at height 103 on (locktime must be below the block height).
    tx.lock_time = bitcoin::absolute::LockTime::from_height(102).unwrap();
    key.sign_key_path(&mut tx, 0, std::slice::from_ref(&prev.1));
    let err = devnet.send_transaction(&tx).unwrap_err();
    assert_eq!(err.message(), "non-final");
    assert_eq!(err.rpc_code(), -26);
    let (tip, reject) = refused_block(&mut devnet, &key, vec![tx.clone()]);
    assert_eq!(reject.message(), "bad-txns-nonfinal, non-final transaction");
    assert_eq!(devnet.chain().tip(), tip);

    devnet.mine_blocks(1, &key.spk).unwrap();
    assert_eq!(
        devnet.send_transaction(&tx).unwrap().fee,
        Amount::from_int_btc(1)
    );

    // A time lock far in the future, with a final sequence number, is final anyway.
    let prev2 = coinbase(&devnet, 2);
    let mut tx2 = unsigned_to(prev2.0, Amount::from_int_btc(49), &key.spk);
    tx2.lock_time = bitcoin::absolute::LockTime::from_consensus(u32::MAX);
    tx2.input[0].sequence = bitcoin::Sequence::MAX;
    key.sign_key_path(&mut tx2, 0, &[prev2.1]);
    devnet.send_transaction(&tx2).unwrap();
}

#[test]
fn oversized_transaction_is_refused() {
    let (key, _dir, mut devnet, prev) = mature_coin();
    let outputs = (0..12_000)
        .map(|_| TxOut {
            value: Amount::from_sat(10_000),
            script_pubkey: key.spk.clone(),
        })
        .collect();
    let mut tx = unsigned(&[prev.0], outputs);
    key.sign_key_path(&mut tx, 0, &[prev.1]);
    assert!(tx.weight().to_wu() > 400_000);
    assert_eq!(devnet.send_transaction(&tx).unwrap_err().reason, "tx-size");
}

#[test]
fn block_template_uses_ancestor_feerate() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 102);
    let parent = spend_coinbase(&key, &devnet, 1, &key.spk, Amount::from_sat(120));
    let middle = spend_coinbase(&key, &devnet, 2, &key.spk, Amount::from_sat(1_100));
    devnet.send_transaction(&parent).unwrap();
    devnet.send_transaction(&middle).unwrap();
    let child = spend_back(&key, first_output(&parent), Amount::from_sat(5_000));
    devnet.send_transaction(&child).unwrap();

    let mempool = devnet.chain().mempool();
    assert_eq!(
        mempool.select(4_000_000),
        vec![
            parent.compute_txid(),
            child.compute_txid(),
            middle.compute_txid()
        ]
    );
    // Only room for one package: the parent+child package wins over the richer single tx.
    let one_package = parent.weight().to_wu() + child.weight().to_wu();
    assert_eq!(
        mempool.select(one_package),
        vec![parent.compute_txid(), child.compute_txid()]
    );

    let hash = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    let block = &devnet.chain().block(&hash).unwrap().block;
    let txids: Vec<_> = block
        .txdata
        .iter()
        .skip(1)
        .map(|t| t.compute_txid())
        .collect();
    assert_eq!(
        txids,
        vec![
            parent.compute_txid(),
            child.compute_txid(),
            middle.compute_txid()
        ]
    );
    assert_eq!(
        block.txdata[0].output[0].value,
        block_subsidy(103) + Amount::from_sat(6_220)
    );
    // Witness transactions make the coinbase commit to them.
    assert!(block.check_witness_commitment());
    assert_eq!(block.txdata[0].output.len(), 2);
}

#[test]
fn unconfirmed_chains_are_limited_to_25() {
    let (key, _dir, mut devnet, mut prev) = mature_coin();
    for _ in 0..25 {
        let tx = spend(&key, prev, &key.spk, Amount::from_sat(200));
        devnet.send_transaction(&tx).unwrap();
        prev = first_output(&tx);
    }
    let tx = spend(&key, prev, &key.spk, Amount::from_sat(200));
    let err = devnet.send_transaction(&tx).unwrap_err();
    assert_eq!(
        err.message(),
        "too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]"
    );
    assert_eq!(devnet.chain().mempool().len(), 25);
    // Mining the chain makes room; the whole chain goes into one block, parents first.
    let hash = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    assert_eq!(devnet.chain().block(&hash).unwrap().block.txdata.len(), 26);
    devnet.send_transaction(&tx).unwrap();
}

#[test]
fn replacement_pays_for_the_descendants_it_evicts() {
    let (key, _dir, mut devnet, prev) = mature_coin();
    let other = Key::new(2);
    let parent = spend(&key, prev.clone(), &key.spk, Amount::from_sat(1_000));
    let child = spend_back(&key, first_output(&parent), Amount::from_sat(20_000));
    devnet.send_transaction(&parent).unwrap();
    devnet.send_transaction(&child).unwrap();

    // A higher fee rate than the parent, but less than parent + child together.
    let cheap = spend(&key, prev.clone(), &other.spk, Amount::from_sat(5_000));
    let err = devnet.send_transaction(&cheap).unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "insufficient fee, rejecting replacement {}, less fees than conflicting txs; 0.00005 < 0.00021",
            cheap.compute_txid()
        )
    );

    let rich = spend(&key, prev, &other.spk, Amount::from_sat(30_000));
    let accepted = devnet.send_transaction(&rich).unwrap();
    let mut evicted = vec![parent.compute_txid(), child.compute_txid()];
    evicted.sort();
    assert_eq!(accepted.replaced, evicted);
    assert_eq!(devnet.chain().mempool().txids(), vec![rich.compute_txid()]);
}
