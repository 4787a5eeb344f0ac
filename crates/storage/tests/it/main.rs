//! Storage through its public API: genesis, commits, reopen, history, and
//! refusing a database whose state does not match its head.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use cairn_primitives::{Block, ChainSpec, GenesisAccount, header_template};
use cairn_storage::{Account, StateChanges, Storage, StorageError, StorageOptions};

fn spec() -> ChainSpec {
    let mut alloc = BTreeMap::new();
    alloc.insert(
        Address::repeat_byte(1),
        GenesisAccount {
            balance: U256::from(1_000),
            code: None,
        },
    );
    ChainSpec::dev(9, alloc)
}

/// Commit a block on top of the head that applies `changes`.
fn commit(storage: &Storage, changes: StateChanges) -> B256 {
    commit_with_deposits(storage, changes, vec![])
}

/// Commit a block on top of the head that applies `changes` and records `deposits`.
fn commit_with_deposits(
    storage: &Storage,
    changes: StateChanges,
    deposits: Vec<cairn_primitives::Deposit>,
) -> B256 {
    let head = storage.head();
    let mut header = header_template();
    header.parent_hash = head.block.hash;
    header.number = head.block.number() + 1;
    header.state_root = storage.state_root_after(&changes);
    let block = Block {
        hash: header.hash_slow(),
        header,
        transactions: vec![],
        deposits,
        payouts: vec![],
    };
    let root = block.header.state_root;
    storage.commit(block, vec![], changes).expect("commit");
    root
}

/// `result` is the refusal to read or unwind through history that was not kept.
fn assert_history_unavailable<T>(result: Result<T, StorageError>) {
    assert!(matches!(
        result,
        Err(StorageError::HistoryUnavailable { .. })
    ));
}

#[test]
fn commits_persist_and_history_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Address::repeat_byte(1);
    let c = Address::repeat_byte(2);
    let code = Bytes::from_static(&[0x60, 0x00]);
    let root = {
        let storage = Storage::open(dir.path(), &spec(), StorageOptions::default()).expect("open");
        assert_eq!(storage.head_number(), 0);
        commit(
            &storage,
            StateChanges {
                accounts: vec![
                    (
                        a,
                        Some(Account {
                            nonce: 1,
                            balance: U256::from(900),
                            ..Default::default()
                        }),
                    ),
                    (
                        c,
                        Some(Account {
                            nonce: 1,
                            balance: U256::ZERO,
                            code_hash: keccak256(&code),
                        }),
                    ),
                ],
                storage: vec![(c, U256::from(7), U256::from(42))],
                codes: vec![(keccak256(&code), code.clone())],
            },
        );
        let root = commit(
            &storage,
            StateChanges {
                accounts: vec![(
                    c,
                    Some(Account {
                        nonce: 1,
                        balance: U256::ZERO,
                        code_hash: keccak256(&code),
                    }),
                )],
                storage: vec![(c, U256::from(7), U256::ZERO)],
                codes: vec![],
            },
        );
        // History: block 1 still sees the slot, block 2 does not.
        assert_eq!(
            storage
                .state_at(1)
                .expect("kept")
                .storage(&c, &U256::from(7)),
            U256::from(42)
        );
        assert_eq!(
            storage.latest_state().storage(&c, &U256::from(7)),
            U256::ZERO
        );
        assert_eq!(
            storage
                .state_at(0)
                .expect("kept")
                .account(&a)
                .map(|x| x.balance),
            Some(U256::from(1_000))
        );
        root
    };
    let storage = Storage::open(dir.path(), &spec(), StorageOptions::default())
        .expect("reopen verifies the root");
    assert_eq!(storage.head_number(), 2);
    assert_eq!(storage.head().block.header.state_root, root);
    assert_eq!(storage.latest_state().account(&a).map(|x| x.nonce), Some(1));
    assert_eq!(storage.latest_state().code(&keccak256(&code)), Some(code));
    assert!(storage.block_by_number(1).expect("read").is_some());
    assert!(storage.block_by_number(3).expect("read").is_none());
    let hash = storage.head().block.hash;
    assert_eq!(storage.block_number_by_hash(&hash).expect("read"), Some(2));
    // The change sets were on disk with their blocks: history reads survive the reopen.
    assert_eq!(
        storage
            .state_at(0)
            .expect("kept across the reopen")
            .account(&a)
            .map(|x| x.balance),
        Some(U256::from(1_000))
    );
    drop(storage);
    // A shorter window keeps only that many blocks' history.
    let options = StorageOptions {
        history_blocks: 1,
        ..StorageOptions::default()
    };
    let storage = Storage::open(dir.path(), &spec(), options).expect("reopen");
    assert!(storage.state_at(1).is_ok());
    assert_history_unavailable(storage.state_at(0));
}

#[test]
fn a_head_whose_root_does_not_match_the_state_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let storage = Storage::open(dir.path(), &spec(), StorageOptions::default()).expect("open");
        let head = storage.head();
        let mut header = header_template();
        header.parent_hash = head.block.hash;
        header.number = 1;
        header.state_root = B256::repeat_byte(0xab); // lies about the state
        let block = Block {
            hash: header.hash_slow(),
            header,
            transactions: vec![],
            deposits: vec![],
            payouts: Vec::new(),
        };
        storage
            .commit(block, vec![], StateChanges::default())
            .expect("commit");
    }
    match Storage::open(dir.path(), &spec(), StorageOptions::default()) {
        Err(StorageError::RootMismatch { block: 1, .. }) => {}
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a corrupt state was accepted"),
    }
}

#[test]
fn unwinding_restores_an_earlier_head_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, c, d) = (
        Address::repeat_byte(1),
        Address::repeat_byte(2),
        Address::repeat_byte(3),
    );
    let acct = |nonce: u64, balance: u64| Account {
        nonce,
        balance: U256::from(balance),
        ..Default::default()
    };
    let slot = |n: u64| U256::from(n);
    let storage = Storage::open(dir.path(), &spec(), StorageOptions::default()).expect("open");
    // Block 1: c gets two slots. Block 2: c's slot 1 changes, d appears.
    commit(
        &storage,
        StateChanges {
            accounts: vec![(c, Some(acct(1, 5)))],
            storage: vec![(c, slot(1), slot(10)), (c, slot(2), slot(20))],
            codes: vec![],
        },
    );
    let root_1 = storage.head().block.header.state_root;
    let hash_1 = storage.head().block.hash;
    commit(
        &storage,
        StateChanges {
            accounts: vec![(c, Some(acct(2, 5))), (d, Some(acct(0, 7)))],
            storage: vec![(c, slot(1), slot(11))],
            codes: vec![],
        },
    );
    let hash_2 = storage.head().block.hash;
    // Block 3: c is deleted with its storage, then block 4 recreates it with one new slot;
    // a's balance moves.
    commit(
        &storage,
        StateChanges {
            accounts: vec![(c, None), (a, Some(acct(1, 1)))],
            storage: vec![],
            codes: vec![],
        },
    );
    commit(
        &storage,
        StateChanges {
            accounts: vec![(c, Some(acct(0, 1)))],
            storage: vec![(c, slot(3), slot(30))],
            codes: vec![],
        },
    );
    assert_eq!(storage.head_number(), 4);

    storage.unwind_to(1).expect("unwind");
    assert_eq!(storage.head_number(), 1);
    assert_eq!(storage.head().block.hash, hash_1);
    let state = storage.latest_state();
    assert_eq!(state.account(&c), Some(acct(1, 5)));
    assert_eq!(state.account(&d), None);
    assert_eq!(
        state.account(&a).map(|x| x.balance),
        Some(U256::from(1_000))
    );
    assert_eq!(
        (
            state.storage(&c, &slot(1)),
            state.storage(&c, &slot(2)),
            state.storage(&c, &slot(3))
        ),
        (slot(10), slot(20), U256::ZERO)
    );
    drop(state);
    assert!(storage.block_by_number(2).expect("read").is_none());
    assert_eq!(storage.block_number_by_hash(&hash_2).expect("read"), None);
    // The chain continues from block 1, and a reopen verifies the rolled-back root.
    commit(
        &storage,
        StateChanges {
            accounts: vec![(d, Some(acct(0, 9)))],
            storage: vec![],
            codes: vec![],
        },
    );
    assert_eq!(storage.head_number(), 2);
    drop(storage);
    let storage = Storage::open(dir.path(), &spec(), StorageOptions::default())
        .expect("reopen verifies the root");
    assert_eq!(storage.head_number(), 2);
    assert_eq!(
        storage
            .block_by_number(1)
            .expect("read")
            .expect("kept")
            .block
            .header
            .state_root,
        root_1
    );
    assert_eq!(storage.latest_state().storage(&c, &slot(2)), slot(20));
    // The change sets survive the reopen: the unwind to genesis still works, and checks
    // the state root it arrives at.
    let genesis = storage.block_by_number(0).expect("read").expect("genesis");
    storage.unwind_to(0).expect("unwind after a reopen");
    assert_eq!(storage.head().block.hash, genesis.block.hash);
    assert_eq!(storage.latest_state().account(&d), None);
    assert_eq!(storage.latest_state().storage(&c, &slot(2)), U256::ZERO);
    drop(storage);
    let storage = Storage::open(dir.path(), &spec(), StorageOptions::default()).expect("reopen");
    assert_eq!(storage.head_number(), 0, "the unwind was durable");
}

#[test]
fn credited_deposits_are_indexed_kept_across_reopen_and_unwound() {
    let dir = tempfile::tempdir().expect("dir");
    let deposit = |txid: u8, vout: u32, amount_sat: u64| cairn_primitives::Deposit {
        l1_block: B256::repeat_byte(7),
        txid: B256::repeat_byte(txid),
        vout,
        amount_sat,
        recipient: Address::repeat_byte(9),
        reclaim_key: None,
        epoch: 0,
    };
    {
        let storage = Storage::open(dir.path(), &spec(), StorageOptions::default()).expect("open");
        commit_with_deposits(
            &storage,
            StateChanges::default(),
            vec![deposit(1, 0, 5_000)],
        );
        commit_with_deposits(
            &storage,
            StateChanges::default(),
            vec![deposit(2, 0, 7_000), deposit(2, 3, 1_000)],
        );
        assert_eq!(
            storage
                .deposit_location(&B256::repeat_byte(2), 3)
                .expect("read"),
            Some((2, 1))
        );
        assert_eq!(storage.credited_deposits().expect("sum"), (3, 13_000));
        let stored = storage.block_by_number(2).expect("read").expect("block");
        assert_eq!(
            stored.block.deposits.len(),
            2,
            "the block keeps its deposits"
        );
    }
    let storage = Storage::open(dir.path(), &spec(), StorageOptions::default()).expect("reopen");
    assert_eq!(
        storage
            .deposit_location(&B256::repeat_byte(1), 0)
            .expect("read"),
        Some((1, 0))
    );
    assert_eq!(
        storage
            .deposit_location(&B256::repeat_byte(1), 1)
            .expect("read"),
        None,
        "another output of the same transaction"
    );
    assert_eq!(
        storage
            .block_by_number(2)
            .expect("read")
            .expect("block")
            .block
            .deposits[1],
        deposit(2, 3, 1_000)
    );
    // History is in memory: unwind a block committed since the reopen.
    commit_with_deposits(
        &storage,
        StateChanges::default(),
        vec![deposit(4, 0, 2_000)],
    );
    assert_eq!(storage.credited_deposits().expect("sum"), (4, 15_000));
    storage.unwind_to(2).expect("unwind");
    assert_eq!(
        storage
            .deposit_location(&B256::repeat_byte(4), 0)
            .expect("read"),
        None
    );
    assert_eq!(storage.credited_deposits().expect("sum"), (3, 13_000));
}
