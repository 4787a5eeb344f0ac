//! The federation as `rollup.json` describes it, with its keys parsed.

use std::str::FromStr;

use bitcoin::secp256k1::XOnlyPublicKey;
use cairn_primitives::PegSpec;

use crate::{Error, Result};

/// M of N keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    /// The keys, in the order the leaf checks them.
    pub keys: Vec<XOnlyPublicKey>,
    /// Signatures needed.
    pub threshold: usize,
}

impl KeySet {
    /// Parses hex keys; refuses duplicates and thresholds outside `1..=N`.
    pub fn parse(keys: &[String], threshold: u8) -> Result<Self> {
        let keys = keys
            .iter()
            .map(|key| {
                XOnlyPublicKey::from_str(key).map_err(|e| Error::Key {
                    key: key.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let set = Self {
            keys,
            threshold: usize::from(threshold),
        };
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> Result<()> {
        let mut unique = self.keys.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != self.keys.len() {
            return Err(Error::Config("a key appears twice in one key set".into()));
        }
        if self.threshold == 0 || self.threshold > self.keys.len() {
            return Err(Error::Config(format!(
                "threshold {} must be between 1 and {}",
                self.threshold,
                self.keys.len()
            )));
        }
        Ok(())
    }
}

/// The peg's rules besides its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PegRules {
    /// Relative blocks after which a depositor may reclaim an uncredited deposit.
    pub reclaim_delay: u16,
    /// Confirmations before a deposit is credited.
    pub deposit_confirmations: u32,
    /// Smallest deposit credited (sat).
    pub min_deposit_sat: u64,
}

/// The signers, the recovery set and the rules: everything the peg's scripts commit to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Federation {
    /// M-of-N signers: the federation leaf of every peg and deposit output.
    pub signers: KeySet,
    /// The recovery key set.
    pub recovery: KeySet,
    /// Relative blocks before the recovery leaf opens.
    pub recovery_delay: u16,
    /// Deposit and withdrawal rules.
    pub rules: PegRules,
}

/// One signer set's tenure: from a Bitcoin height on, its federation is the peg's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// The Bitcoin height it takes over at (0 for the first set).
    pub from_l1_height: u32,
    /// Its signers, with the network's recovery set and rules.
    pub federation: Federation,
}

impl Epoch {
    /// The index of the signer set in charge at Bitcoin height `l1_height`: the newest
    /// whose start height it has reached (rotations take over at their height).
    pub fn active_at(epochs: &[Epoch], l1_height: u32) -> u16 {
        epochs
            .iter()
            .rposition(|e| e.from_l1_height <= l1_height)
            .unwrap_or(0) as u16
    }
}

impl Federation {
    /// Every signer set `spec` names, oldest first: the first set, then one per rotation
    /// (each with the same recovery set and rules).
    pub fn epochs(spec: &PegSpec) -> Result<Vec<Epoch>> {
        let first = Self::from_spec(spec)?;
        let mut epochs = vec![Epoch {
            from_l1_height: 0,
            federation: first.clone(),
        }];
        for rotation in &spec.rotations {
            epochs.push(Epoch {
                from_l1_height: rotation.l1_height,
                federation: Self {
                    signers: KeySet::parse(&rotation.signers, rotation.threshold)?,
                    ..first.clone()
                },
            });
        }
        Ok(epochs)
    }

    /// The federation `spec` describes.
    pub fn from_spec(spec: &PegSpec) -> Result<Self> {
        spec.validate().map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self {
            signers: KeySet::parse(&spec.signers, spec.threshold)?,
            recovery: KeySet::parse(&spec.recovery.keys, spec.recovery.threshold)?,
            recovery_delay: spec.recovery.delay,
            rules: PegRules {
                reclaim_delay: spec.reclaim_delay,
                deposit_confirmations: spec.deposit_confirmations,
                min_deposit_sat: spec.min_deposit_sat,
            },
        })
    }
}
