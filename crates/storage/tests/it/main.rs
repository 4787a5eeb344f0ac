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
    let head = storage.head();
    let mut header = header_template();
    header.parent_hash = head.block.hash;
    header.number = head.block.number() + 1;
    header.state_root = storage.state_root_after(&changes);
    let block = Block {
        hash: header.hash_slow(),
        header,
        transactions: vec![],
    };
    let root = block.header.state_root;
    storage.commit(block, vec![], changes).expect("commit");
    root
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
    assert!(matches!(
        storage.state_at(0),
        Err(StorageError::HistoryUnavailable { .. })
    ));
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
