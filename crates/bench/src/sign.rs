//! The bench accounts' keys and the offline signing of their transactions.

use std::sync::Arc;
use std::time::Instant;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use anyhow::Context as _;
use rayon::prelude::*;
use serde_json::value::RawValue;

use crate::erc20::{ERC20_TRANSFER_GAS, transfer_call};

pub(crate) const CHAIN_ID: u64 = 31337;
/// Genesis balance of each bench account, in BTC.
pub(crate) const GENESIS_BTC: u64 = 1_000;

/// A bench key: `keccak256("cairn-bench" ‖ label ‖ index)` as a secp256k1 secret.
pub(crate) fn bench_signer(label: &str, index: u64) -> anyhow::Result<PrivateKeySigner> {
    let mut attempt = 0u8;
    loop {
        let mut seed = b"cairn-bench".to_vec();
        seed.extend_from_slice(label.as_bytes());
        seed.extend_from_slice(&index.to_be_bytes());
        seed.push(attempt);
        if let Ok(signer) = PrivateKeySigner::from_bytes(&keccak256(&seed)) {
            return Ok(signer);
        }
        attempt = attempt.checked_add(1).context("no valid key")?;
    }
}

/// splitmix64: deterministic recipients and amounts without a dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A signed transaction ready to submit.
pub(crate) struct SignedTx {
    pub(crate) hash: B256,
    /// Index of the sender (decides the connection it goes through, so one
    /// sender's nonces always arrive in order).
    pub(crate) sender: usize,
    /// `["0x<EIP-2718 bytes>"]`, the request's params, encoded offline.
    pub(crate) params: Box<RawValue>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fees {
    pub(crate) max_fee: u128,
    pub(crate) tip: u128,
    /// The L1 data fee rate charged and the base fee at which the L1 gas is reserved in
    /// every gas limit (the floor: the most L1 gas a transaction can need).
    pub(crate) l1_fee_rate: bitcoin::FeeRate,
    pub(crate) base_fee_floor: u64,
}

/// What a transaction does.
pub(crate) struct Call {
    pub(crate) to: TxKind,
    pub(crate) value: U256,
    pub(crate) input: Bytes,
    pub(crate) gas_limit: u64,
}

pub(crate) fn sign(
    signer: &PrivateKeySigner,
    sender: usize,
    nonce: u64,
    call: Call,
    fees: &Fees,
) -> anyhow::Result<SignedTx> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        // Signed length ≤ input + 130 bytes for these transactions.
        gas_limit: call.gas_limit
            + cairn_execution::l1fee::l1_gas_padded(
                call.input.len() + 130,
                fees.l1_fee_rate.to_sat_per_kwu(),
                fees.base_fee_floor,
            ),
        max_fee_per_gas: fees.max_fee,
        max_priority_fee_per_gas: fees.tip,
        to: call.to,
        value: call.value,
        access_list: Default::default(),
        input: call.input,
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash())?;
    let envelope = TxEnvelope::Eip1559(tx.into_signed(signature));
    let raw = envelope.encoded_2718();
    let params = RawValue::from_string(format!("[\"0x{}\"]", hex::encode(&raw)))?;
    Ok(SignedTx {
        hash: *envelope.tx_hash(),
        sender,
        params,
    })
}

/// The measured transfers: transaction `j` is sent by account `j % n` with
/// nonce `j / n` to a random other account, so consecutive transactions (and
/// every batch) come from different senders.
pub(crate) fn sign_transfers(
    accounts: &[PrivateKeySigner],
    addresses: &[Address],
    count: usize,
    token: Option<Address>,
    fees: &Fees,
) -> anyhow::Result<Vec<SignedTx>> {
    let n = accounts.len();
    (0..count)
        .into_par_iter()
        .map(|j| {
            let sender = j % n;
            let nonce = (j / n) as u64;
            let r = mix(j as u64);
            let mut recipient = (r % (n as u64 - 1)) as usize;
            if recipient >= sender {
                recipient += 1;
            }
            let amount = U256::from(1 + (r >> 32) % 1000);
            let call = match token {
                None => Call {
                    to: TxKind::Call(addresses[recipient]),
                    value: amount,
                    input: Bytes::new(),
                    gas_limit: 21_000,
                },
                Some(token) => Call {
                    to: TxKind::Call(token),
                    value: U256::ZERO,
                    input: transfer_call(addresses[recipient], amount),
                    gas_limit: ERC20_TRANSFER_GAS,
                },
            };
            sign(&accounts[sender], sender, nonce, call, fees)
        })
        .collect()
}

pub(crate) fn sign_timed(
    what: &str,
    count: usize,
    f: impl FnOnce() -> anyhow::Result<Vec<SignedTx>>,
) -> anyhow::Result<Arc<Vec<SignedTx>>> {
    let started = Instant::now();
    let txs = f()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "signed {count} {what} offline in {secs:.2}s ({:.0}/s on {} threads)",
        count as f64 / secs.max(1e-9),
        rayon::current_num_threads()
    );
    Ok(Arc::new(txs))
}
