//! The chain's configuration: what every node of one network must agree on.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use serde::{Deserialize, Serialize};

/// Errors reading or checking a chain configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid chain config: {0}")]
    Invalid(String),
    #[error("chain config is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// An account present at genesis (a dev network's declared allocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    pub balance: U256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Bytes>,
}

/// Consensus parameters of one Cairn L2 network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainSpec {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Gas limit of every L2 block.
    pub block_gas_limit: u64,
    /// The EIP-1559 base fee never falls below this (wei per gas).
    pub base_fee_floor: u64,
    /// Timestamp of the genesis block (unix seconds).
    pub genesis_timestamp: u64,
    /// Accounts funded at genesis. Only dev networks declare any: on a real
    /// network all supply enters through the peg.
    #[serde(default)]
    pub alloc: BTreeMap<Address, GenesisAccount>,
    /// The peg's withdrawal contract: which Bitcoin addresses it accepts and the smallest
    /// amount. `None`: no withdrawal contract (a network without a peg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawals: Option<WithdrawalSpec>,
}

/// What the withdrawal contract accepts (execution enforces it, so it is chain config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WithdrawalSpec {
    /// Payout addresses must be for this Bitcoin network.
    pub network: crate::L1Network,
    /// Smallest withdrawal, in satoshis (at least the 330-sat dust limit).
    pub min_sat: u64,
}

/// 200M gas per 250 ms block: ~9,500 ETH transfers per block at the EIP-1559
/// target (half the limit), far above the 10,000 transfers/s goal.
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 200_000_000;
/// 0.01 gwei: an ETH transfer costs 21 sats at the floor.
pub const DEFAULT_BASE_FEE_FLOOR: u64 = 10_000_000;

impl ChainSpec {
    /// A dev chain with the given id and genesis allocation.
    pub fn dev(chain_id: u64, alloc: BTreeMap<Address, GenesisAccount>) -> Self {
        Self {
            chain_id,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            base_fee_floor: DEFAULT_BASE_FEE_FLOOR,
            genesis_timestamp: 0,
            alloc,
            withdrawals: None,
        }
    }

    /// Reject configurations no node could run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.chain_id == 0 {
            return Err(ConfigError::Invalid("chainId must not be 0".into()));
        }
        if self.block_gas_limit < 21_000 {
            return Err(ConfigError::Invalid(format!(
                "blockGasLimit {} is below the 21000 gas of a plain transfer",
                self.block_gas_limit
            )));
        }
        if self.base_fee_floor == 0 {
            return Err(ConfigError::Invalid(
                "baseFeeFloor must be at least 1 wei".into(),
            ));
        }
        if let Some(w) = &self.withdrawals
            && w.min_sat < 330
        {
            return Err(ConfigError::Invalid(
                "withdrawals.minSat must be at least 330 (dust)".into(),
            ));
        }
        Ok(())
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let spec: Self = serde_json::from_slice(bytes)?;
        spec.validate()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_validation() {
        let mut alloc = BTreeMap::new();
        alloc.insert(
            Address::repeat_byte(1),
            GenesisAccount {
                balance: U256::from(5),
                code: None,
            },
        );
        let spec = ChainSpec::dev(31337, alloc);
        let json = serde_json::to_vec(&spec).expect("serializes");
        assert_eq!(ChainSpec::from_json(&json).expect("parses"), spec);

        let bad = ChainSpec {
            chain_id: 0,
            ..spec
        };
        let err = ChainSpec::from_json(&serde_json::to_vec(&bad).expect("serializes"));
        assert!(err.unwrap_err().to_string().contains("chainId"));
    }
}
