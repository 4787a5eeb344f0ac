//! The payout coordinator (sequencer only). Once per L1 block it takes the finalized
//! unpaid withdrawals (up to [`MAX_PAYOUT_WITHDRAWALS`]), builds one payout from the peg's
//! coins (which sweeps credited deposits into the peg output), persists it, asks every
//! signer, assembles M signatures and broadcasts. An unconfirmed payout is replaced at a
//! higher fee rate every [`BUMP_AFTER_BLOCKS`] blocks, up to the fee ceiling. The watcher
//! ([`Peg::on_update`]) recognises the confirmed transaction and the next L2 block records
//! it; only then does the coordinator propose the next payout.
//!
//! **State file** (`<dir>/payouts.json`, written atomically, version 1): `{version,
//! current, proposed}`. `proposed` maps every txid ever proposed to its withdrawals (the
//! watcher needs them to record whichever version confirms); entries whose withdrawals are
//! all paid in a finalized L2 block are pruned. A file without `version` is version 0,
//! the same shape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::B256;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::Hash as _;
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{XOnlyPublicKey, schnorr};
use bitcoin::{FeeRate, OutPoint, Transaction, TxOut, Txid};
use cairn_l1::Client;
use cairn_peg::Federation;
use cairn_peg::policy::{
    BUMP_AFTER_BLOCKS, FeePolicy, MAX_PAYOUT_INPUTS, MAX_PAYOUT_WITHDRAWALS, PayoutProposal,
    build_payout, build_sweep,
};
use cairn_peg::scripts::multisig_script;
use cairn_peg::sign::{multisig_witness, verify_leaf_signature};
use cairn_storage::Storage;
use serde::{Deserialize, Serialize};

use crate::signer::{spending_set, spent_outpoints};
use crate::wire::{ProposalWire, SignatureSet, SignerApiClient as _};
use crate::{Error, Peg, Result, Signer};

const TARGET: &str = "cairn::payout";

/// The state file format this version writes.
pub const OUTBOX_VERSION: u32 = 1;

/// How the coordinator reaches a signer.
pub enum SignerLink {
    /// A signer in this process (`cairn dev`).
    Local(Arc<Signer>),
    /// A `cairn signer` process, over its signer listener.
    Remote {
        /// Its URL (without credentials).
        url: String,
        /// The typed client, sending the signer's token.
        client: jsonrpsee::http_client::HttpClient,
    },
}

impl SignerLink {
    /// A link to the `cairn signer` at `url`, authenticating with `token` (the signer's
    /// `--signer-rpc-token`, or the secret of its cookie file). A token may also come as
    /// the URL's password (`http://__cookie__:TOKEN@host:port`).
    pub fn remote(url: &str, token: Option<&str>) -> Result<Self> {
        let (plain, from_url) = split_credentials(url);
        let token = token.map(str::to_owned).or(from_url);
        let mut headers = jsonrpsee::http_client::HeaderMap::new();
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().map_err(|_| {
                Error::InvalidProposal(format!(
                    "the token for signer {plain} is not a valid header"
                ))
            })?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let client = jsonrpsee::http_client::HttpClientBuilder::default()
            .request_timeout(std::time::Duration::from_secs(30))
            .set_headers(headers)
            .build(&plain)
            .map_err(|e| Error::InvalidProposal(format!("invalid signer URL {plain}: {e}")))?;
        Ok(Self::Remote { url: plain, client })
    }

    fn name(&self) -> String {
        match self {
            Self::Local(signer) => format!("local signer {}", signer.key()),
            Self::Remote { url, .. } => url.clone(),
        }
    }

    async fn sign(&self, wire: &ProposalWire) -> std::result::Result<SignatureSet, String> {
        match self {
            Self::Local(signer) => {
                let signer = signer.clone();
                let wire = wire.clone();
                tokio::task::spawn_blocking(move || signer.sign_wire(&wire))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            Self::Remote { client, .. } => client
                .sign_payout(wire.clone())
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// `url` without userinfo, and the userinfo's password if there was one.
fn split_credentials(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let password = rest[..at].split_once(':').map(|(_, p)| p.to_owned());
    (format!("{scheme}://{}", &rest[at + 1..]), password)
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

impl PayoutVersion {
    /// The fee rate it was built at (persisted in whole sat/vB).
    fn rate(&self) -> FeeRate {
        FeeRate::from_sat_per_vb(self.sat_per_vb).unwrap_or(FeeRate::MAX)
    }
}

/// The rate a replacement pays: a quarter more, and at least 1 sat/vB more (BIP125's
/// incremental relay fee), in whole sat/vB.
fn bumped(rate: FeeRate) -> FeeRate {
    let old = rate.to_sat_per_vb_ceil();
    FeeRate::from_sat_per_vb(old.saturating_add((old / 4).max(1))).unwrap_or(FeeRate::MAX)
}

/// The payout in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InFlight {
    withdrawals: Vec<u64>,
    versions: Vec<PayoutVersion>,
}

/// What the coordinator persists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outbox {
    #[serde(default)]
    version: u32,
    current: Option<InFlight>,
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
    /// The sequencer key that authorizes its proposals.
    sequencer: Keypair,
}

impl Coordinator {
    /// A coordinator asking `signers`, persisting into `dir`, proposing as the sequencer
    /// of `sequencer` (signers sign only for the active member of the sequencer set).
    pub fn open(
        peg: Arc<Peg>,
        storage: Arc<Storage>,
        client: Client,
        signers: Vec<SignerLink>,
        policy: FeePolicy,
        dir: &Path,
        sequencer: Keypair,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let path = dir.join("payouts.json");
        let outbox: Outbox = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Format {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outbox::default(),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        if outbox.version > OUTBOX_VERSION {
            return Err(Error::Format {
                path,
                reason: format!(
                    "version {} is newer than this node's {OUTBOX_VERSION}",
                    outbox.version
                ),
            });
        }
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
            sequencer,
        })
    }

    fn save(&self, outbox: &mut Outbox) -> Result<()> {
        outbox.version = OUTBOX_VERSION;
        let bytes = serde_json::to_vec_pretty(outbox).map_err(|e| Error::Format {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        cairn_settlement::fsutil::write_atomically(&self.path, &bytes)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// One step after an L1 block: finish, advance or start a payout at `fee_rate` (the
    /// current rate; at least 1 sat/vB, at most the ceiling).
    pub async fn tick(&self, tip: u32, fee_rate: FeeRate) {
        if let Err(e) = self.step(tip, fee_rate.max(FeeRate::BROADCAST_MIN)).await {
            tracing::warn!(target: TARGET, error = %e, "payout step failed; retrying next block");
        }
    }

    async fn step(&self, tip: u32, fee_rate: FeeRate) -> Result<()> {
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
                let key = B256::from(txid.to_byte_array());
                recorded |= self.storage.payout_location(&key)?.is_some();
            }
            let never_signed = current.versions.iter().all(|v| v.signed.is_none());
            if recorded {
                outbox.current = None;
                self.save(&mut outbox)?;
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
        self.prune(&mut outbox, finality.finalized)?;
        let ledger = self.peg.ledger(finality.finalized)?;
        let current = self.peg.current_epoch();
        // Coins of the oldest signer set first: a rotation drains the earlier sets.
        let Some(epoch) = ledger.sources.values().map(|c| c.epoch()).min() else {
            return Ok(());
        };
        if ledger.view.pending.is_empty() && epoch == current {
            return Ok(());
        }
        let federation = self.peg.federation_of(epoch)?;
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
        let rate = fee_rate.min(self.policy.max_fee_rate);
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
        tracing::info!(target: TARGET, txid = %proposal.tx.compute_txid(), withdrawals = ids.len(), inputs = inputs.len(), sat_per_vb = rate.to_sat_per_vb_ceil(), "proposing a payout");
        self.advance(&mut outbox, tip).await
    }

    /// Forgets proposed transactions whose withdrawals are all paid in a finalized L2
    /// block (nothing in flight refers to them).
    fn prune(&self, outbox: &mut Outbox, finalized: u64) -> Result<()> {
        let mut gone = Vec::new();
        for (txid, withdrawals) in &outbox.proposed {
            let settled = if withdrawals.is_empty() {
                let key = B256::from(txid.to_byte_array());
                matches!(self.storage.payout_location(&key)?, Some((block, _)) if block <= finalized)
            } else {
                self.peg.paid_and_final(withdrawals, finalized)?
            };
            if settled {
                gone.push(*txid);
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        for txid in &gone {
            outbox.proposed.remove(txid);
        }
        self.save(outbox)?;
        self.peg.forget_payouts(&gone);
        tracing::debug!(target: TARGET, pruned = gone.len(), "forgot payouts paid in finalized blocks");
        Ok(())
    }

    fn propose(&self, outbox: &mut Outbox, proposal: &PayoutProposal, rate: FeeRate) -> Result<()> {
        let txid = proposal.tx.compute_txid();
        let version = PayoutVersion {
            unsigned: serialize_hex(&proposal.tx),
            sat_per_vb: rate.to_sat_per_vb_ceil(),
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

    async fn advance(&self, outbox: &mut Outbox, tip: u32) -> Result<()> {
        let (current, latest) = in_flight(outbox)?;
        let latest = &latest;
        match (&latest.signed, latest.broadcast_at) {
            (None, _) => self.sign_and_send(outbox, tip).await,
            (Some(_), Some(at))
                if tip >= at + BUMP_AFTER_BLOCKS && latest.rate() < self.policy.max_fee_rate =>
            {
                let rate = bumped(latest.rate()).min(self.policy.max_fee_rate);
                let old: Transaction = deserialize_hex(&latest.unsigned)?;
                let inputs = spent_outpoints(&old);
                let finality = self
                    .storage
                    .finality()
                    .ok_or(Error::State("no finalized block"))?;
                let ledger = self.peg.ledger(finality.finalized)?;
                let (_, federation) = spending_set(&self.peg, &ledger, &old)?;
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
                tracing::info!(target: TARGET, replaces = %old.compute_txid(), txid = %proposal.tx.compute_txid(), sat_per_vb = rate.to_sat_per_vb_ceil(), "replacing an unconfirmed payout at a higher fee rate");
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
    async fn sign_and_send(&self, outbox: &mut Outbox, tip: u32) -> Result<()> {
        let (current, latest) = in_flight(outbox)?;
        let proposal = PayoutProposal {
            tx: deserialize_hex(&latest.unsigned)?,
            withdrawals: current.withdrawals.clone(),
        };
        let inputs = spent_outpoints(&proposal.tx);
        let ledger = self.peg.ledger(0)?;
        let (_, federation) = spending_set(&self.peg, &ledger, &proposal.tx)?;
        let prevouts = ledger.prevouts(&inputs)?;
        let leaf = multisig_script(&federation.signers);
        let wire = ProposalWire::of(&proposal, &self.sequencer);
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
                .ok_or(Error::NotAPegCoin(input.previous_output))?;
            let tree = self.peg.coin_tree(source)?;
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
fn in_flight(outbox: &Outbox) -> Result<(InFlight, PayoutVersion)> {
    let current = outbox
        .current
        .clone()
        .ok_or(Error::State("no payout in flight"))?;
    let latest = current
        .versions
        .last()
        .cloned()
        .ok_or(Error::State("a payout without versions"))?;
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
    federation: &Federation,
) -> std::result::Result<(XOnlyPublicKey, Vec<schnorr::Signature>), String> {
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

#[cfg(test)]
mod tests {
    use super::split_credentials;

    #[test]
    fn replacements_pay_a_quarter_more_and_at_least_one_sat_per_vbyte() {
        use bitcoin::FeeRate;
        let vb = FeeRate::from_sat_per_vb_u32;
        assert_eq!(super::bumped(vb(2)), vb(3));
        assert_eq!(super::bumped(vb(8)), vb(10));
        assert_eq!(super::bumped(vb(200)), vb(250));
    }

    #[test]
    fn credentials_come_off_the_signer_url() {
        assert_eq!(
            split_credentials("http://__cookie__:abc@127.0.0.1:9000/x"),
            ("http://127.0.0.1:9000/x".to_owned(), Some("abc".to_owned()))
        );
        assert_eq!(
            split_credentials("http://127.0.0.1:9000"),
            ("http://127.0.0.1:9000".to_owned(), None)
        );
    }
}
