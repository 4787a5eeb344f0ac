//! EIP-1559 base fee with Cairn's floor.

use alloy_eips::eip1559::BaseFeeParams;
use cairn_primitives::Header;

/// The base fee of the block after `parent`, never below `floor`.
pub fn next_base_fee(parent: &Header, floor: u64) -> u64 {
    let base = parent.base_fee_per_gas.unwrap_or(floor);
    let next = alloy_eips::eip1559::calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        base,
        BaseFeeParams::ethereum(),
    );
    next.max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(gas_used: u64, base: u64) -> Header {
        Header {
            gas_used,
            gas_limit: 1_000_000,
            base_fee_per_gas: Some(base),
            ..Default::default()
        }
    }

    #[test]
    fn base_fee_moves_with_load_and_respects_the_floor() {
        assert_eq!(
            next_base_fee(&parent(500_000, 1000), 10),
            1000,
            "at target: unchanged"
        );
        assert_eq!(
            next_base_fee(&parent(1_000_000, 1000), 10),
            1125,
            "full: +12.5%"
        );
        assert_eq!(next_base_fee(&parent(0, 1000), 10), 875, "empty: -12.5%");
        assert_eq!(
            next_base_fee(&parent(0, 10), 10),
            10,
            "never below the floor"
        );
    }
}
