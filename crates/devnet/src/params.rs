//! Regtest consensus and policy constants.

use bitcoin::{Amount, CompactTarget, FeeRate};

/// Regtest's (never retargeted) proof-of-work bits, in compact form.
pub const REGTEST_BITS_U32: u32 = 0x207f_ffff;

/// Regtest's proof-of-work bits.
pub fn regtest_bits() -> CompactTarget {
    CompactTarget::from_consensus(REGTEST_BITS_U32)
}
/// Blocks between subsidy halvings on regtest.
pub const HALVING_INTERVAL: u32 = 150;
/// Confirmations a coinbase output needs before it can be spent.
pub const COINBASE_MATURITY: u32 = 100;
/// Consensus block weight limit.
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Consensus limit on a block's total sigop cost.
pub const MAX_BLOCK_SIGOPS_COST: u64 = 80_000;
/// Policy limit on a transaction's sigop cost.
pub const MAX_STANDARD_TX_SIGOPS_COST: u64 = 16_000;
/// Policy limit on a transaction's weight.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Weight kept free for the coinbase when assembling a block.
pub const COINBASE_WEIGHT_RESERVE: u64 = 4_000;
/// Most transactions a replacement may evict.
pub const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// Most in-mempool ancestors a transaction may have, itself included.
pub const MAX_ANCESTORS: usize = 25;
/// Most in-mempool descendants a transaction may have, itself included.
pub const MAX_DESCENDANTS: usize = 25;
/// Largest virtual size of a transaction with its ancestors, or with its descendants.
pub const MAX_PACKAGE_VSIZE: u64 = 101_000;
/// Minimum relay fee rate (1 sat/vB).
pub const MIN_RELAY_FEE: FeeRate = FeeRate::from_sat_per_kwu(250);
/// Incremental relay fee rate for replacements (1 sat/vB).
pub const INCREMENTAL_RELAY_FEE: FeeRate = FeeRate::from_sat_per_kwu(250);
/// Block header version used when mining (BIP9 top bits).
pub const BLOCK_VERSION: i32 = 0x2000_0000;
/// Locktimes below this are heights, above are UNIX times.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// Script verification flags: every soft fork active on regtest, as libbitcoinconsensus
/// names them.
pub const SCRIPT_FLAGS: u32 = bitcoinconsensus::VERIFY_P2SH
    | bitcoinconsensus::VERIFY_DERSIG
    | bitcoinconsensus::VERIFY_NULLDUMMY
    | bitcoinconsensus::VERIFY_CHECKLOCKTIMEVERIFY
    | bitcoinconsensus::VERIFY_CHECKSEQUENCEVERIFY
    | bitcoinconsensus::VERIFY_WITNESS
    | bitcoinconsensus::VERIFY_TAPROOT;

/// The block subsidy at `height`: 50 BTC halving every 150 blocks.
pub fn block_subsidy(height: u32) -> Amount {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat(Amount::from_int_btc(50).to_sat() >> halvings)
}

/// Formats an amount the way bitcoind's `FormatMoney` does (at least two decimals).
pub fn format_money(amount: Amount) -> String {
    let sat = amount.to_sat();
    let mut s = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    while s.ends_with('0') && s.len() >= 2 && s.as_bytes()[s.len() - 3] != b'.' {
        s.pop();
    }
    s
}

/// Formats a fee rate per kvB the way bitcoind's `CFeeRate::ToString` does.
pub fn format_feerate_btc_kvb(sat_per_kvb: u64) -> String {
    format!(
        "{}.{:08} BTC/kvB",
        sat_per_kvb / 100_000_000,
        sat_per_kvb % 100_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(block_subsidy(0), Amount::from_int_btc(50));
        assert_eq!(block_subsidy(149), Amount::from_int_btc(50));
        assert_eq!(block_subsidy(150), Amount::from_int_btc(25));
        assert_eq!(block_subsidy(300), Amount::from_sat(1_250_000_000));
        assert_eq!(block_subsidy(150 * 64), Amount::ZERO);
    }

    #[test]
    fn money_formats_like_core() {
        assert_eq!(format_money(Amount::from_sat(1000)), "0.00001");
        assert_eq!(format_money(Amount::from_int_btc(1)), "1.00");
        assert_eq!(format_money(Amount::from_sat(150_000_000)), "1.50");
        assert_eq!(format_feerate_btc_kvb(20_153), "0.00020153 BTC/kvB");
    }
}
