//! Property tests of every decoder of outside bytes in this crate (blocks as stored and
//! served, receipts, raw transactions from `eth_sendRawTransaction` and batches, deposit
//! and payout records): arbitrary and mutated bytes give an error or a value that encodes
//! back to a value decoding the same, and never a panic.

use alloy_consensus::{SignableTransaction as _, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, Log, Signature, TxKind, U256};
use cairn_primitives::{
    Block, Deposit, Payout, Receipt, decode_raw_transaction, encode_envelope, header_template,
};
use proptest::prelude::*;

fn raw_transaction() -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce: 3,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1),
        input: Bytes::new(),
        access_list: Default::default(),
    };
    let envelope = TxEnvelope::from(tx.into_signed(Signature::test_signature()));
    encode_envelope(&envelope).to_vec()
}

fn deposit() -> Deposit {
    Deposit {
        l1_block: B256::repeat_byte(1),
        txid: B256::repeat_byte(2),
        vout: 3,
        amount_sat: 50_000,
        recipient: Address::repeat_byte(4),
        reclaim_key: Some(B256::repeat_byte(5)),
        epoch: 1,
    }
}

fn payout() -> Payout {
    Payout {
        l1_block: B256::repeat_byte(6),
        txid: B256::repeat_byte(7),
        inputs: vec![(B256::repeat_byte(8), 0), (B256::repeat_byte(9), 2)],
        change: Some((3, 1_000)),
        epoch: 0,
        withdrawals: vec![4, 5],
    }
}

fn block_bytes() -> Vec<u8> {
    let mut header = header_template();
    header.number = 7;
    let tx = decode_raw_transaction(&raw_transaction()).expect("a valid transaction");
    Block {
        hash: header.hash_slow(),
        header,
        transactions: vec![std::sync::Arc::new(tx)],
        deposits: vec![deposit()],
        payouts: vec![payout()],
    }
    .encode()
}

fn receipts_bytes() -> Vec<u8> {
    Receipt::encode_block(&[Receipt {
        tx_type: 2,
        success: true,
        cumulative_gas_used: 21_000,
        gas_used: 21_000,
        effective_gas_price: 1_000,
        contract_address: Address::ZERO,
        logs: vec![Log::new_unchecked(
            Address::repeat_byte(1),
            vec![B256::repeat_byte(2)],
            Bytes::from_static(b"data"),
        )],
    }])
}

/// A valid encoding with a few bytes flipped or inserted, and half the time cut short.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..4),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..3),
        prop_oneof![Just(usize::MAX), 0..=len],
    )
        .prop_map(move |(flips, at, inserted, cut)| {
            let mut bytes = base.clone();
            for (i, b) in flips {
                bytes[i] ^= b;
            }
            let at = at.min(bytes.len());
            bytes.splice(at..at, inserted);
            bytes.truncate(cut);
            bytes
        })
}

fn check_block(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(block) = Block::decode(bytes) {
        let again = Block::decode(&block.encode()).expect("its own encoding decodes");
        prop_assert_eq!(again, block);
    }
    Ok(())
}

fn check_transaction(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(tx) = decode_raw_transaction(bytes) {
        prop_assert_eq!(&tx.encoded[..], bytes);
        prop_assert_eq!(tx.hash, alloy_primitives::keccak256(bytes));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn blocks(bytes in prop::collection::vec(any::<u8>(), 0..1_500)) {
        check_block(&bytes)?;
    }

    #[test]
    fn mutated_blocks(bytes in mutated(block_bytes())) {
        check_block(&bytes)?;
    }

    #[test]
    fn raw_transactions(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_transaction(&bytes)?;
    }

    #[test]
    fn mutated_raw_transactions(bytes in mutated(raw_transaction())) {
        check_transaction(&bytes)?;
    }

    #[test]
    fn receipts(bytes in mutated(receipts_bytes())) {
        if let Ok(receipts) = Receipt::decode_block(&bytes) {
            let again = Receipt::decode_block(&Receipt::encode_block(&receipts))
                .expect("its own encoding decodes");
            prop_assert_eq!(again, receipts);
        }
    }

    #[test]
    fn deposit_records(bytes in prop::collection::vec(any::<u8>(), 125..135)) {
        if let Some(record) = Deposit::decode(&bytes) {
            let mut out = Vec::new();
            record.encode(&mut out);
            prop_assert_eq!(Deposit::decode(&out), Some(record));
        }
        let _ = Deposit::decode_v1(&bytes);
    }

    #[test]
    fn payout_records(bytes in mutated(Payout::encode_all(&[payout(), payout()]))) {
        if let Some(records) = Payout::decode_all(&bytes) {
            prop_assert_eq!(Payout::decode_all(&Payout::encode_all(&records)), Some(records));
        }
    }
}

#[test]
fn the_valid_encodings_decode() {
    assert!(decode_raw_transaction(&raw_transaction()).is_ok());
    assert_eq!(Block::decode(&block_bytes()).expect("block").number(), 7);
    assert_eq!(
        Receipt::decode_block(&receipts_bytes())
            .expect("receipts")
            .len(),
        1
    );
    assert_eq!(
        Payout::decode_all(&Payout::encode_all(&[payout()])),
        Some(vec![payout()])
    );
}
