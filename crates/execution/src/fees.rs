//! EIP-1559 base fee with Cairn's floor.

use alloy_eips::eip1559::BaseFeeParams;
use cairn_primitives::Header;

use crate::l1fee::{execution_gas_limit, execution_gas_used};

/// The base fee of the block after `parent`, never below `floor`. Only execution gas
/// counts: the gas that paid L1 data fees is not block space.
pub fn next_base_fee(parent: &Header, floor: u64) -> u64 {
    let base = parent.base_fee_per_gas.unwrap_or(floor);
    let next = alloy_eips::eip1559::calc_next_block_base_fee(
        execution_gas_used(parent),
        execution_gas_limit(parent),
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
        let mut l1_heavy = parent(1_000_000, 1000);
        l1_heavy.gas_limit += 900_000;
        l1_heavy.extra_data = crate::l1fee::extra_data_for(500, 900_000);
        assert_eq!(
            next_base_fee(&l1_heavy, 10),
            900,
            "L1 gas is not block space: 100,000 of 1M executed, 1/10 above half empty"
        );
    }
}
