//! BTC is the native currency: 1 BTC = 10^18 wei, so 1 sat = 10^10 wei.

use alloy_primitives::U256;

/// Wei in one satoshi.
pub const WEI_PER_SAT: u64 = 10_000_000_000;
/// Satoshis in one bitcoin.
pub const SATS_PER_BTC: u64 = 100_000_000;

/// Wei in `btc` whole bitcoins.
pub fn btc_to_wei(btc: u64) -> U256 {
    U256::from(btc) * U256::from(SATS_PER_BTC) * U256::from(WEI_PER_SAT)
}

/// Wei in `sats` satoshis.
pub fn sats_to_wei(sats: u64) -> U256 {
    U256::from(sats) * U256::from(WEI_PER_SAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_btc_is_ten_to_the_eighteen_wei() {
        assert_eq!(btc_to_wei(1), U256::from(10u128.pow(18)));
        assert_eq!(sats_to_wei(1), U256::from(10u64.pow(10)));
        assert_eq!(sats_to_wei(SATS_PER_BTC), btc_to_wei(1));
    }
}
