//! `rollup.json`: everything a node needs, besides a Bitcoin node, to derive one Cairn
//! network's state — the L2 chain parameters and genesis, the sequencer's public key, the
//! Bitcoin network and the height from which batches are scanned, and the finality depth.
//! `cairn init` writes it for a new network; `cairn dev` writes one into its data dir so
//! that followers can be started beside it.

use serde::{Deserialize, Serialize};

use crate::config::{ChainSpec, ConfigError};

/// The current `rollup.json` format.
pub const ROLLUP_CONFIG_VERSION: u32 = 1;

/// The Bitcoin networks a Cairn network can settle on, spelled as bitcoind's `chain`
/// field in `getblockchaininfo` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L1Network {
    /// Bitcoin mainnet (`main`).
    Main,
    /// Testnet3 (`test`).
    Test,
    /// Testnet4.
    Testnet4,
    /// Signet.
    Signet,
    /// Regtest (and the devnet).
    Regtest,
}

impl L1Network {
    /// bitcoind's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Test => "test",
            Self::Testnet4 => "testnet4",
            Self::Signet => "signet",
            Self::Regtest => "regtest",
        }
    }

    /// Confirmations that make a batch `finalized` unless configured otherwise: 6 on
    /// mainnet, fewer where blocks are cheap.
    pub fn default_finality_depth(self) -> u32 {
        match self {
            Self::Main => 6,
            Self::Test | Self::Testnet4 | Self::Signet => 3,
            Self::Regtest => 2,
        }
    }
}

/// Where on Bitcoin a network starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L1Start {
    /// The Bitcoin network.
    pub network: L1Network,
    /// The first L1 height scanned for batches (the tip when the network was created).
    pub height: u32,
    /// The hash of the block at that height, so a node pointed at another chain notices.
    pub hash: String,
}

/// One Cairn network's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollupConfig {
    /// Format version ([`ROLLUP_CONFIG_VERSION`]).
    pub version: u32,
    /// The L2 chain: id, gas limit, base fee floor, genesis allocations.
    pub chain: ChainSpec,
    /// The sequencer's BIP340 x-only public key (64 hex characters): only batches it
    /// signed are derived (with a sequencer set, the first of the set).
    pub sequencer_key: String,
    /// The sequencer set, in takeover order, starting with `sequencerKey` (absent: that
    /// key alone). Batches count only from the one the rule makes active at their
    /// Bitcoin height (see [`RollupConfig::sequencer_timeout`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequencers: Vec<String>,
    /// Bitcoin blocks the active sequencer may stay silent (post no batch) before the
    /// next in the set may take over (default: 6 on regtest, 36 elsewhere; see
    /// [`RollupConfig::sequencer_timeout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer_timeout: Option<u32>,
    /// The Bitcoin network and start height.
    pub l1: L1Start,
    /// Bitcoin confirmations of a batch after which its L2 blocks are `finalized`.
    pub finality_depth: u32,
    /// The two-way peg: its signers, recovery keys and rules. A network without one has
    /// no deposits or withdrawals (its BTC is all genesis allocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peg: Option<PegSpec>,
    /// Bitcoin blocks within which a transaction forced through Bitcoin (a `cairn-force`
    /// envelope) must be included (default: 6 on regtest, 144 elsewhere; see
    /// [`RollupConfig::forced_inclusion_window`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_inclusion_window: Option<u32>,
}

/// The peg's federation and rules, as `rollup.json` spells them. Keys are BIP340 x-only
/// public keys in hex; `cairn-peg` turns this into scripts and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PegSpec {
    /// The N signers' keys, in the order their signatures appear in the federation leaf.
    pub signers: Vec<String>,
    /// M: signatures needed to move peg coins.
    pub threshold: u8,
    /// The keys that can move every peg output after `recovery.delay` blocks, so coins are
    /// never stuck if the federation disappears.
    pub recovery: RecoverySpec,
    /// Blocks (BIP68 relative) after which a depositor can reclaim an uncredited deposit.
    pub reclaim_delay: u16,
    /// Bitcoin confirmations a deposit needs before it is credited on L2.
    pub deposit_confirmations: u32,
    /// Smallest deposit credited, in satoshis (smaller outputs are dust to the peg).
    /// (The withdrawal minimum is `chain.withdrawals.minSat`: execution enforces it.)
    pub min_deposit_sat: u64,
    /// Signer set rotations, oldest first. From a rotation's `l1Height` on, new deposit
    /// addresses and payout change use its set; coins still under an earlier set are moved
    /// to the new set's peg output by the earlier set's signers. Addresses of earlier sets
    /// keep being credited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<SignerRotation>,
}

/// A new signer set taking over the peg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignerRotation {
    /// The Bitcoin height from which the new set is the peg's.
    pub l1_height: u32,
    /// Its keys.
    pub signers: Vec<String>,
    /// Its threshold.
    pub threshold: u8,
}

/// The recovery key set of every peg output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverySpec {
    /// Its keys.
    pub keys: Vec<String>,
    /// Signatures needed.
    pub threshold: u8,
    /// Blocks (BIP68 relative, at most 65,535: ~15 months) before the recovery leaf opens.
    pub delay: u16,
}

fn is_x_only_hex(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_key_set(what: &str, keys: &[String], threshold: u8) -> Result<(), ConfigError> {
    if let Some(bad) = keys.iter().find(|k| !is_x_only_hex(k)) {
        return Err(ConfigError::Invalid(format!(
            "{what}: {bad:?} is not a 32-byte x-only public key in hex"
        )));
    }
    let mut unique = keys.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() != keys.len() {
        return Err(ConfigError::Invalid(format!("{what}: a key appears twice")));
    }
    // Tapscript allows at most 999 keys in a CHECKSIGADD script; a federation is far
    // smaller, and beyond 100 the leaf no longer fits standard witness limits comfortably.
    if keys.is_empty() || keys.len() > 100 {
        return Err(ConfigError::Invalid(format!(
            "{what}: between 1 and 100 keys are needed, got {}",
            keys.len()
        )));
    }
    if threshold == 0 || usize::from(threshold) > keys.len() {
        return Err(ConfigError::Invalid(format!(
            "{what}: threshold {threshold} must be between 1 and {} (the number of keys)",
            keys.len()
        )));
    }
    Ok(())
}

impl PegSpec {
    /// Checks keys, thresholds and delays.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_key_set("peg.signers", &self.signers, self.threshold)?;
        let mut previous = 0;
        for (i, rotation) in self.rotations.iter().enumerate() {
            check_key_set(
                &format!("peg.rotations[{i}].signers"),
                &rotation.signers,
                rotation.threshold,
            )?;
            if rotation.l1_height <= previous {
                return Err(ConfigError::Invalid(format!(
                    "peg.rotations[{i}].l1Height must be above the previous rotation's and 0"
                )));
            }
            previous = rotation.l1_height;
        }
        if self.rotations.len() > usize::from(u16::MAX) {
            return Err(ConfigError::Invalid("too many peg.rotations".into()));
        }
        check_key_set(
            "peg.recovery.keys",
            &self.recovery.keys,
            self.recovery.threshold,
        )?;
        if self.recovery.delay == 0 || self.reclaim_delay == 0 {
            return Err(ConfigError::Invalid(
                "peg.recovery.delay and peg.reclaimDelay must be at least 1 block".into(),
            ));
        }
        if self.deposit_confirmations == 0 {
            return Err(ConfigError::Invalid(
                "peg.depositConfirmations must be at least 1".into(),
            ));
        }
        // Bitcoin Core's dust limit for a taproot output at the default dust relay fee.
        if self.min_deposit_sat < 330 {
            return Err(ConfigError::Invalid(
                "peg.minDepositSat must be at least 330 (dust)".into(),
            ));
        }
        Ok(())
    }
}

impl RollupConfig {
    /// The forced-inclusion window in Bitcoin blocks: the configured one, or 6 on regtest
    /// and 144 (a day) elsewhere.
    pub fn forced_inclusion_window(&self) -> u32 {
        self.forced_inclusion_window
            .unwrap_or(match self.l1.network {
                L1Network::Regtest => 6,
                _ => 144,
            })
    }

    /// The sequencer set, in takeover order: `sequencers`, or `sequencerKey` alone.
    pub fn sequencer_set(&self) -> Vec<String> {
        if self.sequencers.is_empty() {
            vec![self.sequencer_key.clone()]
        } else {
            self.sequencers.clone()
        }
    }

    /// Bitcoin blocks after the active sequencer's last batch from which the next in the
    /// set may post instead: 6 on regtest (an hour of mainnet blocks would stall tests),
    /// 36 elsewhere (six hours: a sequencer whose batches are priced out for a few blocks
    /// keeps its turn; a dead one is replaced well within the forced-inclusion window).
    pub fn sequencer_timeout(&self) -> u32 {
        self.sequencer_timeout.unwrap_or(match self.l1.network {
            L1Network::Regtest => 6,
            _ => 36,
        })
    }

    /// Checks what can be checked without Bitcoin.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version != ROLLUP_CONFIG_VERSION {
            return Err(ConfigError::Invalid(format!(
                "rollup config version {} is not supported (expected {ROLLUP_CONFIG_VERSION})",
                self.version
            )));
        }
        self.chain.validate()?;
        let is_key = |key: &str| key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_key(&self.sequencer_key) {
            return Err(ConfigError::Invalid(
                "sequencerKey must be a 32-byte x-only public key in hex (64 characters)".into(),
            ));
        }
        if !self.sequencers.is_empty() {
            if !self.sequencers.iter().all(|k| is_key(k)) {
                return Err(ConfigError::Invalid(
                    "sequencers must be 32-byte x-only public keys in hex (64 characters)".into(),
                ));
            }
            if !self.sequencers[0].eq_ignore_ascii_case(&self.sequencer_key) {
                return Err(ConfigError::Invalid(
                    "sequencers must start with sequencerKey".into(),
                ));
            }
            let mut keys: Vec<String> = self.sequencers.iter().map(|k| k.to_lowercase()).collect();
            keys.sort();
            keys.dedup();
            if keys.len() != self.sequencers.len() {
                return Err(ConfigError::Invalid("sequencers has a key twice".into()));
            }
        }
        if self.sequencer_timeout == Some(0) {
            return Err(ConfigError::Invalid(
                "sequencerTimeout must be at least 1".into(),
            ));
        }
        let hash_ok =
            self.l1.hash.len() == 64 && self.l1.hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !hash_ok {
            return Err(ConfigError::Invalid(
                "l1.hash must be a block hash in hex (64 characters)".into(),
            ));
        }
        if self.finality_depth == 0 {
            return Err(ConfigError::Invalid(
                "finalityDepth must be at least 1".into(),
            ));
        }
        if let Some(peg) = &self.peg {
            peg.validate()?;
        }
        match (&self.peg, &self.chain.withdrawals) {
            (None, None) => {}
            (Some(_), Some(w)) if w.network == self.l1.network => {}
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "chain.withdrawals.network must be the network's Bitcoin network (l1.network)"
                        .into(),
                ));
            }
            (Some(_), None) => {
                return Err(ConfigError::Invalid(
                    "a network with a peg needs chain.withdrawals (its withdrawal contract's rules)"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "chain.withdrawals without a peg: nobody would pay the withdrawals".into(),
                ));
            }
        }
        Ok(())
    }

    /// Parses and validates `rollup.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_slice(bytes)?;
        config.validate()?;
        Ok(config)
    }

    /// Pretty JSON, as written to disk.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn sample() -> RollupConfig {
        RollupConfig {
            version: ROLLUP_CONFIG_VERSION,
            chain: ChainSpec::dev(31337, BTreeMap::new()),
            sequencer_key: "11".repeat(32),
            l1: L1Start {
                network: L1Network::Regtest,
                height: 101,
                hash: "22".repeat(32),
            },
            finality_depth: 2,
            peg: None,
            forced_inclusion_window: None,
            sequencers: Vec::new(),
            sequencer_timeout: None,
        }
    }

    #[test]
    fn round_trips_and_refuses_bad_configs() {
        let config = sample();
        let json = config.to_json();
        assert_eq!(RollupConfig::from_json(&json).expect("parses"), config);
        let text = String::from_utf8(json).expect("utf8");
        assert!(text.contains("\"network\": \"regtest\""), "{text}");

        let bad = RollupConfig {
            sequencer_key: "xyz".into(),
            ..sample()
        };
        let err = RollupConfig::from_json(&bad.to_json()).expect_err("bad key");
        assert!(err.to_string().contains("sequencerKey"), "{err}");
        let bad = RollupConfig {
            finality_depth: 0,
            ..sample()
        };
        assert!(RollupConfig::from_json(&bad.to_json()).is_err());
        // Unknown fields are typos, not extensions.
        let typo = text.replace("finalityDepth", "finalityDeph");
        assert!(RollupConfig::from_json(typo.as_bytes()).is_err());
    }

    #[test]
    fn a_sequencer_set_starts_with_the_sequencer_key_and_names_each_key_once() {
        assert_eq!(sample().sequencer_set(), vec!["11".repeat(32)]);
        assert_eq!(sample().sequencer_timeout(), 6);
        let set = RollupConfig {
            sequencers: vec!["11".repeat(32), "33".repeat(32)],
            sequencer_timeout: Some(3),
            ..sample()
        };
        let parsed = RollupConfig::from_json(&set.to_json()).expect("valid");
        assert_eq!(parsed.sequencer_set().len(), 2);
        assert_eq!(parsed.sequencer_timeout(), 3);
        for (sequencers, timeout, wanted) in [
            (vec!["33".repeat(32)], None, "must start with sequencerKey"),
            (vec!["11".repeat(32), "11".repeat(32)], None, "a key twice"),
            (
                vec!["11".repeat(32), "zz".into()],
                None,
                "x-only public keys",
            ),
            (Vec::new(), Some(0), "sequencerTimeout must be at least 1"),
        ] {
            let bad = RollupConfig {
                sequencers,
                sequencer_timeout: timeout,
                ..sample()
            };
            let err = bad.validate().expect_err(wanted);
            assert!(err.to_string().contains(wanted), "{err}");
        }
    }
}
