//! bitcoind's verbose answers, field for field as Bitcoin Core 29 writes them
//! (`/work/shared/bitcoin-core-rpc/regtest-29.2.json` records them).
//!
//! These are our own small structs rather than the `corepc-types` crate: that crate is
//! not in this workspace's lock file or the offline registry, follows its own bitcoin
//! release train, and models every Core version where Cairn needs a dozen answers.
//! Rust names are snake_case; `#[serde(rename)]` keeps Core's JSON names. Fields that
//! Core 29 added or writes only sometimes are `Option`s, so older nodes still decode.
//! Amounts are [`Amount`]s and fee rates [`FeeRate`]s: BTC and BTC/kvB floats are
//! converted exactly (through their decimal text) and never kept as `f64`.

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Amount, BlockHash, FeeRate, Network, ScriptBuf, TxMerkleNode, Txid, Wtxid};
use serde::{Deserialize, Serialize};

use bitcoin::amount::serde::as_btc;

/// `getblockchaininfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockchainInfo {
    /// `main`, `test`, `testnet4`, `signet` or `regtest`.
    pub chain: String,
    /// Height of the most-work fully validated block.
    pub blocks: u32,
    /// Height of the most-work header.
    pub headers: u32,
    /// Hash of the tip.
    #[serde(rename = "bestblockhash")]
    pub best_block_hash: BlockHash,
    /// The tip's compact target (Core 29+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<String>,
    /// The tip's target (Core 29+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Difficulty of the tip.
    pub difficulty: f64,
    /// The tip's timestamp.
    pub time: u32,
    /// Median time past of the tip.
    #[serde(rename = "mediantime")]
    pub median_time: u32,
    /// Estimate of verification progress, 0 to 1.
    #[serde(rename = "verificationprogress")]
    pub verification_progress: f64,
    /// Whether the node is in initial block download.
    #[serde(rename = "initialblockdownload")]
    pub initial_block_download: bool,
    /// Total work of the active chain, hex.
    pub chainwork: String,
    /// Size of the block and undo files.
    pub size_on_disk: u64,
    /// Whether blocks are pruned.
    pub pruned: bool,
    /// Lowest height with a complete block, when pruned.
    #[serde(
        rename = "pruneheight",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prune_height: Option<u32>,
    /// Whether pruning is automatic, when pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_pruning: Option<bool>,
    /// Prune target in bytes, when pruning automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_target_size: Option<u64>,
    /// Warnings (a single string before Core 28).
    #[serde(default, deserialize_with = "serde_helpers::warnings")]
    pub warnings: Vec<String>,
}

impl BlockchainInfo {
    /// The network of `chain`, if known.
    pub fn network(&self) -> Option<Network> {
        Network::from_core_arg(&self.chain).ok()
    }
}

/// `getnetworkinfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Version as a number, e.g. 290200.
    pub version: u32,
    /// User agent, e.g. `/Satoshi:29.2.0/`.
    pub subversion: String,
    /// P2P protocol version.
    #[serde(rename = "protocolversion")]
    pub protocol_version: u32,
    /// Service bits, hex.
    #[serde(rename = "localservices")]
    pub local_services: String,
    /// Service bit names.
    #[serde(rename = "localservicesnames", default)]
    pub local_services_names: Vec<String>,
    /// Whether transactions are relayed to peers.
    #[serde(rename = "localrelay")]
    pub local_relay: bool,
    /// Time offset from peers, seconds.
    #[serde(rename = "timeoffset")]
    pub time_offset: i64,
    /// Whether P2P networking is on.
    #[serde(rename = "networkactive")]
    pub network_active: bool,
    /// Peer connections.
    pub connections: u32,
    /// Inbound peer connections.
    pub connections_in: u32,
    /// Outbound peer connections.
    pub connections_out: u32,
    /// Per network (ipv4, ipv6, onion, i2p, cjdns).
    pub networks: Vec<NetworkReachability>,
    /// Minimum relay fee rate.
    #[serde(rename = "relayfee", with = "serde_helpers::btc_per_kvb")]
    pub relay_fee: FeeRate,
    /// Minimum fee rate increment for replacement.
    #[serde(rename = "incrementalfee", with = "serde_helpers::btc_per_kvb")]
    pub incremental_fee: FeeRate,
    /// Addresses the node announces.
    #[serde(rename = "localaddresses", default)]
    pub local_addresses: Vec<LocalAddress>,
    /// Warnings (a single string before Core 28).
    #[serde(default, deserialize_with = "serde_helpers::warnings")]
    pub warnings: Vec<String>,
}

/// An entry of `getnetworkinfo`'s `networks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkReachability {
    /// `ipv4`, `ipv6`, `onion`, `i2p` or `cjdns`.
    pub name: String,
    /// Whether only this network is used.
    pub limited: bool,
    /// Whether it is reachable.
    pub reachable: bool,
    /// The proxy, or empty.
    pub proxy: String,
    /// Whether proxy credentials are randomized.
    pub proxy_randomize_credentials: bool,
}

/// An entry of `getnetworkinfo`'s `localaddresses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddress {
    /// The address.
    pub address: String,
    /// The port.
    pub port: u16,
    /// Its score.
    pub score: i64,
}

/// `getblockheader <hash> true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockHeaderInfo {
    /// The block hash.
    pub hash: BlockHash,
    /// Confirmations; -1 when the block is not on the active chain.
    pub confirmations: i64,
    /// The height.
    pub height: u32,
    /// The version field.
    pub version: i32,
    /// The version field, hex.
    #[serde(rename = "versionHex")]
    pub version_hex: String,
    /// The merkle root.
    #[serde(rename = "merkleroot")]
    pub merkle_root: TxMerkleNode,
    /// The timestamp.
    pub time: u32,
    /// Median time past.
    #[serde(rename = "mediantime")]
    pub median_time: u32,
    /// The nonce.
    pub nonce: u32,
    /// Compact target, hex.
    pub bits: String,
    /// Target, hex (Core 29+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Difficulty.
    pub difficulty: f64,
    /// Total work up to this block, hex.
    pub chainwork: String,
    /// Number of transactions.
    #[serde(rename = "nTx")]
    pub n_tx: u32,
    /// The parent; absent for the genesis block.
    #[serde(
        rename = "previousblockhash",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_block_hash: Option<BlockHash>,
    /// The child on the active chain; absent at the tip.
    #[serde(
        rename = "nextblockhash",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_block_hash: Option<BlockHash>,
}

/// `getchaintips` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Height of the tip.
    pub height: u32,
    /// Hash of the tip.
    pub hash: BlockHash,
    /// Length of the branch joining the active chain; 0 for the active tip.
    #[serde(rename = "branchlen")]
    pub branch_len: u32,
    /// Its status.
    pub status: ChainTipStatus,
}

/// Status of a [`ChainTip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainTipStatus {
    /// The branch contains an invalid block.
    Invalid,
    /// Only headers are known.
    HeadersOnly,
    /// All blocks are present but not fully validated.
    ValidHeaders,
    /// Fully validated, not active.
    ValidFork,
    /// The active chain's tip.
    Active,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// `gettxout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxOutInfo {
    /// The tip the answer refers to.
    #[serde(rename = "bestblock")]
    pub best_block: BlockHash,
    /// Confirmations; 0 for a mempool output.
    pub confirmations: u32,
    /// The value.
    #[serde(with = "as_btc")]
    pub value: Amount,
    /// The output script.
    #[serde(rename = "scriptPubKey")]
    pub script_pub_key: ScriptPubKeyInfo,
    /// Whether the output is a coinbase's.
    pub coinbase: bool,
}

/// A decoded output script, as in `gettxout` and `getrawtransaction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptPubKeyInfo {
    /// Disassembly.
    pub asm: String,
    /// Output descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// The script.
    pub hex: ScriptBuf,
    /// Its address, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address<NetworkUnchecked>>,
    /// Script type, e.g. `witness_v0_keyhash`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One transaction's verdict from `testmempoolaccept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolAcceptResult {
    /// The txid.
    pub txid: Txid,
    /// The wtxid.
    pub wtxid: Wtxid,
    /// Why the package as a whole failed, if it did.
    #[serde(
        rename = "package-error",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub package_error: Option<String>,
    /// Whether the mempool would accept it (Core omits this on a package error: `false`).
    #[serde(default)]
    pub allowed: bool,
    /// Virtual size, when allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vsize: Option<u64>,
    /// Fees, when allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<MempoolAcceptFees>,
    /// The rejection reason, e.g. `txn-already-in-mempool`.
    #[serde(
        rename = "reject-reason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reject_reason: Option<String>,
    /// The rejection in detail (Core 29+).
    #[serde(
        rename = "reject-details",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reject_details: Option<String>,
}

/// `testmempoolaccept`'s `fees`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolAcceptFees {
    /// The transaction's fee.
    #[serde(with = "as_btc")]
    pub base: Amount,
    /// The fee rate it is judged at (with package context).
    #[serde(
        rename = "effective-feerate",
        default,
        with = "serde_helpers::btc_per_kvb::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub effective_fee_rate: Option<FeeRate>,
    /// The wtxids that make up that effective fee rate.
    #[serde(rename = "effective-includes", default)]
    pub effective_includes: Vec<Wtxid>,
}

/// `getmempoolentry` (and `getrawmempool true`'s values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolEntry {
    /// Virtual size.
    pub vsize: u64,
    /// Weight.
    pub weight: u64,
    /// When it entered the mempool, Unix seconds.
    pub time: u64,
    /// Tip height when it entered.
    pub height: u32,
    /// In-mempool descendants, itself included.
    #[serde(rename = "descendantcount")]
    pub descendant_count: u64,
    /// Their virtual size.
    #[serde(rename = "descendantsize")]
    pub descendant_size: u64,
    /// In-mempool ancestors, itself included.
    #[serde(rename = "ancestorcount")]
    pub ancestor_count: u64,
    /// Their virtual size.
    #[serde(rename = "ancestorsize")]
    pub ancestor_size: u64,
    /// The wtxid.
    pub wtxid: Wtxid,
    /// Fees.
    pub fees: MempoolEntryFees,
    /// Unconfirmed parents.
    pub depends: Vec<Txid>,
    /// Unconfirmed children.
    #[serde(rename = "spentby")]
    pub spent_by: Vec<Txid>,
    /// Whether it signals BIP125 replaceability.
    #[serde(rename = "bip125-replaceable")]
    pub bip125_replaceable: bool,
    /// Whether the node has not yet seen it relayed back.
    pub unbroadcast: bool,
}

/// A [`MempoolEntry`]'s `fees`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolEntryFees {
    /// Its own fee.
    #[serde(with = "as_btc")]
    pub base: Amount,
    /// With `prioritisetransaction` deltas.
    #[serde(with = "as_btc")]
    pub modified: Amount,
    /// Of it and its ancestors.
    #[serde(with = "as_btc")]
    pub ancestor: Amount,
    /// Of it and its descendants.
    #[serde(with = "as_btc")]
    pub descendant: Amount,
}

/// `getmempoolinfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MempoolInfo {
    /// Whether the mempool is fully loaded.
    pub loaded: bool,
    /// Transactions.
    pub size: u64,
    /// Sum of their virtual sizes.
    pub bytes: u64,
    /// Memory use.
    pub usage: u64,
    /// Sum of their fees.
    #[serde(with = "as_btc")]
    pub total_fee: Amount,
    /// Memory limit.
    #[serde(rename = "maxmempool")]
    pub max_mempool: u64,
    /// Lowest fee rate accepted now.
    #[serde(rename = "mempoolminfee", with = "serde_helpers::btc_per_kvb")]
    pub mempool_min_fee: FeeRate,
    /// Minimum relay fee rate.
    #[serde(rename = "minrelaytxfee", with = "serde_helpers::btc_per_kvb")]
    pub min_relay_tx_fee: FeeRate,
    /// Minimum increment for replacements.
    #[serde(rename = "incrementalrelayfee", with = "serde_helpers::btc_per_kvb")]
    pub incremental_relay_fee: FeeRate,
    /// Transactions not yet seen relayed back.
    #[serde(rename = "unbroadcastcount")]
    pub unbroadcast_count: u64,
    /// Whether any transaction can be replaced.
    #[serde(rename = "fullrbf")]
    pub full_rbf: bool,
}

/// `estimatesmartfee`'s mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateMode {
    /// Core's default (economical since Core 28).
    Unset,
    /// Reacts faster to falling fees.
    Economical,
    /// Considers a longer history.
    Conservative,
}

impl EstimateMode {
    /// The name bitcoind expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "UNSET",
            Self::Economical => "ECONOMICAL",
            Self::Conservative => "CONSERVATIVE",
        }
    }
}

/// `estimatesmartfee`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeEstimate {
    /// The estimate, rounded up to whole sat/kwu; absent without enough data
    /// (always so on a fresh regtest).
    #[serde(
        rename = "feerate",
        default,
        with = "serde_helpers::btc_per_kvb::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub fee_rate: Option<FeeRate>,
    /// Why there is no estimate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The confirmation target the estimate is for.
    pub blocks: u32,
}

/// A `listunspent` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unspent {
    /// The transaction.
    pub txid: Txid,
    /// The output index.
    pub vout: u32,
    /// Its address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address<NetworkUnchecked>>,
    /// The address's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The output script.
    #[serde(rename = "scriptPubKey")]
    pub script_pub_key: ScriptBuf,
    /// The value.
    #[serde(with = "as_btc")]
    pub amount: Amount,
    /// Confirmations.
    pub confirmations: u32,
    /// The redeem script, for P2SH.
    #[serde(
        rename = "redeemScript",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub redeem_script: Option<ScriptBuf>,
    /// The witness script, for P2WSH.
    #[serde(
        rename = "witnessScript",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub witness_script: Option<ScriptBuf>,
    /// Whether the wallet can spend it.
    pub spendable: bool,
    /// Whether the wallet knows how to spend it.
    pub solvable: bool,
    /// Whether the address was used before (with `avoid_reuse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<bool>,
    /// Output descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// The wallet descriptors it derives from.
    #[serde(default)]
    pub parent_descs: Vec<String>,
    /// Whether it is safe to spend (confirmed or from the wallet).
    pub safe: bool,
}

/// The address types `getnewaddress` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    /// P2PKH.
    Legacy,
    /// P2WPKH nested in P2SH.
    P2shSegwit,
    /// P2WPKH.
    Bech32,
    /// P2TR.
    Bech32m,
}

impl AddressType {
    /// The name bitcoind expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::P2shSegwit => "p2sh-segwit",
            Self::Bech32 => "bech32",
            Self::Bech32m => "bech32m",
        }
    }
}

/// `generateblock`'s answer.
#[derive(Debug, Deserialize)]
pub(crate) struct GeneratedBlock {
    pub(crate) hash: BlockHash,
}

/// The fee rate of `per_kvb` per 1000 virtual bytes, rounded up to whole sat/kwu so that
/// paying it never falls short of what bitcoind asked for.
pub fn fee_rate_from_btc_per_kvb(per_kvb: Amount) -> FeeRate {
    FeeRate::from_sat_per_kwu(per_kvb.to_sat().div_ceil(4))
}

/// Serde adapters for bitcoind's number formats.
mod serde_helpers {
    use serde::{Deserialize, Deserializer};

    /// `warnings`: an array since Core 28, a string before.
    pub(super) fn warnings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Warnings {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Warnings::deserialize(d)? {
            Warnings::One(text) if text.is_empty() => Vec::new(),
            Warnings::One(text) => vec![text],
            Warnings::Many(list) => list,
        })
    }

    /// A fee rate as a JSON number of BTC per 1000 virtual bytes.
    pub(super) mod btc_per_kvb {
        use bitcoin::amount::serde::as_btc;
        use bitcoin::{Amount, FeeRate};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        use crate::types::fee_rate_from_btc_per_kvb;

        #[derive(Serialize, Deserialize)]
        struct PerKvb(#[serde(with = "as_btc")] Amount);

        fn per_kvb(rate: FeeRate) -> PerKvb {
            PerKvb(Amount::from_sat(rate.to_sat_per_kwu().saturating_mul(4)))
        }

        pub(crate) fn serialize<S: Serializer>(rate: &FeeRate, s: S) -> Result<S::Ok, S::Error> {
            per_kvb(*rate).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FeeRate, D::Error> {
            let PerKvb(amount) = PerKvb::deserialize(d)?;
            Ok(fee_rate_from_btc_per_kvb(amount))
        }

        /// The same for an optional field.
        pub(crate) mod opt {
            use super::*;

            pub(crate) fn serialize<S: Serializer>(
                rate: &Option<FeeRate>,
                s: S,
            ) -> Result<S::Ok, S::Error> {
                rate.map(per_kvb).serialize(s)
            }

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
                d: D,
            ) -> Result<Option<FeeRate>, D::Error> {
                let rate = Option::<PerKvb>::deserialize(d)?;
                Ok(rate.map(|PerKvb(amount)| fee_rate_from_btc_per_kvb(amount)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fee_rates_round_up_to_whole_sat_per_kwu() {
        // 1e-06 BTC/kvB = 100 sat/kvB = 25 sat/kwu exactly.
        assert_eq!(
            fee_rate_from_btc_per_kvb(Amount::from_sat(100)),
            FeeRate::from_sat_per_kwu(25)
        );
        // 1001 sat/kvB = 250.25 sat/kwu, rounded up.
        assert_eq!(
            fee_rate_from_btc_per_kvb(Amount::from_sat(1001)),
            FeeRate::from_sat_per_kwu(251)
        );
    }

    /// Core 29.2's answer (record 19 of regtest-29.2.json).
    #[test]
    fn mempool_info_decodes_core_29() {
        let info: MempoolInfo = serde_json::from_value(json!({
            "loaded": true, "size": 1, "bytes": 130, "usage": 1056, "total_fee": 2.62e-05,
            "maxmempool": 300000000, "mempoolminfee": 1e-06, "minrelaytxfee": 1e-06,
            "incrementalrelayfee": 1e-06, "unbroadcastcount": 1, "fullrbf": true
        }))
        .expect("Core's shape");
        assert_eq!(info.total_fee, Amount::from_sat(2620));
        assert_eq!(info.min_relay_tx_fee, FeeRate::from_sat_per_kwu(25));
        assert_eq!(info.max_mempool, 300_000_000);
        assert!(info.full_rbf);
    }

    /// Records 38 and 23/69 of regtest-29.2.json, and Core's documented allowed shape.
    #[test]
    fn fee_estimate_and_mempool_accept_decode_core_29() {
        let empty: FeeEstimate = serde_json::from_value(json!({
            "errors": ["Insufficient data or no feerate found"], "blocks": 0
        }))
        .expect("Core's shape");
        assert_eq!(empty.fee_rate, None);
        assert_eq!(empty.errors, ["Insufficient data or no feerate found"]);

        let estimate: FeeEstimate =
            serde_json::from_value(json!({ "feerate": 0.00012345, "blocks": 2 }))
                .expect("Core's shape");
        assert_eq!(estimate.fee_rate, Some(FeeRate::from_sat_per_kwu(3087)));

        let refused: Vec<MempoolAcceptResult> = serde_json::from_value(json!([{
            "txid": "8ac1434495741c1dd91b362747356b78f985f22b50c4d04238e5a76fb5f1454e",
            "wtxid": "b2d5d271df950f134d8dc2dbceda9792ac7a0d0b544cfe45a056034d9e30eb54",
            "allowed": false,
            "reject-reason": "txn-already-in-mempool",
            "reject-details": "txn-already-in-mempool"
        }]))
        .expect("Core's shape");
        assert!(!refused[0].allowed);
        assert_eq!(
            refused[0].reject_reason.as_deref(),
            Some("txn-already-in-mempool")
        );

        let allowed: MempoolAcceptResult = serde_json::from_value(json!({
            "txid": "8ac1434495741c1dd91b362747356b78f985f22b50c4d04238e5a76fb5f1454e",
            "wtxid": "b2d5d271df950f134d8dc2dbceda9792ac7a0d0b544cfe45a056034d9e30eb54",
            "allowed": true, "vsize": 130,
            "fees": { "base": 2.62e-05, "effective-feerate": 0.00020153,
                      "effective-includes": ["b2d5d271df950f134d8dc2dbceda9792ac7a0d0b544cfe45a056034d9e30eb54"] }
        }))
        .expect("Core's shape");
        let fees = allowed.fees.expect("fees when allowed");
        assert_eq!(allowed.vsize, Some(130));
        assert_eq!(fees.base, Amount::from_sat(2620));
        assert_eq!(
            fees.effective_fee_rate,
            Some(FeeRate::from_sat_per_kwu(5039))
        );
        assert_eq!(fees.effective_includes, [allowed.wtxid]);
    }

    #[test]
    fn warnings_accept_the_pre_28_string() {
        let info = json!({
            "chain": "main", "blocks": 1, "headers": 1,
            "bestblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            "difficulty": 1.0, "time": 1, "mediantime": 1, "verificationprogress": 1.0,
            "initialblockdownload": false, "chainwork": "00", "size_on_disk": 1,
            "pruned": false, "warnings": "this is a pre-release"
        });
        let info: BlockchainInfo = serde_json::from_value(info).expect("Core 27's shape");
        assert_eq!(info.warnings, ["this is a pre-release"]);
        assert_eq!(info.network(), Some(Network::Bitcoin));
        assert_eq!(info.bits, None);
    }

    #[test]
    fn chain_tip_statuses_use_cores_names() {
        let tips: Vec<ChainTip> = serde_json::from_value(json!([
            { "height": 103, "hash": "49f439134f7653769a8d983a190d183d8e535538443f432fd58bc7010f9c8865", "branchlen": 0, "status": "active" },
            { "height": 102, "hash": "5da942097663cc31573ec852d9fac79700e59f993d0670855d953fefb95fb626", "branchlen": 1, "status": "valid-fork" },
            { "height": 102, "hash": "5da942097663cc31573ec852d9fac79700e59f993d0670855d953fefb95fb626", "branchlen": 1, "status": "something-new" }
        ]))
        .expect("Core's shape");
        let statuses: Vec<_> = tips.iter().map(|t| t.status).collect();
        assert_eq!(
            statuses,
            [
                ChainTipStatus::Active,
                ChainTipStatus::ValidFork,
                ChainTipStatus::Unknown
            ]
        );
        assert_eq!(tips[1].branch_len, 1);
    }
}
