//! The devnet's built-in wallet: one BIP32 seed and descriptor-style key chains for the four
//! address types bitcoind offers (`pkh` BIP44, `sh(wpkh)` BIP49, `wpkh` BIP84, `tr` BIP86,
//! the default), each with a receive and a change branch; coin selection and signing.
//!
//! Its coins are read from the chain's UTXO set and mempool, so the wallet has no
//! transaction database to keep consistent through reorgs: the seed, the issued indexes and
//! the labels (`wallet.json`, written before an address is handed out) are its only state.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, TapTweak as _};
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, CompressedPublicKey, Network, OutPoint, PrivateKey, ScriptBuf, Sequence,
    TapSighashType, Transaction, TxIn, TxOut, Witness, absolute, ecdsa, taproot,
};
use serde::{Deserialize, Serialize};

use crate::chain::Chain;
use crate::json::with_checksum;
use crate::params::COINBASE_MATURITY;
use crate::policy::is_dust;

const WALLET_FILE: &str = "wallet.json";
const FORMAT_VERSION: u8 = 1;

/// The wallet's name in `listwallets` and `/wallet/<name>` URLs.
pub const WALLET_NAME: &str = "cairn";

/// Wallet failures, each with bitcoind's RPC code.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// Not enough spendable coins (`-6`).
    #[error("Insufficient funds")]
    InsufficientFunds,
    /// A recipient amount below the dust threshold (`-6`).
    #[error("Transaction amount too small")]
    AmountTooSmall,
    /// Subtracting the fee leaves a recipient with dust (`-6`).
    #[error("The transaction amount is too small to pay the fee")]
    AmountTooSmallForFee,
    /// `wallet.json` could not be read or written (`-4`).
    #[error("wallet storage: {0}")]
    Io(#[from] std::io::Error),
    /// `wallet.json` holds something that does not decode (`-4`).
    #[error("wallet file corrupt: {0}")]
    Corrupt(String),
}

impl WalletError {
    /// bitcoind's RPC error code for this failure.
    pub fn rpc_code(&self) -> i32 {
        match self {
            Self::InsufficientFunds | Self::AmountTooSmall | Self::AmountTooSmallForFee => -6,
            Self::Io(_) | Self::Corrupt(_) => -4,
        }
    }
}

/// The address types of `getnewaddress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// P2PKH (`legacy`).
    Legacy,
    /// P2SH-wrapped P2WPKH (`p2sh-segwit`).
    P2shSegwit,
    /// P2WPKH (`bech32`).
    Bech32,
    /// P2TR key path, BIP86 (`bech32m`).
    Bech32m,
}

impl AddressType {
    const ALL: [Self; 4] = [Self::Legacy, Self::P2shSegwit, Self::Bech32, Self::Bech32m];

    /// Parses bitcoind's `address_type` argument.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "legacy" => Some(Self::Legacy),
            "p2sh-segwit" => Some(Self::P2shSegwit),
            "bech32" => Some(Self::Bech32),
            "bech32m" => Some(Self::Bech32m),
            _ => None,
        }
    }

    fn slot(self) -> usize {
        match self {
            Self::Legacy => 0,
            Self::P2shSegwit => 1,
            Self::Bech32 => 2,
            Self::Bech32m => 3,
        }
    }

    fn purpose(self) -> u32 {
        match self {
            Self::Legacy => 44,
            Self::P2shSegwit => 49,
            Self::Bech32 => 84,
            Self::Bech32m => 86,
        }
    }

    /// Wraps a key expression in this type's descriptor function.
    fn descriptor(self, key: &str) -> String {
        match self {
            Self::Legacy => format!("pkh({key})"),
            Self::P2shSegwit => format!("sh(wpkh({key}))"),
            Self::Bech32 => format!("wpkh({key})"),
            Self::Bech32m => format!("tr({key})"),
        }
    }

    /// Estimated weight of an input of this type, signature included (bitcoind's dummy
    /// signer sizes: 72-byte ECDSA, 65-byte Schnorr).
    fn input_weight(self) -> u64 {
        match self {
            Self::Legacy => (41 + 107) * 4,
            Self::P2shSegwit => (41 + 23) * 4 + 108,
            Self::Bech32 => 41 * 4 + 108,
            Self::Bech32m => 41 * 4 + 67,
        }
    }

    /// The change type bitcoind picks for a recipient script: taproot for taproot, P2WPKH
    /// for segwit v0, else the wallet default.
    fn change_for(script: &ScriptBuf) -> Self {
        if script.is_p2wpkh() || script.is_p2wsh() {
            Self::Bech32
        } else {
            Self::Bech32m
        }
    }
}

/// One derived key the wallet watches.
#[derive(Debug, Clone)]
struct KeyInfo {
    kind: AddressType,
    change: bool,
    index: u32,
    secret: PrivateKey,
    public: CompressedPublicKey,
}

/// A spendable (or soon spendable) wallet coin.
#[derive(Debug, Clone)]
pub struct WalletCoin {
    /// Where it is.
    pub outpoint: OutPoint,
    /// The output.
    pub output: TxOut,
    /// Confirmations (0 in the mempool).
    pub confirmations: u32,
    /// Whether a coinbase created it.
    pub is_coinbase: bool,
    /// Confirmed, or unconfirmed but created by the wallet itself (bitcoind's "trusted").
    pub trusted: bool,
}

impl WalletCoin {
    /// Coinbase outputs need 101 confirmations before the wallet spends them.
    pub fn mature(&self) -> bool {
        !self.is_coinbase || self.confirmations > COINBASE_MATURITY
    }
}

#[derive(Serialize, Deserialize)]
struct WalletFile {
    version: u8,
    seed: String,
    /// Next unused index per address type (legacy, p2sh-segwit, bech32, bech32m) and
    /// branch (receive, change).
    next: [[u32; 2]; 4],
    labels: BTreeMap<String, String>,
}

/// The devnet wallet.
#[derive(Debug)]
pub struct Wallet {
    path: PathBuf,
    secp: Secp256k1<All>,
    seed: [u8; 32],
    master: Xpriv,
    fingerprint: Fingerprint,
    next: [[u32; 2]; 4],
    keys: HashMap<ScriptBuf, KeyInfo>,
    labels: BTreeMap<String, String>,
}

impl Wallet {
    /// Opens the wallet in `dir`, creating one with a fresh random seed if there is none.
    pub fn open(dir: &Path) -> Result<Self, WalletError> {
        let path = dir.join(WALLET_FILE);
        let file = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<WalletFile>(&bytes)
                .map_err(|e| WalletError::Corrupt(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => WalletFile {
                version: FORMAT_VERSION,
                seed: hex::encode(rand::random::<[u8; 32]>()),
                next: [[0; 2]; 4],
                labels: BTreeMap::new(),
            },
            Err(e) => return Err(e.into()),
        };
        if file.version != FORMAT_VERSION {
            return Err(WalletError::Corrupt(format!(
                "unknown version {}",
                file.version
            )));
        }
        let seed: [u8; 32] = hex::decode(&file.seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| WalletError::Corrupt("seed is not 32 hex bytes".into()))?;
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &seed)
            .map_err(|e| WalletError::Corrupt(e.to_string()))?;
        let fingerprint = master.fingerprint(&secp);
        let mut wallet = Self {
            path,
            secp,
            seed,
            master,
            fingerprint,
            next: file.next,
            keys: HashMap::new(),
            labels: file.labels,
        };
        for kind in AddressType::ALL {
            for change in [false, true] {
                for index in 0..wallet.next[kind.slot()][usize::from(change)] {
                    wallet.derive(kind, change, index)?;
                }
            }
        }
        wallet.save()?;
        Ok(wallet)
    }

    /// Hands out the next receive address of `kind` with `label` (persisted first).
    pub fn new_address(&mut self, kind: AddressType, label: &str) -> Result<Address, WalletError> {
        let script = self.next_script(kind, false)?;
        let address = Address::from_script(&script, Network::Regtest)
            .map_err(|e| WalletError::Corrupt(e.to_string()))?;
        if !label.is_empty() {
            self.labels.insert(address.to_string(), label.to_owned());
            self.save()?;
        }
        Ok(address)
    }

    /// The next change script of `kind` (persisted first).
    fn next_script(&mut self, kind: AddressType, change: bool) -> Result<ScriptBuf, WalletError> {
        let slot = &mut self.next[kind.slot()][usize::from(change)];
        let index = *slot;
        *slot += 1;
        let script = self.derive(kind, change, index)?;
        self.save()?;
        Ok(script)
    }

    /// Derives and remembers key `index` of a chain.
    fn derive(
        &mut self,
        kind: AddressType,
        change: bool,
        index: u32,
    ) -> Result<ScriptBuf, WalletError> {
        let path = self.key_path(kind, change, index)?;
        let child = self
            .master
            .derive_priv(&self.secp, &path)
            .map_err(|e| WalletError::Corrupt(e.to_string()))?;
        let secret = child.to_priv();
        let public = CompressedPublicKey::from_private_key(&self.secp, &secret)
            .map_err(|e| WalletError::Corrupt(e.to_string()))?;
        let script = match kind {
            AddressType::Legacy => Address::p2pkh(public, Network::Regtest).script_pubkey(),
            AddressType::P2shSegwit => Address::p2shwpkh(&public, Network::Regtest).script_pubkey(),
            AddressType::Bech32 => Address::p2wpkh(&public, Network::Regtest).script_pubkey(),
            AddressType::Bech32m => {
                let (xonly, _) = public.0.x_only_public_key();
                Address::p2tr(&self.secp, xonly, None, Network::Regtest).script_pubkey()
            }
        };
        self.keys.insert(
            script.clone(),
            KeyInfo {
                kind,
                change,
                index,
                secret,
                public,
            },
        );
        Ok(script)
    }

    fn key_path(
        &self,
        kind: AddressType,
        change: bool,
        index: u32,
    ) -> Result<DerivationPath, WalletError> {
        let hardened = |i| ChildNumber::from_hardened_idx(i);
        let normal = |i| ChildNumber::from_normal_idx(i);
        let steps = [
            hardened(kind.purpose()),
            hardened(1),
            hardened(0),
            normal(u32::from(change)),
            normal(index),
        ];
        steps
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map(DerivationPath::from)
            .map_err(|e| WalletError::Corrupt(e.to_string()))
    }

    /// Writes `wallet.json` atomically (temp file, fsync, rename).
    fn save(&self) -> Result<(), WalletError> {
        let file = WalletFile {
            version: FORMAT_VERSION,
            seed: hex::encode(self.seed),
            next: self.next,
            labels: self.labels.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| WalletError::Corrupt(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut out = fs::File::create(&tmp)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    // ---- reading ---------------------------------------------------------------------------

    /// Whether the wallet holds the key for `script`.
    pub fn is_mine(&self, script: &ScriptBuf) -> bool {
        self.keys.contains_key(script)
    }

    /// The redeem script of a P2SH-wrapped wallet output.
    pub fn redeem_script(&self, script: &ScriptBuf) -> Option<ScriptBuf> {
        let info = self.keys.get(script)?;
        (info.kind == AddressType::P2shSegwit)
            .then(|| ScriptBuf::new_p2wpkh(&info.public.wpubkey_hash()))
    }

    /// The label of an address ("" if none).
    pub fn label(&self, address: &str) -> String {
        self.labels.get(address).cloned().unwrap_or_default()
    }

    /// The key's descriptor with origin, and its parent range descriptor (`listunspent`'s
    /// `desc` and `parent_descs`).
    pub fn descriptors(&self, script: &ScriptBuf) -> Option<(String, String)> {
        let info = self.keys.get(script)?;
        let purpose = info.kind.purpose();
        let branch = u32::from(info.change);
        let key = match info.kind {
            AddressType::Bech32m => info.public.0.x_only_public_key().0.to_string(),
            _ => info.public.to_string(),
        };
        let origin = format!(
            "[{}/{purpose}h/1h/0h/{branch}/{}]{key}",
            self.fingerprint, info.index
        );
        let xpub = Xpub::from_priv(&self.secp, &self.master);
        let parent = format!("{xpub}/{purpose}h/1h/0h/{branch}/*");
        Some((
            with_checksum(&info.kind.descriptor(&origin)),
            with_checksum(&info.kind.descriptor(&parent)),
        ))
    }

    /// The wallet's public range descriptors (`listdescriptors`), receive then change per type.
    pub fn range_descriptors(&self) -> Vec<(String, bool)> {
        let xpub = Xpub::from_priv(&self.secp, &self.master);
        let mut out = Vec::new();
        for kind in AddressType::ALL {
            for change in [false, true] {
                let key = format!("{xpub}/{}h/1h/0h/{}/*", kind.purpose(), u32::from(change));
                out.push((with_checksum(&kind.descriptor(&key)), change));
            }
        }
        out
    }

    /// Every unspent coin paying the wallet: confirmed ones not spent in the mempool, and
    /// mempool outputs not spent by another mempool transaction.
    pub fn coins(&self, chain: &Chain) -> Vec<WalletCoin> {
        let tip = chain.height();
        let mempool = chain.mempool();
        let mut coins: Vec<WalletCoin> = chain
            .utxos()
            .iter()
            .filter(|(op, coin)| {
                self.is_mine(&coin.output.script_pubkey) && mempool.spender(op).is_none()
            })
            .map(|(op, coin)| WalletCoin {
                outpoint: *op,
                output: coin.output.clone(),
                confirmations: tip.saturating_sub(coin.height) + 1,
                is_coinbase: coin.is_coinbase,
                trusted: true,
            })
            .collect();
        for txid in mempool.txids() {
            let Some(entry) = mempool.get(&txid) else {
                continue;
            };
            let trusted = entry.tx.input.iter().all(|i| {
                chain
                    .utxo(&i.previous_output)
                    .map(|c| &c.output)
                    .or_else(|| mempool.output(&i.previous_output))
                    .is_some_and(|o| self.is_mine(&o.script_pubkey))
            });
            for (vout, output) in entry.tx.output.iter().enumerate() {
                let outpoint = OutPoint::new(txid, vout as u32);
                if self.is_mine(&output.script_pubkey) && mempool.spender(&outpoint).is_none() {
                    coins.push(WalletCoin {
                        outpoint,
                        output: output.clone(),
                        confirmations: 0,
                        is_coinbase: false,
                        trusted,
                    });
                }
            }
        }
        coins.sort_by_key(|c| (std::cmp::Reverse(c.confirmations), c.outpoint));
        coins
    }

    /// `getbalance`: trusted, mature coins with at least `minconf` confirmations.
    pub fn balance(&self, chain: &Chain, minconf: u32) -> Amount {
        self.coins(chain)
            .iter()
            .filter(|c| c.trusted && c.mature() && c.confirmations >= minconf)
            .map(|c| c.output.value)
            .sum()
    }

    /// `getreceivedbyaddress`: everything paid to `script` in active blocks with at least
    /// `minconf` confirmations (immature coinbase outputs only if asked), plus the mempool
    /// when `minconf` is 0.
    pub fn received_by(
        chain: &Chain,
        script: &ScriptBuf,
        minconf: u32,
        include_immature: bool,
    ) -> Amount {
        let tip = chain.height();
        let mut total = Amount::ZERO;
        for height in 0..=tip {
            let confirmations = tip - height + 1;
            if confirmations < minconf {
                break;
            }
            let Some(entry) = chain.block_hash_at(height).and_then(|h| chain.block(&h)) else {
                continue;
            };
            for tx in &entry.block.txdata {
                if tx.is_coinbase() && !include_immature && confirmations <= COINBASE_MATURITY {
                    continue;
                }
                total += tx
                    .output
                    .iter()
                    .filter(|o| &o.script_pubkey == script)
                    .map(|o| o.value)
                    .sum::<Amount>();
            }
        }
        if minconf == 0 {
            let mempool = chain.mempool();
            for txid in mempool.txids() {
                if let Some(entry) = mempool.get(&txid) {
                    total += entry
                        .tx
                        .output
                        .iter()
                        .filter(|o| &o.script_pubkey == script)
                        .map(|o| o.value)
                        .sum::<Amount>();
                }
            }
        }
        total
    }

    // ---- spending --------------------------------------------------------------------------

    /// Builds and signs a transaction paying `recipients` at `sat_per_kvb`, choosing coins
    /// largest first and adding a change output unless it would be dust. With
    /// `subtract_fee` the fee comes out of the first recipient's amount.
    pub fn fund(
        &mut self,
        chain: &Chain,
        recipients: &[(ScriptBuf, Amount)],
        sat_per_kvb: u64,
        subtract_fee: bool,
        lock_time: u32,
    ) -> Result<Transaction, WalletError> {
        let outputs: Vec<TxOut> = recipients
            .iter()
            .map(|(script, value)| TxOut {
                value: *value,
                script_pubkey: script.clone(),
            })
            .collect();
        if !subtract_fee && outputs.iter().any(is_dust) {
            return Err(WalletError::AmountTooSmall);
        }
        let change_kind = recipients
            .first()
            .map_or(AddressType::Bech32m, |(s, _)| AddressType::change_for(s));
        let change_probe = self.probe_script(change_kind);

        let mut candidates: Vec<WalletCoin> = self
            .coins(chain)
            .into_iter()
            .filter(|c| c.trusted && c.mature())
            .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse(c.output.value));

        let mut chosen: Vec<WalletCoin> = Vec::new();
        let mut input_weight = 0;
        let mut selected = Amount::ZERO;
        for coin in candidates {
            input_weight += self
                .keys
                .get(&coin.output.script_pubkey)
                .map_or(0, |k| k.kind.input_weight());
            selected += coin.output.value;
            chosen.push(coin);
            let plan = plan_outputs(
                &outputs,
                &change_probe,
                input_weight,
                chosen.len(),
                sat_per_kvb,
                selected,
                subtract_fee,
            )?;
            if let Some(plan) = plan {
                return self.finish(chosen, plan, change_kind, lock_time);
            }
        }
        Err(WalletError::InsufficientFunds)
    }

    /// A placeholder script of `kind` for size estimates (same length as a real one).
    fn probe_script(&self, kind: AddressType) -> ScriptBuf {
        match kind {
            AddressType::Bech32 => ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::all_zeros()),
            _ => ScriptBuf::new_p2tr_tweaked(
                bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(
                    self.master.to_keypair(&self.secp).x_only_public_key().0,
                ),
            ),
        }
    }

    fn finish(
        &mut self,
        chosen: Vec<WalletCoin>,
        plan: OutputPlan,
        change_kind: AddressType,
        lock_time: u32,
    ) -> Result<Transaction, WalletError> {
        let mut outputs = plan.outputs;
        if let Some(change) = plan.change {
            let script = self.next_script(change_kind, true)?;
            outputs.push(TxOut {
                value: change,
                script_pubkey: script,
            });
        }
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::from_consensus(lock_time),
            input: chosen
                .iter()
                .map(|c| TxIn {
                    previous_output: c.outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let spent: Vec<Option<TxOut>> = chosen.into_iter().map(|c| Some(c.output)).collect();
        self.sign(&mut tx, &spent);
        Ok(tx)
    }

    /// Signs every input whose spent output the wallet owns (`SIGHASH_ALL` / taproot
    /// default). Returns the indexes it could not sign. Taproot inputs need every spent
    /// output known.
    pub fn sign(&self, tx: &mut Transaction, spent: &[Option<TxOut>]) -> Vec<usize> {
        let all: Option<Vec<TxOut>> = spent.iter().cloned().collect();
        let mut unsigned = Vec::new();
        for index in 0..tx.input.len() {
            let signed = spent
                .get(index)
                .and_then(Option::as_ref)
                .and_then(|out| Some((out, self.keys.get(&out.script_pubkey)?)))
                .and_then(|(out, key)| self.sign_input(tx, index, out, key, all.as_deref()));
            match signed {
                Some((script_sig, witness)) => {
                    tx.input[index].script_sig = script_sig;
                    tx.input[index].witness = witness;
                }
                None => unsigned.push(index),
            }
        }
        unsigned
    }

    fn sign_input(
        &self,
        tx: &Transaction,
        index: usize,
        spent: &TxOut,
        key: &KeyInfo,
        all: Option<&[TxOut]>,
    ) -> Option<(ScriptBuf, Witness)> {
        let mut cache = SighashCache::new(tx);
        let wpkh_script = ScriptBuf::new_p2wpkh(&key.public.wpubkey_hash());
        let ecdsa_sign = |digest: [u8; 32]| ecdsa::Signature {
            signature: self
                .secp
                .sign_ecdsa(&Message::from_digest(digest), &key.secret.inner),
            sighash_type: EcdsaSighashType::All,
        };
        match key.kind {
            AddressType::Bech32m => {
                let sighash = cache
                    .taproot_key_spend_signature_hash(
                        index,
                        &Prevouts::All(all?),
                        TapSighashType::Default,
                    )
                    .ok()?;
                let keypair = Keypair::from_secret_key(&self.secp, &key.secret.inner);
                let tweaked = keypair.tap_tweak(&self.secp, None).to_keypair();
                let signature = self.secp.sign_schnorr_no_aux_rand(
                    &Message::from_digest(sighash.to_byte_array()),
                    &tweaked,
                );
                let sig = taproot::Signature {
                    signature,
                    sighash_type: TapSighashType::Default,
                };
                Some((ScriptBuf::new(), Witness::p2tr_key_spend(&sig)))
            }
            AddressType::Bech32 | AddressType::P2shSegwit => {
                let sighash = cache
                    .p2wpkh_signature_hash(index, &wpkh_script, spent.value, EcdsaSighashType::All)
                    .ok()?;
                let witness = Witness::p2wpkh(&ecdsa_sign(sighash.to_byte_array()), &key.public.0);
                let script_sig = if key.kind == AddressType::P2shSegwit {
                    let push =
                        bitcoin::script::PushBytesBuf::try_from(wpkh_script.to_bytes()).ok()?;
                    bitcoin::script::Builder::new()
                        .push_slice(push)
                        .into_script()
                } else {
                    ScriptBuf::new()
                };
                Some((script_sig, witness))
            }
            AddressType::Legacy => {
                let sighash = cache
                    .legacy_signature_hash(
                        index,
                        &spent.script_pubkey,
                        EcdsaSighashType::All.to_u32(),
                    )
                    .ok()?;
                let sig = ecdsa_sign(sighash.to_byte_array());
                let script_sig = bitcoin::script::Builder::new()
                    .push_slice(sig.serialize())
                    .push_key(&bitcoin::PublicKey::new(key.public.0))
                    .into_script();
                Some((script_sig, Witness::new()))
            }
        }
    }
}

/// The outputs of a funded transaction before the change script is chosen.
struct OutputPlan {
    outputs: Vec<TxOut>,
    change: Option<Amount>,
}

/// Decides whether `selected` pays for `outputs` plus fee (with or without change); `None`
/// when more coins are needed.
fn plan_outputs(
    outputs: &[TxOut],
    change_probe: &ScriptBuf,
    input_weight: u64,
    input_count: usize,
    sat_per_kvb: u64,
    selected: Amount,
    subtract_fee: bool,
) -> Result<Option<OutputPlan>, WalletError> {
    let weight_of = |o: &TxOut| (8 + 1 + o.script_pubkey.len() as u64) * 4;
    let wide_counts = if input_count >= 253 { 8 } else { 0 };
    // version, locktime, the two counts, segwit marker and flag.
    let base_weight = 10 * 4 + 2 + wide_counts;
    let outputs_weight: u64 = outputs.iter().map(weight_of).sum();
    let fee_for = |extra: u64| {
        let vsize = (base_weight + input_weight + outputs_weight + extra).div_ceil(4);
        Amount::from_sat((sat_per_kvb * vsize).div_ceil(1000))
    };
    let change_probe = TxOut {
        value: Amount::ZERO,
        script_pubkey: change_probe.clone(),
    };
    let (fee_no_change, fee_with_change) = (fee_for(0), fee_for(weight_of(&change_probe)));
    let target: Amount = outputs.iter().map(|o| o.value).sum();
    let spare = |fee: Amount| {
        let cost = if subtract_fee { target } else { target + fee };
        selected.checked_sub(cost)
    };
    let is_dust_change = |value: Amount| {
        is_dust(&TxOut {
            value,
            ..change_probe.clone()
        })
    };

    if let Some(change) = spare(fee_with_change).filter(|c| !is_dust_change(*c)) {
        let outputs = subtract(
            outputs,
            subtract_fee.then_some(fee_with_change),
            Amount::ZERO,
        )?;
        return Ok(Some(OutputPlan {
            outputs,
            change: Some(change),
        }));
    }
    match spare(fee_no_change) {
        // Without change the spare goes to the fee, or back to the recipient when the
        // recipient pays the fee.
        Some(excess) => Ok(Some(OutputPlan {
            outputs: subtract(outputs, subtract_fee.then_some(fee_no_change), excess)?,
            change: None,
        })),
        None => Ok(None),
    }
}

/// Takes `fee` out of the first output (adding `refund` back), refusing to leave it dust.
fn subtract(
    outputs: &[TxOut],
    fee: Option<Amount>,
    refund: Amount,
) -> Result<Vec<TxOut>, WalletError> {
    let mut outputs = outputs.to_vec();
    if let Some(fee) = fee {
        let first = outputs
            .first_mut()
            .ok_or(WalletError::AmountTooSmallForFee)?;
        first.value = first
            .value
            .checked_sub(fee)
            .ok_or(WalletError::AmountTooSmallForFee)?
            + refund;
        if is_dust(first) {
            return Err(WalletError::AmountTooSmallForFee);
        }
    }
    Ok(outputs)
}

/// Parses an address for the devnet (regtest only), as bitcoind's `DecodeDestination` does.
pub fn parse_address(text: &str) -> Option<Address> {
    Address::from_str(text)
        .ok()?
        .require_network(Network::Regtest)
        .ok()
}
