//! Signing and sending L2 transactions.

use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use cairn_primitives::DEFAULT_BASE_FEE_FLOOR;

use crate::TestNode;

/// The dev chain id.
pub const CHAIN_ID: u64 = 31337;
/// A fee cap well above the floor, so base fee moves never matter in tests.
pub const MAX_FEE: u128 = DEFAULT_BASE_FEE_FLOOR as u128 * 20;
/// The priority fee tests pay.
pub const TIP: u128 = 1_000;

/// Sign an EIP-1559 transaction.
#[allow(clippy::too_many_arguments)]
pub fn sign_1559(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
    max_fee: u128,
    tip: u128,
) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to,
        value,
        input,
        access_list: Default::default(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// A plain transfer, EIP-1559.
pub fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, value: u64) -> Bytes {
    sign_1559(
        signer,
        nonce,
        TxKind::Call(to),
        U256::from(value),
        Bytes::new(),
        21_000,
        MAX_FEE,
        TIP,
    )
}

/// A plain EIP-1559 transfer of `wei` with the given gas limit and fees.
pub fn sign_transfer(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    wei: u64,
    gas: u64,
    fees: (u128, u128),
) -> Bytes {
    sign_1559(
        signer,
        nonce,
        TxKind::Call(to),
        U256::from(wei),
        Bytes::new(),
        gas,
        fees.0,
        fees.1,
    )
}

/// A 1-wei transfer with gas enough for the L1 data fee `cairn dev` charges.
pub fn paid_transfer(signer: &PrivateKeySigner, nonce: u64, to: Address) -> Bytes {
    sign_1559(
        signer,
        nonce,
        TxKind::Call(to),
        U256::from(1),
        Bytes::new(),
        100_000,
        MAX_FEE,
        TIP,
    )
}

/// A legacy EIP-155 transaction with a given chain id.
pub fn sign_legacy(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: u64,
    chain_id: Option<u64>,
    gas_price: u128,
) -> Bytes {
    let mut tx = TxLegacy {
        chain_id,
        nonce,
        gas_price,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::new(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}

/// Wait for a receipt (blocks are 50 ms in tests).
pub async fn receipt(
    provider: &DynProvider,
    hash: alloy::primitives::B256,
) -> alloy::rpc::types::TransactionReceipt {
    for _ in 0..200 {
        if let Some(r) = provider.get_transaction_receipt(hash).await.expect("rpc") {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no receipt for {hash} after 5 s");
}

/// Sign and submit a call from dev account `i` with its next nonce.
pub async fn send_call(
    node: &TestNode,
    i: usize,
    to: Address,
    input: Vec<u8>,
    gas: u64,
) -> alloy::primitives::B256 {
    send_tx(node, i, TxKind::Call(to), input, gas).await
}

/// Sign and submit a transaction from dev account `i` with its next nonce.
pub async fn send_tx(
    node: &TestNode,
    i: usize,
    to: TxKind,
    input: Vec<u8>,
    gas: u64,
) -> alloy::primitives::B256 {
    let provider = node.provider(i);
    let nonce = provider
        .get_transaction_count(node.address(i))
        .await
        .expect("nonce");
    let raw = sign_1559(
        &node.signer(i),
        nonce,
        to,
        U256::ZERO,
        input.into(),
        gas,
        MAX_FEE,
        TIP,
    );
    *provider
        .send_raw_transaction(&raw)
        .await
        .expect("accepted")
        .tx_hash()
}

/// Sends `request` through `provider` (which signs it) and waits for its receipt.
pub async fn send_and_wait(
    provider: &DynProvider,
    request: alloy::rpc::types::TransactionRequest,
) -> alloy::rpc::types::TransactionReceipt {
    provider
        .send_transaction(request)
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("receipt")
}
