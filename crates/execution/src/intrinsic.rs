//! Intrinsic gas (what a transaction costs before running any code), checked by
//! the mempool so that hopeless transactions are refused at the door.

use alloy_consensus::Transaction;
use cairn_primitives::RecoveredTx;

/// `(intrinsic gas, EIP-7623 calldata floor)` of a transaction under Osaka rules.
pub fn intrinsic_gas(tx: &RecoveredTx) -> (u64, u64) {
    let envelope = &tx.envelope;
    let input = envelope.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let non_zeros = input.len() as u64 - zeros;
    let tokens = zeros + non_zeros * 4;
    let mut gas = 21_000 + zeros * 4 + non_zeros * 16;
    if envelope.kind().is_create() {
        // CREATE base cost plus EIP-3860 initcode words.
        gas += 32_000 + (input.len() as u64).div_ceil(32) * 2;
    }
    if let Some(list) = envelope.access_list() {
        for item in list.iter() {
            gas += 2_400 + 1_900 * item.storage_keys.len() as u64;
        }
    }
    if let Some(auths) = envelope.authorization_list() {
        gas += 25_000 * auths.len() as u64;
    }
    let floor = 21_000 + tokens * 10;
    (gas, floor)
}
