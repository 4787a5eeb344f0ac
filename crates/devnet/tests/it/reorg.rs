//! invalidateblock / reconsiderblock, competing branches and restart persistence.

use bitcoin::{Amount, OutPoint, Transaction};
use cairn_devnet::Devnet;

use crate::harness::{Key, coinbase, first_output, funded, spend, spend_coinbase};

/// Sends a spend of block 1's coinbase back to `key` into the mempool.
fn send_first_coinbase_back(key: &Key, devnet: &mut Devnet) -> Transaction {
    let tx = spend_coinbase(key, devnet, 1, &key.spk, Amount::from_sat(1_000));
    devnet.send_transaction(&tx).expect("accepted");
    tx
}

#[test]
fn invalidate_and_reconsider_restore_the_utxo_set() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 101);
    let before = devnet.chain().utxos().clone();
    let tx = send_first_coinbase_back(&key, &mut devnet);
    let block = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    let after = devnet.chain().utxos().clone();
    assert_eq!(after.len(), before.len() + 1); // -1 spent, +1 change, +1 coinbase
    assert!(devnet.chain().mempool().is_empty());

    devnet.invalidate_block(&block).unwrap();
    assert_eq!(devnet.chain().height(), 101);
    assert_eq!(*devnet.chain().utxos(), before);
    assert!(!devnet.chain().is_active(&block));
    assert_eq!(devnet.chain().mempool().txids(), vec![tx.compute_txid()]);
    assert_eq!(devnet.chain().tx_block(&tx.compute_txid()), None);

    devnet.reconsider_block(&block).unwrap();
    assert_eq!(devnet.chain().tip(), block);
    assert_eq!(*devnet.chain().utxos(), after);
    assert!(devnet.chain().mempool().is_empty());

    // Invalidating deeper disconnects everything above and drops now-immature spends.
    let deep = devnet.chain().block_hash_at(100).unwrap();
    devnet.invalidate_block(&deep).unwrap();
    assert_eq!(devnet.chain().height(), 99);
    assert!(
        devnet.chain().mempool().is_empty(),
        "coinbase spend is premature at height 100"
    );
    devnet.reconsider_block(&deep).unwrap();
    assert_eq!(devnet.chain().tip(), block);
    assert_eq!(*devnet.chain().utxos(), after);
}

#[test]
fn longer_competing_branch_reorgs() {
    let key = Key::new(1);
    let rival = Key::new(4);
    let (_dir, mut devnet) = funded(&key, 102);
    let tx = send_first_coinbase_back(&key, &mut devnet);
    let old_tip = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    let fork = devnet.chain().block_hash_at(102).unwrap();

    // Equal work: the first-seen tip stays.
    let b1 = devnet.mine_block_on(fork, &rival.spk, vec![]).unwrap();
    assert_eq!(devnet.chain().tip(), old_tip);
    assert!(devnet.chain().block(&b1).is_some());

    // More work: reorg; the disconnected transaction goes back to the mempool.
    let b2 = devnet.mine_block_on(b1, &rival.spk, vec![]).unwrap();
    assert_eq!(devnet.chain().tip(), b2);
    assert_eq!(devnet.chain().height(), 104);
    assert!(!devnet.chain().is_active(&old_tip));
    assert_eq!(devnet.chain().mempool().txids(), vec![tx.compute_txid()]);
    let old_cb = devnet.chain().block(&old_tip).unwrap().block.txdata[0].compute_txid();
    assert!(devnet.chain().utxo(&OutPoint::new(old_cb, 0)).is_none());
    let new_cb = coinbase(&devnet, 104);
    assert_eq!(
        devnet.chain().utxo(&new_cb.0).unwrap().output.script_pubkey,
        rival.spk
    );
    assert!(devnet.chain().utxo(&coinbase(&devnet, 1).0).is_some());

    // The old branch can overtake again.
    let c1 = devnet.mine_block_on(old_tip, &key.spk, vec![]).unwrap();
    let c2 = devnet.mine_block_on(c1, &key.spk, vec![]).unwrap();
    assert_eq!(devnet.chain().tip(), c2);
    assert_eq!(devnet.chain().tx_block(&tx.compute_txid()), Some(old_tip));
    assert!(devnet.chain().mempool().is_empty());
}

#[test]
fn restart_resumes_the_same_chain() {
    let key = Key::new(1);
    let (dir, mut devnet) = funded(&key, 103);
    let tx = send_first_coinbase_back(&key, &mut devnet);
    let top = devnet.mine_blocks(2, &key.spk).unwrap()[1];
    let fork = devnet.chain().block_hash_at(104).unwrap();
    let side = devnet.mine_block_on(fork, &key.spk, vec![]).unwrap();
    let invalidated = devnet.chain().block_hash_at(103).unwrap();
    devnet.invalidate_block(&invalidated).unwrap();
    let tip = devnet.chain().tip();
    let utxos = devnet.chain().utxos().clone();
    assert_eq!(devnet.chain().height(), 102);
    drop(devnet);

    let mut reopened = Devnet::open(dir.path()).unwrap();
    assert_eq!(reopened.chain().tip(), tip);
    assert_eq!(*reopened.chain().utxos(), utxos);
    assert!(reopened.chain().invalid_blocks().contains(&invalidated));
    assert!(reopened.chain().block(&side).is_some());

    reopened.reconsider_block(&invalidated).unwrap();
    assert_eq!(reopened.chain().tip(), top);
    assert_eq!(reopened.chain().height(), 105);
    let tip_utxos = reopened.chain().utxos().clone();
    drop(reopened);

    let again = Devnet::open(dir.path()).unwrap();
    assert_eq!(again.chain().tip(), top);
    assert!(again.chain().invalid_blocks().is_empty());
    assert_eq!(*again.chain().utxos(), tip_utxos);
    assert!(again.chain().utxo(&first_output(&tx).0).is_some());
}

#[test]
fn blocks_from_the_far_future_are_refused() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 1);
    let tip = devnet.chain().tip();
    let block = devnet
        .chain()
        .create_block(tip, &key.spk, Some(vec![]), u32::MAX - 10)
        .unwrap();
    let err = devnet.submit_block(block).unwrap_err();
    assert_eq!(
        err.to_string(),
        "time-too-new, block timestamp too far in the future"
    );
    assert_eq!(devnet.chain().tip(), tip);
    assert_eq!(devnet.chain().blocks().count(), 2);
}

#[test]
fn disconnecting_a_block_with_an_in_block_chain_restores_the_utxo_set() {
    let key = Key::new(1);
    let (_dir, mut devnet) = funded(&key, 101);
    let before = devnet.chain().utxos().clone();
    let parent = spend_coinbase(&key, &devnet, 1, &key.spk, Amount::from_sat(1_000));
    let parent_out = first_output(&parent);
    let child = spend(&key, parent_out.clone(), &key.spk, Amount::from_sat(1_000));
    devnet.send_transaction(&parent).unwrap();
    devnet.send_transaction(&child).unwrap();
    let block = devnet.mine_blocks(1, &key.spk).unwrap()[0];
    let after = devnet.chain().utxos().clone();
    assert!(!after.contains_key(&parent_out.0));
    assert!(after.contains_key(&first_output(&child).0));

    devnet.invalidate_block(&block).unwrap();
    assert_eq!(*devnet.chain().utxos(), before);
    assert_eq!(
        devnet.chain().mempool().txids(),
        vec![parent.compute_txid(), child.compute_txid()]
    );
    devnet.reconsider_block(&block).unwrap();
    assert_eq!(*devnet.chain().utxos(), after);

    // A block whose second transaction fails leaves the UTXO set untouched.
    devnet.invalidate_block(&block).unwrap();
    let mut bad_child = child.clone();
    bad_child.input[0].witness = bitcoin::Witness::from_slice(&[[0u8; 64]]);
    let tip = devnet.chain().tip();
    assert!(
        devnet
            .mine_block_on(tip, &key.spk, vec![parent.clone(), bad_child])
            .is_err()
    );
    assert_eq!(*devnet.chain().utxos(), before);
    assert_eq!(devnet.chain().tip(), tip);
}
