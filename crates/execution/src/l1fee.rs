//! The L1 data fee: what a transaction pays for its share of the Bitcoin bytes that
//! carry it. Charged as extra gas (Arbitrum's way, not OP Stack's separate charge), so a
//! wallet that sends "balance − gas limit × price" still has enough: a transaction's
//! `l1_gas` is its estimated bytes on Bitcoin × the block's L1 fee rate, converted to gas
//! at the block's base fee. Execution runs the EVM with `gas_limit − l1_gas`, adds
//! `l1_gas` to the gas used and pays `l1_gas × effective price` to the fee recipient.
//!
//! L1 gas is not block space: the block gas limit, the EIP-1559 base fee and the
//! EIP-7825 per-transaction cap count execution gas only, so expensive Bitcoin bytes
//! neither crowd out transactions nor raise the base fee. A block's `gasUsed` is still
//! the sum of its receipts' (execution + L1), and its `gasLimit` is the execution limit
//! plus the block's L1 gas, so `gasUsed ≤ gasLimit` holds as tools expect.
//!
//! Each block records the rate it charged and its total L1 gas in its header's
//! `extra_data` (two big-endian u64: sat per 1000 weight units, then gas; empty when
//! the rate is 0), and batches carry the rate, so followers re-execute with the same
//! numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::{Bytes, U256};
use cairn_primitives::Header;

/// A transaction's signature (r, s, recovery id) does not compress: each one costs its
/// 65 bytes in a batch.
pub const SIGNATURE_BYTES: u64 = 65;
/// The rest of a transaction compresses to about a quarter in a batch body (brotli over
/// a block's transactions; measured in `docs/PERFORMANCE.md`: 17.5–22.5 vbytes, i.e.
/// 70–90 witness bytes, per 110-byte transfer).
pub const COMPRESSION_DIVISOR: u64 = 4;
/// Wei per satoshi: L2 ether is bitcoin with 18 decimals.
pub const WEI_PER_SAT: u64 = 10_000_000_000;
/// eth_estimateGas pads the L1 part by this percentage: the rate and the base fee can
/// move between the estimate and the transaction's block.
pub const ESTIMATE_PADDING_PERCENT: u64 = 25;

/// The estimated bytes of witness (one weight unit each) a raw transaction of `len` bytes
/// takes in a batch.
pub fn estimated_l1_bytes(len: usize) -> u64 {
    let len = len as u64;
    if len <= SIGNATURE_BYTES {
        return len;
    }
    SIGNATURE_BYTES + (len - SIGNATURE_BYTES).div_ceil(COMPRESSION_DIVISOR)
}

/// The L1 data fee in wei for a raw transaction of `len` bytes at `rate` sat/kwu.
pub fn l1_fee_wei(len: usize, rate: u64) -> U256 {
    // bytes × sat/kwu ÷ 1000 = sat; × 1e10 wei/sat.
    U256::from(estimated_l1_bytes(len)) * U256::from(rate) * U256::from(WEI_PER_SAT / 1000)
}

/// The gas that pays the L1 data fee of a raw transaction of `len` bytes at `rate`
/// sat/kwu, in a block whose base fee is `base_fee` wei. Zero when either is zero.
pub fn l1_gas(len: usize, rate: u64, base_fee: u64) -> u64 {
    if rate == 0 || base_fee == 0 {
        return 0;
    }
    let fee = l1_fee_wei(len, rate);
    let gas = fee.div_ceil(U256::from(base_fee));
    u64::try_from(gas).unwrap_or(u64::MAX)
}

/// `l1_gas` padded for estimates, so the transaction still fits when the rate or the
/// base fee moves a little before it is included.
pub fn l1_gas_padded(len: usize, rate: u64, base_fee: u64) -> u64 {
    let gas = l1_gas(len, rate, base_fee);
    gas.saturating_add((gas * ESTIMATE_PADDING_PERCENT).div_ceil(100))
}

/// `(L1 fee rate in sat/kwu, L1 gas used)` of a block, from its header's `extra_data`.
fn l1_fields(header: &Header) -> (u64, u64) {
    let Ok(bytes) = <[u8; 16]>::try_from(header.extra_data.as_ref()) else {
        return (0, 0);
    };
    let (rate, gas) = bytes.split_at(8);
    let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
    (word(rate), word(gas))
}

/// The L1 fee rate (sat/kwu) a block charged.
pub fn l1_fee_rate_of(header: &Header) -> u64 {
    l1_fields(header).0
}

/// The gas a block's transactions spent on L1 data fees (part of its `gas_used`).
pub fn l1_gas_of(header: &Header) -> u64 {
    l1_fields(header).1.min(header.gas_used)
}

/// The gas a block's execution used: what counts against its gas limit and the base fee.
pub fn execution_gas_used(header: &Header) -> u64 {
    header.gas_used - l1_gas_of(header)
}

/// The block's execution gas limit.
pub fn execution_gas_limit(header: &Header) -> u64 {
    header.gas_limit.saturating_sub(l1_gas_of(header))
}

/// The `extra_data` recording `rate` and the block's L1 gas.
pub fn extra_data_for(rate: u64, l1_gas: u64) -> Bytes {
    if rate == 0 {
        return Bytes::new();
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rate.to_be_bytes());
    bytes[8..].copy_from_slice(&l1_gas.to_be_bytes());
    Bytes::copy_from_slice(&bytes)
}

/// The L1 fee rate the sequencer charges its next blocks (sat/kwu), shared between
/// whoever reads Bitcoin's fee rate (the settlement task) and whoever charges it (the
/// mempool and the block producer). Zero (no L1 fee) until set.
#[derive(Debug, Clone, Default)]
pub struct L1FeeRate(Arc<AtomicU64>);

impl L1FeeRate {
    /// The rate now (zero: no L1 data fee).
    pub fn get(&self) -> bitcoin::FeeRate {
        bitcoin::FeeRate::from_sat_per_kwu(self.0.load(Ordering::Relaxed))
    }

    /// Charges `rate` from now on.
    pub fn set(&self, rate: bitcoin::FeeRate) {
        self.0.store(rate.to_sat_per_kwu(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_pays_its_bytes_at_the_rate() {
        // A 110-byte transfer: 65 signature bytes + 45 compressed to 12.
        assert_eq!(estimated_l1_bytes(110), 77);
        assert_eq!(estimated_l1_bytes(40), 40);
        // 2 sat/vB = 500 sat/kwu: 77 × 500 / 1000 = 38.5 sat = 3.85e11 wei.
        assert_eq!(l1_fee_wei(110, 500), U256::from(385_000_000_000u64));
        // At the 0.01 gwei floor that is 38,500 gas; at 3× the base fee a third, rounded up.
        assert_eq!(l1_gas(110, 500, 10_000_000), 38_500);
        assert_eq!(l1_gas(110, 500, 30_000_000), 12_834);
        assert_eq!(l1_gas_padded(110, 500, 10_000_000), 48_125);
        assert_eq!(l1_gas(110, 0, 10_000_000), 0, "no rate, no fee");
        assert_eq!(l1_gas(110, 500, 0), 0, "no base fee, no conversion");
    }

    #[test]
    fn the_rate_and_l1_gas_round_trip_through_the_header() {
        let mut header = Header {
            gas_used: 1_000_000,
            gas_limit: 200_800_000,
            ..Header::default()
        };
        assert_eq!(l1_fee_rate_of(&header), 0);
        assert_eq!(execution_gas_used(&header), 1_000_000);
        for rate in [1, 250, 25_000, u64::MAX] {
            header.extra_data = extra_data_for(rate, 800_000);
            assert_eq!(l1_fee_rate_of(&header), rate);
            assert_eq!(l1_gas_of(&header), 800_000);
            assert_eq!(execution_gas_used(&header), 200_000);
            assert_eq!(execution_gas_limit(&header), 200_000_000);
        }
        assert!(
            extra_data_for(0, 0).is_empty(),
            "blocks without a fee look as before"
        );
        header.extra_data = Bytes::from_static(b"junk");
        assert_eq!((l1_fee_rate_of(&header), l1_gas_of(&header)), (0, 0));
        header.extra_data = extra_data_for(250, u64::MAX);
        assert_eq!(
            execution_gas_used(&header),
            0,
            "a lying header cannot underflow"
        );
    }
}
