//! Paying withdrawals on Bitcoin: the signers and the coordinator.
//!
//! - A [`Signer`] holds one federation key. Asked to sign a payout, it rebuilds the peg's
//!   ledger from its own node's L2 state ([`Peg::ledger`]: on a `cairn signer` that state
//!   is derived from Bitcoin by the signer itself) and signs only what
//!   [`cairn_peg::policy::check_payout`] accepts. It also refuses to put a withdrawal into
//!   a second transaction that would not conflict with the first (shares no input), so two
//!   payouts of one withdrawal can never both confirm; RBF replacements, which spend the
//!   same coins, are fine. What it signed is journaled (fsync) before it answers.
//! - The [`Coordinator`] runs on the sequencer. Once per L1 block it takes the finalized
//!   unpaid withdrawals (up to [`MAX_PAYOUT_WITHDRAWALS`]), builds one payout from the
//!   peg's coins (which sweeps credited deposits into the peg output), persists it, asks
//!   every signer, assembles M signatures and broadcasts. An unconfirmed payout is
//!   replaced at a higher fee rate every [`BUMP_AFTER_BLOCKS`] blocks, up to the fee
//!   ceiling. The watcher ([`Peg::on_update`]) recognises the confirmed transaction and the
//!   next L2 block records it; only then does the coordinator propose the next payout.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{XOnlyPublicKey, schnorr};
use bitcoin::{OutPoint, Transaction, TxOut, Txid};
use cairn_l1::Client;
use cairn_peg::Federation;
use cairn_peg::policy::{
    FeePolicy, PayoutProposal, build_payout, build_sweep, check_payout, check_sweep,
};
use cairn_peg::scripts::multisig_script;
use cairn_peg::sign::{multisig_witness, sign_leaf, verify_leaf_signature};
use cairn_storage::Storage;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::peg::{Ledger, Peg};

const TARGET: &str = "cairn::payout";

/// Most withdrawals one payout pays.
pub const MAX_PAYOUT_WITHDRAWALS: usize = 100;
/// Most peg coins one payout spends.
pub const MAX_PAYOUT_INPUTS: usize = 50;
/// Bitcoin blocks an unconfirmed payout waits before it is replaced at a higher fee rate.
pub const BUMP_AFTER_BLOCKS: u32 = 3;
/// Default fee ceiling of signers and coordinator, sat/vB.
pub const DEFAULT_MAX_FEE_RATE: u64 = 200;

/// A payout proposal as `cairn_signPayout` carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalWire {
    /// The unsigned transaction, hex.
    pub tx: String,
    /// The withdrawal ids its leading outputs pay.
    pub withdrawals: Vec<u64>,
}

/// A signer's answer: its key and one BIP340 signature per input, hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureSet {
    /// The signer's x-only key.
    pub signer: String,
    /// Signature of each input, in input order.
    pub signatures: Vec<String>,
}

impl ProposalWire {
    fn of(proposal: &PayoutProposal) -> Self {
        Self {
            tx: serialize_hex(&proposal.tx),
            withdrawals: proposal.withdrawals.clone(),
        }
    }

    fn decode(&self) -> Result<PayoutProposal, String> {
        let tx: Transaction =
            deserialize_hex(&self.tx).map_err(|e| format!("undecodable transaction: {e}"))?;
        Ok(PayoutProposal {
            tx,
            withdrawals: self.withdrawals.clone(),
        })
    }
}

/// One payout a signer signed, as its journal keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedEntry {
    txid: Txid,
    inputs: Vec<OutPoint>,
    withdrawals: Vec<u64>,
}

/// A federation member that checks before it signs.
pub struct Signer {
    peg: Arc<Peg>,
    storage: Arc<Storage>,
    keypair: Keypair,
    policy: FeePolicy,
    journal: PathBuf,
    /// What it signed; the lock also serializes signing.
    signed: Mutex<Vec<SignedEntry>>,
}

impl Signer {
    /// The signer of `keypair`, journaling into `dir`. Refuses a key that is not one of
    /// the federation's.
    pub fn open(
        peg: Arc<Peg>,
        storage: Arc<Storage>,
        keypair: Keypair,
        policy: FeePolicy,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let key = keypair.x_only_public_key().0;
        anyhow::ensure!(
            peg.epochs()
                .iter()
                .any(|e| e.federation.signers.keys.contains(&key)),
            "signer key {key} is not one of the federation's signers in rollup.json"
        );
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let journal = dir.join(format!("signed-{}.jsonl", &key.to_string()[..16]));
        let mut signed = Vec::new();
        match std::fs::read_to_string(&journal) {
            Ok(text) => {
                // A torn last line was never answered: nobody holds that signature.
                signed.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("cannot read {}", journal.display())),
        }
        Ok(Self {
            peg,
            storage,
            keypair,
            policy,
            journal,
            signed: Mutex::new(signed),
        })
    }

    /// This signer's key.
    pub fn key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    /// Checks `proposal` against this node's own state and signs every input, or says
    /// why not.
    pub fn sign(&self, proposal: &PayoutProposal) -> Result<Vec<schnorr::Signature>, String> {
        let Some(finality) = self.storage.finality() else {
            return Err("refused: this signer's node has no finalized L2 block yet".into());
        };
        let ledger = self
            .peg
            .ledger(finality.finalized)
            .map_err(|e| format!("cannot read the peg's state: {e}"))?;
        let (epoch, federation) =
            spending_set(&self.peg, &ledger, &proposal.tx).map_err(|e| format!("refused: {e}"))?;
        if !federation.signers.keys.contains(&self.key()) {
            return Err(format!(
                "refused: this signer is not in signer set {epoch}, whose coins the payout spends"
            ));
        }
        if proposal.withdrawals.is_empty() && epoch == self.peg.current_epoch() {
            return Err(
                "refused: a payout without withdrawals only sweeps an earlier signer set's coins"
                    .into(),
            );
        }
        let checked = if proposal.withdrawals.is_empty() {
            check_sweep(proposal, &ledger.view, federation, &self.policy)
        } else {
            check_payout(proposal, &ledger.view, federation, &self.policy)
        };
        checked.map_err(|e| format!("refused: {e}"))?;
        let txid = proposal.tx.compute_txid();
        let inputs = spent_outpoints(&proposal.tx);
        let mut signed = self.signed.lock();
        let spent: HashSet<&OutPoint> = inputs.iter().collect();
        for earlier in signed.iter().filter(|e| e.txid != txid) {
            let conflicts = earlier.inputs.iter().any(|i| spent.contains(i));
            if let Some(id) = earlier
                .withdrawals
                .iter()
                .find(|id| proposal.withdrawals.contains(id))
                && !conflicts
            {
                return Err(format!(
                    "refused: withdrawal {id} is already in payout {}, which this one would not replace",
                    earlier.txid
                ));
            }
        }
        if !signed.iter().any(|e| e.txid == txid) {
            let entry = SignedEntry {
                txid,
                inputs: inputs.clone(),
                withdrawals: proposal.withdrawals.clone(),
            };
            append_line(&self.journal, &entry)
                .map_err(|e| format!("cannot journal the signature: {e}"))?;
            signed.push(entry);
        }
        drop(signed);
        let prevouts = prevouts(&ledger, &inputs)?;
        let leaf = multisig_script(&federation.signers);
        (0..inputs.len())
            .map(|index| {
                sign_leaf(&self.keypair, &proposal.tx, index, &prevouts, &leaf)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    /// [`Signer::sign`] for a proposal off the wire.
    pub fn sign_wire(&self, wire: &ProposalWire) -> Result<SignatureSet, String> {
        let signatures = self.sign(&wire.decode()?)?;
        Ok(SignatureSet {
            signer: self.key().to_string(),
            signatures: signatures.iter().map(|s| hex::encode(s.as_ref())).collect(),
        })
    }
}

impl cairn_rpc::SignerSource for Signer {
    fn sign_payout(&self, proposal: serde_json::Value) -> Result<serde_json::Value, String> {
        let wire: ProposalWire = serde_json::from_value(proposal)
            .map_err(|e| format!("invalid proposal: {e} (expected {{tx, withdrawals}})"))?;
        let set = self.sign_wire(&wire)?;
        serde_json::to_value(set).map_err(|e| e.to_string())
    }
}

/// The coins `tx` spends, in input order.
fn spent_outpoints(tx: &Transaction) -> Vec<OutPoint> {
    tx.input.iter().map(|i| i.previous_output).collect()
}

/// The signer set whose coins `tx` spends (all its inputs must be of one set).
fn spending_set<'a>(
    peg: &'a Peg,
    ledger: &Ledger,
    tx: &Transaction,
) -> Result<(u16, &'a Federation), String> {
    let mut epoch = None;
    for input in &tx.input {
        let source = ledger
            .sources
            .get(&input.previous_output)
            .ok_or_else(|| format!("input {} is not a peg coin", input.previous_output))?;
        match epoch {
            None => epoch = Some(source.epoch()),
            Some(e) if e == source.epoch() => {}
            Some(_) => return Err("the inputs belong to different signer sets".into()),
        }
    }
    let epoch = epoch.ok_or("the payout spends nothing")?;
    let federation = peg
        .federation_of(epoch)
        .ok_or_else(|| format!("there is no signer set {epoch}"))?;
    Ok((epoch, federation))
}

fn prevouts(ledger: &Ledger, inputs: &[OutPoint]) -> Result<Vec<TxOut>, String> {
    inputs
        .iter()
        .map(|i| {
            ledger
                .view
                .coins
                .get(i)
                .cloned()
                .ok_or_else(|| format!("input {i} is not a peg coin"))
        })
        .collect()
}

fn append_line(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}

/// How the coordinator reaches a signer.
pub enum SignerLink {
    /// A signer in this process (`cairn dev`).
    Local(Arc<Signer>),
    /// A `cairn signer` process, over its JSON-RPC.
    Remote {
        /// Its URL.
        url: String,
        /// The client.
        client: jsonrpsee::http_client::HttpClient,
    },
}

impl SignerLink {
    /// A link to the `cairn signer` serving JSON-RPC at `url`.
    pub fn remote(url: &str) -> anyhow::Result<Self> {
        let client = jsonrpsee::http_client::HttpClientBuilder::default()
            .request_timeout(std::time::Duration::from_secs(30))
            .build(url)
            .with_context(|| format!("invalid signer URL {url}"))?;
        Ok(Self::Remote {
            url: url.to_owned(),
            client,
        })
    }

    fn name(&self) -> String {
        match self {
            Self::Local(signer) => format!("local signer {}", signer.key()),
            Self::Remote { url, .. } => url.clone(),
        }
    }

    async fn sign(&self, wire: &ProposalWire) -> Result<SignatureSet, String> {
        match self {
            Self::Local(signer) => {
                let signer = signer.clone();
                let wire = wire.clone();
                tokio::task::spawn_blocking(move || signer.sign_wire(&wire))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Self::Remote { client, .. } => {
                use jsonrpsee::core::client::ClientT as _;
                client
                    .request("cairn_signPayout", jsonrpsee::rpc_params![wire])
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// One version of a payout (replacements raise the fee rate).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayoutVersion {
    unsigned: String,
    sat_per_vb: u64,
    signed: Option<String>,
    broadcast_at: Option<u32>,
}

/// The payout in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InFlight {
    withdrawals: Vec<u64>,
    versions: Vec<PayoutVersion>,
}

/// What the coordinator persists (`<data-dir>/peg/payouts.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outbox {
    current: Option<InFlight>,
    /// Every transaction ever proposed → the withdrawals it pays (the watcher needs them
    /// to record whichever version confirms).
    proposed: BTreeMap<Txid, Vec<u64>>,
}

/// Proposes payouts, collects signatures, broadcasts and bumps them (sequencer only).
pub struct Coordinator {
    peg: Arc<Peg>,
    storage: Arc<Storage>,
    client: Client,
    signers: Vec<SignerLink>,
    policy: FeePolicy,
    path: PathBuf,
    outbox: tokio::sync::Mutex<Outbox>,
}

impl Coordinator {
    /// A coordinator asking `signers`, persisting into `dir`.
    pub fn open(
        peg: Arc<Peg>,
        storage: Arc<Storage>,
        client: Client,
        signers: Vec<SignerLink>,
        policy: FeePolicy,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("payouts.json");
        let outbox: Outbox = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("cannot parse {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outbox::default(),
            Err(e) => return Err(e).context(format!("cannot read {}", path.display())),
        };
        for (txid, withdrawals) in &outbox.proposed {
            peg.expect_payout(*txid, withdrawals.clone());
        }
        tracing::info!(target: TARGET, signers = signers.len(), names = ?signers.iter().map(SignerLink::name).collect::<Vec<_>>(), "payout coordinator ready");
        Ok(Self {
            peg,
            storage,
            client,
            signers,
            policy,
            path,
            outbox: tokio::sync::Mutex::new(outbox),
        })
    }

    fn save(&self, outbox: &Outbox) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(outbox)?;
        cairn_settlement::fsutil::write_atomically(&self.path, &bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// One step after an L1 block: finish, advance or start a payout. `sat_per_vb` is the
    /// current fee rate.
    pub async fn tick(&self, tip: u32, sat_per_vb: u64) {
        if let Err(e) = self.step(tip, sat_per_vb.max(1)).await {
            tracing::warn!(target: TARGET, error = %e, "payout step failed; retrying next block");
        }
    }

    async fn step(&self, tip: u32, sat_per_vb: u64) -> anyhow::Result<()> {
        let mut outbox = self.outbox.lock().await;
        if let Some(current) = &outbox.current {
            let txids: Vec<Txid> = current
                .versions
                .iter()
                .filter_map(|v| deserialize_hex::<Transaction>(&v.unsigned).ok())
                .map(|tx| tx.compute_txid())
                .collect();
            let mut recorded = false;
            for txid in &txids {
                let key = alloy_primitives::B256::from(bitcoin::hashes::Hash::to_byte_array(*txid));
                recorded |= self.storage.payout_location(&key)?.is_some();
            }
            let never_signed = current.versions.iter().all(|v| v.signed.is_none());
            if recorded {
                outbox.current = None;
                self.save(&outbox)?;
            } else if txids.iter().any(|t| self.peg.payout_confirmed(t)) {
                return Ok(());
            } else if never_signed {
                // Not enough signers yet: propose afresh from the state as it is now (a
                // rotation may have passed, more withdrawals may be due). The new proposal
                // spends the same coins, so signers accept it in place of the old one.
                outbox.current = None;
            } else {
                return self.advance(&mut outbox, tip).await;
            }
        }
        let Some(finality) = self.storage.finality() else {
            return Ok(());
        };
        let ledger = self.peg.ledger(finality.finalized)?;
        let current = self.peg.current_epoch();
        // Coins of the oldest signer set first: a rotation drains the earlier sets.
        let Some(epoch) = ledger.sources.values().map(|c| c.epoch()).min() else {
            return Ok(());
        };
        if ledger.view.pending.is_empty() && epoch == current {
            return Ok(());
        }
        let federation = self
            .peg
            .federation_of(epoch)
            .context("a coin of an unknown signer set")?;
        let mut coins: Vec<(OutPoint, u64)> = ledger
            .view
            .coins
            .iter()
            .filter(|(o, _)| ledger.sources.get(o).map(|c| c.epoch()) == Some(epoch))
            .map(|(o, c)| (*o, c.value.to_sat()))
            .collect();
        coins.sort_by_key(|(o, value)| (std::cmp::Reverse(*value), *o));
        coins.truncate(MAX_PAYOUT_INPUTS);
        let available: u64 = coins.iter().map(|(_, v)| v).sum();
        let mut ids: Vec<u64> = ledger
            .view
            .pending
            .keys()
            .copied()
            .take(MAX_PAYOUT_WITHDRAWALS)
            .collect();
        let amount = |ids: &[u64]| -> u64 {
            ids.iter()
                .map(|id| ledger.view.pending[id].amount.to_sat())
                .sum()
        };
        while !ids.is_empty() && amount(&ids) > available {
            ids.pop();
        }
        let rate = sat_per_vb.min(self.policy.max_sat_per_vb);
        let inputs: Vec<OutPoint> = coins.iter().map(|(o, _)| *o).collect();
        let proposal = if !ids.is_empty() {
            build_payout(&ledger.view, federation, &inputs, &ids, rate)?
        } else if epoch < current {
            tracing::info!(target: TARGET, from = epoch, to = current, coins = inputs.len(), "moving an earlier signer set's coins to the current peg output");
            build_sweep(&ledger.view, federation, &inputs, rate)?
        } else {
            tracing::warn!(target: TARGET, available, "the peg's coins do not cover the next withdrawal");
            return Ok(());
        };
        self.propose(&mut outbox, &proposal, rate)?;
        tracing::info!(target: TARGET, txid = %proposal.tx.compute_txid(), withdrawals = ids.len(), inputs = inputs.len(), sat_per_vb = rate, "proposing a payout");
        self.advance(&mut outbox, tip).await
    }

    fn propose(
        &self,
        outbox: &mut Outbox,
        proposal: &PayoutProposal,
        sat_per_vb: u64,
    ) -> anyhow::Result<()> {
        let txid = proposal.tx.compute_txid();
        let version = PayoutVersion {
            unsigned: serialize_hex(&proposal.tx),
            sat_per_vb,
            signed: None,
            broadcast_at: None,
        };
        match &mut outbox.current {
            Some(current) => current.versions.push(version),
            None => {
                outbox.current = Some(InFlight {
                    withdrawals: proposal.withdrawals.clone(),
                    versions: vec![version],
                });
            }
        }
        outbox.proposed.insert(txid, proposal.withdrawals.clone());
        // Persisted before any signer sees it: whatever gets signed is known after a crash.
        self.save(outbox)?;
        self.peg.expect_payout(txid, proposal.withdrawals.clone());
        Ok(())
    }

    async fn advance(&self, outbox: &mut Outbox, tip: u32) -> anyhow::Result<()> {
        let (current, latest) = in_flight(outbox)?;
        let latest = &latest;
        match (&latest.signed, latest.broadcast_at) {
            (None, _) => self.sign_and_send(outbox, tip).await,
            (Some(_), Some(at))
                if tip >= at + BUMP_AFTER_BLOCKS
                    && latest.sat_per_vb < self.policy.max_sat_per_vb =>
            {
                let rate = (latest.sat_per_vb + latest.sat_per_vb / 4)
                    .max(latest.sat_per_vb + 1)
                    .min(self.policy.max_sat_per_vb);
                let old: Transaction = deserialize_hex(&latest.unsigned)?;
                let inputs = spent_outpoints(&old);
                let finality = self.storage.finality().context("no finalized block")?;
                let ledger = self.peg.ledger(finality.finalized)?;
                let (_, federation) =
                    spending_set(&self.peg, &ledger, &old).map_err(anyhow::Error::msg)?;
                let proposal = if current.withdrawals.is_empty() {
                    build_sweep(&ledger.view, federation, &inputs, rate)?
                } else {
                    build_payout(
                        &ledger.view,
                        federation,
                        &inputs,
                        &current.withdrawals,
                        rate,
                    )?
                };
                tracing::info!(target: TARGET, replaces = %old.compute_txid(), txid = %proposal.tx.compute_txid(), sat_per_vb = rate, "replacing an unconfirmed payout at a higher fee rate");
                self.propose(outbox, &proposal, rate)?;
                self.sign_and_send(outbox, tip).await
            }
            (Some(signed), _) => {
                let tx: Transaction = deserialize_hex(signed)?;
                if let Err(e) = self.client.send_raw_transaction(&tx).await {
                    tracing::debug!(target: TARGET, txid = %tx.compute_txid(), error = %e, "rebroadcast");
                }
                if latest.broadcast_at.is_none() {
                    set_latest(outbox, |v| v.broadcast_at = Some(tip));
                    self.save(outbox)?;
                }
                Ok(())
            }
        }
    }

    /// Asks every signer for the latest version, assembles M signatures, broadcasts.
    async fn sign_and_send(&self, outbox: &mut Outbox, tip: u32) -> anyhow::Result<()> {
        let (current, latest) = in_flight(outbox)?;
        let latest = &latest;
        let proposal = PayoutProposal {
            tx: deserialize_hex(&latest.unsigned)?,
            withdrawals: current.withdrawals.clone(),
        };
        let inputs = spent_outpoints(&proposal.tx);
        let ledger = self.peg.ledger(0)?;
        let (_, federation) =
            spending_set(&self.peg, &ledger, &proposal.tx).map_err(anyhow::Error::msg)?;
        let prevouts = prevouts(&ledger, &inputs).map_err(anyhow::Error::msg)?;
        let leaf = multisig_script(&federation.signers);
        let wire = ProposalWire::of(&proposal);
        // Local signers outside the spending set would only refuse; remote ones say who
        // they are by answering.
        let asked: Vec<&SignerLink> = self
            .signers
            .iter()
            .filter(|link| match link {
                SignerLink::Local(signer) => federation.signers.keys.contains(&signer.key()),
                SignerLink::Remote { .. } => true,
            })
            .collect();
        let answers = futures::future::join_all(asked.iter().map(|s| s.sign(&wire))).await;
        let mut by_key: BTreeMap<XOnlyPublicKey, Vec<schnorr::Signature>> = BTreeMap::new();
        for (link, answer) in asked.iter().zip(answers) {
            match answer.and_then(|set| valid_set(&set, &proposal.tx, &prevouts, &leaf, federation))
            {
                Ok((key, signatures)) => {
                    by_key.insert(key, signatures);
                }
                Err(reason) => {
                    tracing::warn!(target: TARGET, signer = link.name(), %reason, "no signature");
                }
            }
        }
        let threshold = federation.signers.threshold;
        if by_key.len() < threshold {
            tracing::warn!(target: TARGET, have = by_key.len(), need = threshold, "not enough signatures for the payout; asking again next block");
            return Ok(());
        }
        let mut tx = proposal.tx.clone();
        for (index, input) in tx.input.iter_mut().enumerate() {
            let source = ledger
                .sources
                .get(&input.previous_output)
                .copied()
                .context("a payout input has no known source")?;
            let tree = self.peg.coin_tree(source).map_err(anyhow::Error::msg)?;
            let control = tree.control_block(&leaf)?;
            let signatures = by_key
                .iter()
                .map(|(key, sigs)| (*key, sigs[index]))
                .collect();
            input.witness = multisig_witness(&federation.signers, &signatures, &leaf, &control)?;
        }
        set_latest(outbox, |v| v.signed = Some(serialize_hex(&tx)));
        self.save(outbox)?;
        cairn_settlement::failpoint("payout-signed");
        let txid = tx.compute_txid();
        match self.client.send_raw_transaction(&tx).await {
            Ok(_) => {
                cairn_settlement::failpoint("payout-broadcast");
                tracing::info!(target: TARGET, %txid, withdrawals = current.withdrawals.len(), signatures = by_key.len(), "payout broadcast");
                set_latest(outbox, |v| v.broadcast_at = Some(tip));
                self.save(outbox)?;
            }
            Err(e) => {
                tracing::warn!(target: TARGET, %txid, error = %e, "Bitcoin refused the payout");
            }
        }
        Ok(())
    }
}

/// The payout in flight and its latest version.
fn in_flight(outbox: &Outbox) -> anyhow::Result<(InFlight, PayoutVersion)> {
    let current = outbox.current.clone().context("no payout in flight")?;
    let latest = current
        .versions
        .last()
        .cloned()
        .context("a payout without versions")?;
    Ok((current, latest))
}

fn set_latest(outbox: &mut Outbox, change: impl FnOnce(&mut PayoutVersion)) {
    if let Some(version) = outbox.current.as_mut().and_then(|c| c.versions.last_mut()) {
        change(version);
    }
}

/// A signer's answer, checked: a federation key and a valid signature for every input.
fn valid_set(
    set: &SignatureSet,
    tx: &Transaction,
    prevouts: &[TxOut],
    leaf: &bitcoin::ScriptBuf,
    federation: &cairn_peg::Federation,
) -> Result<(XOnlyPublicKey, Vec<schnorr::Signature>), String> {
    let key: XOnlyPublicKey = set
        .signer
        .parse()
        .map_err(|e| format!("bad signer key: {e}"))?;
    if !federation.signers.keys.contains(&key) {
        return Err(format!("{key} is not a federation signer"));
    }
    if set.signatures.len() != tx.input.len() {
        return Err(format!(
            "{} signatures for {} inputs",
            set.signatures.len(),
            tx.input.len()
        ));
    }
    let mut signatures = Vec::with_capacity(set.signatures.len());
    for (index, text) in set.signatures.iter().enumerate() {
        let bytes = hex::decode(text).map_err(|e| format!("bad signature hex: {e}"))?;
        let signature =
            schnorr::Signature::from_slice(&bytes).map_err(|e| format!("bad signature: {e}"))?;
        if !verify_leaf_signature(&key, &signature, tx, index, prevouts, leaf) {
            return Err(format!("signature of input {index} does not verify"));
        }
        signatures.push(signature);
    }
    Ok((key, signatures))
}
