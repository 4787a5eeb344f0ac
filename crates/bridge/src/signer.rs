//! A federation member that checks before it signs.
//!
//! Asked to sign a payout, a [`Signer`] rebuilds the peg's ledger from its own node's L2
//! state ([`Peg::ledger`]: on a `cairn signer` that state is derived from Bitcoin by the
//! signer itself) and signs only what [`cairn_peg::policy::check_payout`] accepts. It also
//! refuses to put a withdrawal into a second transaction that would not conflict with the
//! first (shares no input), so two payouts of one withdrawal can never both confirm; RBF
//! replacements, which spend the same coins, are fine.
//!
//! **Journal** (`<dir>/signed-<key prefix>.jsonl`, version 1): a header line
//! `{"cairnSignerJournal":1}`, then one `{txid, inputs, withdrawals}` per payout signed,
//! appended and fsynced before the signatures leave. Entries whose withdrawals are all paid
//! by a payout recorded in a finalized L2 block are pruned (the file is rewritten
//! atomically): such withdrawals can never be signed again anyway. Files without the header
//! (version 0) are read as they are.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::B256;
use bitcoin::hashes::Hash as _;
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{XOnlyPublicKey, schnorr};
use bitcoin::{OutPoint, Transaction, Txid};
use cairn_peg::policy::{FeePolicy, PayoutProposal, check_payout, check_sweep};
use cairn_peg::scripts::multisig_script;
use cairn_peg::sign::sign_leaf;
use cairn_peg::{CoinSource, Federation};
use cairn_storage::Storage;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::wire::{ProposalWire, SignatureSet};
use crate::{Error, Ledger, Peg, Result};

const TARGET: &str = "cairn::signer";

/// The journal format this version writes.
pub const JOURNAL_VERSION: u32 = 1;

/// One payout a signer signed, as its journal keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedEntry {
    txid: Txid,
    inputs: Vec<OutPoint>,
    withdrawals: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JournalHeader {
    cairn_signer_journal: u32,
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
    /// The sequencer set's member this node's derivation makes active: the only one
    /// whose proposals it signs.
    active: ActiveSequencer,
}

/// The sequencer whose turn it is, as a node's derivation says (`None` until it knows):
/// the settlement task writes it, signers read it.
pub type ActiveSequencer = Arc<parking_lot::RwLock<Option<XOnlyPublicKey>>>;

impl Signer {
    /// The signer of `keypair`, journaling into `dir`. Refuses a key that is not one of
    /// the federation's.
    pub fn open(
        peg: Arc<Peg>,
        storage: Arc<Storage>,
        keypair: Keypair,
        policy: FeePolicy,
        dir: &Path,
        active: ActiveSequencer,
    ) -> Result<Self> {
        let key = keypair.x_only_public_key().0;
        if !peg
            .epochs()
            .iter()
            .any(|e| e.federation.signers.keys.contains(&key))
        {
            return Err(Error::NotASigner(key));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let journal = dir.join(format!("signed-{}.jsonl", &key.to_string()[..16]));
        let signed = read_journal(&journal)?;
        Ok(Self {
            peg,
            storage,
            keypair,
            policy,
            journal,
            signed: Mutex::new(signed),
            active,
        })
    }

    /// This signer's key.
    pub fn key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    /// Checks `proposal` against this node's own state and signs every input, or says
    /// why not.
    pub fn sign(&self, proposal: &PayoutProposal) -> Result<Vec<schnorr::Signature>> {
        let refused = |reason: String| Error::Refused(reason);
        let Some(finality) = self.storage.finality() else {
            return Err(refused(
                "this signer's node has no finalized L2 block yet".into(),
            ));
        };
        let ledger = self.peg.ledger(finality.finalized)?;
        let (epoch, federation) = spending_set(&self.peg, &ledger, &proposal.tx)?;
        if !federation.signers.keys.contains(&self.key()) {
            return Err(refused(format!(
                "this signer is not in signer set {epoch}, whose coins the payout spends"
            )));
        }
        if proposal.withdrawals.is_empty() && epoch == self.peg.current_epoch() {
            return Err(refused(
                "a payout without withdrawals only sweeps an earlier signer set's coins".into(),
            ));
        }
        let checked = if proposal.withdrawals.is_empty() {
            check_sweep(proposal, &ledger.view, federation, &self.policy)
        } else {
            check_payout(proposal, &ledger.view, federation, &self.policy)
        };
        checked.map_err(|e| refused(e.to_string()))?;
        let txid = proposal.tx.compute_txid();
        let inputs = spent_outpoints(&proposal.tx);
        let mut signed = self.signed.lock();
        self.prune(&mut signed, finality.finalized);
        let spent: HashSet<&OutPoint> = inputs.iter().collect();
        for earlier in signed.iter().filter(|e| e.txid != txid) {
            let conflicts = earlier.inputs.iter().any(|i| spent.contains(i));
            if let Some(id) = earlier
                .withdrawals
                .iter()
                .find(|id| proposal.withdrawals.contains(id))
                && !conflicts
            {
                return Err(refused(format!(
                    "withdrawal {id} is already in payout {}, which this one would not replace",
                    earlier.txid
                )));
            }
        }
        if !signed.iter().any(|e| e.txid == txid) {
            let entry = SignedEntry {
                txid,
                inputs: inputs.clone(),
                withdrawals: proposal.withdrawals.clone(),
            };
            append_entry(&self.journal, &entry)?;
            signed.push(entry);
        }
        drop(signed);
        let prevouts = ledger.prevouts(&inputs)?;
        let leaf = multisig_script(&federation.signers);
        (0..inputs.len())
            .map(|index| {
                Ok(sign_leaf(
                    &self.keypair,
                    &proposal.tx,
                    index,
                    &prevouts,
                    &leaf,
                )?)
            })
            .collect()
    }

    /// [`Signer::sign`] for a proposal off the wire.
    pub fn sign_wire(&self, wire: &ProposalWire) -> Result<SignatureSet> {
        let proposal = wire.decode()?;
        let from = wire.authorized_by(&proposal)?;
        match *self.active.read() {
            Some(active) if active == from => {}
            Some(active) => {
                return Err(Error::Refused(format!(
                    "the proposal comes from sequencer {from}, but {active} is the active one"
                )));
            }
            None => {
                return Err(Error::Refused(
                    "this signer's node does not know the active sequencer yet".into(),
                ));
            }
        }
        let signatures = self.sign(&proposal)?;
        Ok(SignatureSet {
            signer: self.key().to_string(),
            signatures: signatures.iter().map(|s| hex::encode(s.as_ref())).collect(),
        })
    }

    /// Drops journal entries that can no longer matter (see the module docs) and
    /// rewrites the journal if any went.
    fn prune(&self, signed: &mut Vec<SignedEntry>, finalized: u64) {
        let before = signed.len();
        signed.retain(|entry| !self.is_settled(entry, finalized));
        if signed.len() == before {
            return;
        }
        match rewrite_journal(&self.journal, signed) {
            Ok(()) => {
                tracing::debug!(target: TARGET, pruned = before - signed.len(), kept = signed.len(), "pruned the signer journal")
            }
            Err(e) => tracing::warn!(target: TARGET, error = %e, "cannot prune the signer journal"),
        }
    }

    fn is_settled(&self, entry: &SignedEntry, finalized: u64) -> bool {
        if entry.withdrawals.is_empty() {
            let key = B256::from(entry.txid.to_byte_array());
            return matches!(self.storage.payout_location(&key), Ok(Some((block, _))) if block <= finalized);
        }
        self.peg
            .paid_and_final(&entry.withdrawals, finalized)
            .unwrap_or(false)
    }
}

#[jsonrpsee::core::async_trait]
impl crate::wire::SignerApiServer for Arc<Signer> {
    async fn sign_payout(
        &self,
        proposal: ProposalWire,
    ) -> jsonrpsee::core::RpcResult<SignatureSet> {
        // Rebuilding the ledger reads the store: off the runtime's threads.
        let signer = self.clone();
        let answer = tokio::task::spawn_blocking(move || signer.sign_wire(&proposal))
            .await
            .map_err(|e| Error::Refused(format!("signing task failed: {e}")));
        answer.and_then(|a| a).map_err(|e| {
            jsonrpsee::types::ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>)
        })
    }
}

/// The coins `tx` spends, in input order.
pub(crate) fn spent_outpoints(tx: &Transaction) -> Vec<OutPoint> {
    tx.input.iter().map(|i| i.previous_output).collect()
}

/// The signer set whose coins `tx` spends (all its inputs must be of one set).
pub(crate) fn spending_set<'a>(
    peg: &'a Peg,
    ledger: &Ledger,
    tx: &Transaction,
) -> Result<(u16, &'a Federation)> {
    let mut epoch = None;
    for input in &tx.input {
        let source: &CoinSource = ledger
            .sources
            .get(&input.previous_output)
            .ok_or(Error::NotAPegCoin(input.previous_output))?;
        match epoch {
            None => epoch = Some(source.epoch()),
            Some(e) if e == source.epoch() => {}
            Some(_) => {
                return Err(Error::Refused(
                    "the inputs belong to different signer sets".into(),
                ));
            }
        }
    }
    let epoch = epoch.ok_or_else(|| Error::Refused("the payout spends nothing".into()))?;
    Ok((epoch, peg.federation_of(epoch)?))
}

fn read_journal(path: &Path) -> Result<Vec<SignedEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let mut lines = text.lines().peekable();
    if let Some(first) = lines.peek()
        && let Ok(header) = serde_json::from_str::<JournalHeader>(first)
    {
        if header.cairn_signer_journal > JOURNAL_VERSION {
            return Err(Error::Format {
                path: path.to_owned(),
                reason: format!(
                    "version {} is newer than this node's {JOURNAL_VERSION}",
                    header.cairn_signer_journal
                ),
            });
        }
        lines.next();
    }
    // A torn last line was never answered: nobody holds that signature.
    Ok(lines.filter_map(|l| serde_json::from_str(l).ok()).collect())
}

fn encode_line(value: &impl Serialize, out: &mut Vec<u8>) {
    // Serializing these plain structs to JSON cannot fail.
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}

fn header_bytes() -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_line(
        &JournalHeader {
            cairn_signer_journal: JOURNAL_VERSION,
        },
        &mut bytes,
    );
    bytes
}

fn append_entry(path: &Path, entry: &SignedEntry) -> Result<()> {
    use std::io::Write as _;
    let io = |e| Error::io("journal the signature in", path, e);
    let mut bytes = if path.exists() {
        Vec::new()
    } else {
        header_bytes()
    };
    encode_line(entry, &mut bytes);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_data().map_err(io)
}

fn rewrite_journal(path: &Path, entries: &[SignedEntry]) -> Result<()> {
    let mut bytes = header_bytes();
    for entry in entries {
        encode_line(entry, &mut bytes);
    }
    cairn_settlement::fsutil::write_atomically(path, &bytes)
        .map_err(|e| Error::io("rewrite", path, e))
}
