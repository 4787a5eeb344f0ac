//! The peg on a node: deposit addresses and the watcher that finds deposits on Bitcoin.
//!
//! - **Addresses.** `cairn_getDepositAddress` derives a recipient's address from the
//!   federation in `rollup.json` and registers it: appended to `<data-dir>/peg/deposit-
//!   addresses.jsonl` and fsynced before the answer, so an address handed out is watched
//!   across restarts.
//! - **Finding deposits.** Every L1 update the settlement task reads goes through
//!   [`Peg::on_update`]: outputs paying a registered address at least the minimum are
//!   deposits; those with `depositConfirmations` are offered to the block producer, which
//!   credits each outpoint once (the store indexes credited outpoints). Blocks a reorg
//!   disconnects take their deposits with them.
//! - **Finding payouts.** The same watcher recognises the federation's payout transactions
//!   (by the txids the coordinator proposed); confirmed ones are offered to the block
//!   producer, which records each once ([`cairn_primitives::Payout`]).
//! - **Checking deposits and payouts** (every node, during derivation): [`L1PegVerifier`]
//!   fetches the Bitcoin block a batch names and checks a deposit's output against the
//!   address derived from the recipient, or a payout transaction against its record.
//! - **The ledger** ([`Peg::ledger`]): the peg's coins and the withdrawals waiting to be
//!   paid, from this node's own L2 state: what signers check proposals against and what
//!   the coordinator builds them from.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U64};
use anyhow::Context as _;
use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Amount, OutPoint, TxOut};
use bitcoin::{BlockHash, Network, ScriptBuf, Txid};
use cairn_execution::withdraw::{WITHDRAWAL_CONTRACT, WithdrawalRecord, request_count};
use cairn_l1::{ChainUpdate, Client};
use cairn_peg::policy::{PegView, PendingWithdrawal, payout_commitment};
use cairn_peg::scripts::TapTree;
use cairn_peg::{DepositOutput, Epoch, Federation, PegOutput};
use cairn_primitives::{Deposit, Payout, PegSpec, RollupConfig};
use cairn_rpc::{DepositAddressInfo, DepositInfo, PegSource};
use cairn_settlement::derive::PegVerifier;
use cairn_storage::Storage;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

const TARGET: &str = "cairn::peg";
const REGISTRY_FILE: &str = "deposit-addresses.jsonl";

/// One registered deposit address, as the registry file stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Registration {
    recipient: Address,
    reclaim_key: Option<B256>,
}

/// A deposit seen on Bitcoin.
#[derive(Debug, Clone, Copy)]
struct Found {
    deposit: Deposit,
    height: u32,
}

/// A payout transaction seen on Bitcoin.
#[derive(Debug, Clone)]
struct FoundPayout {
    payout: Payout,
    height: u32,
}

/// Where a peg coin came from: what its taproot tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoinSource {
    /// A credited deposit to this recipient's address.
    Deposit {
        /// The L2 account it credited.
        recipient: Address,
        /// The reclaim key its address commits to.
        reclaim_key: Option<B256>,
        /// The signer set whose address it paid.
        epoch: u16,
    },
    /// Change of a payout, back to a signer set's peg output.
    Change {
        /// That signer set.
        epoch: u16,
    },
}

impl CoinSource {
    /// The signer set that can move the coin.
    pub fn epoch(&self) -> u16 {
        match self {
            Self::Deposit { epoch, .. } | Self::Change { epoch } => *epoch,
        }
    }
}

/// The peg as this node's L2 state has it.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Coins, pending withdrawals, chain id and the peg script.
    pub view: PegView,
    /// Where each coin came from.
    pub sources: BTreeMap<OutPoint, CoinSource>,
    /// Coins that are credited deposits not yet swept (sat).
    pub unswept_deposits_sat: u64,
    /// Coins that are peg outputs (sat).
    pub peg_outputs_sat: u64,
    /// What the peg itself paid in Bitcoin fees (rotation sweeps, sat).
    pub peg_fees_sat: u64,
}

/// Confirmed peg events ready for the block producer.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    /// Deposits to credit.
    pub deposits: Vec<Deposit>,
    /// Payouts to record.
    pub payouts: Vec<Payout>,
    /// A Bitcoin reorg removed a credited deposit or a recorded payout: the L2 blocks from
    /// this one on must be undone (sequencer).
    pub undo_from: Option<u64>,
}

/// The peg's node-side state.
pub struct Peg {
    /// The signer sets, oldest first.
    epochs: Vec<Epoch>,
    spec: PegSpec,
    /// The withdrawal contract's minimum (chain config).
    min_withdrawal_sat: Option<u64>,
    chain_id: u64,
    network: Network,
    storage: Arc<Storage>,
    registry_path: PathBuf,
    /// Watched output scripts → what they credit and under which signer set.
    watched: RwLock<HashMap<ScriptBuf, (Registration, u16)>>,
    /// Serializes appends to the registry file.
    append: Mutex<()>,
    /// Deposits on the current best chain, by outpoint.
    found: RwLock<BTreeMap<(Txid, u32), Found>>,
    /// The L1 tip height last seen.
    tip: RwLock<Option<u32>>,
    /// Payout transactions the coordinator proposed: txid → withdrawal ids.
    proposed: RwLock<HashMap<Txid, Vec<u64>>>,
    /// Proposed payouts on the current best chain.
    found_payouts: RwLock<BTreeMap<Txid, FoundPayout>>,
    /// Credited deposits whose Bitcoin block a reorg disconnected: outpoint → (the height
    /// they had, the L2 block that credited them).
    dropped: RwLock<BTreeMap<(Txid, u32), (u32, u64)>>,
    /// Recorded payouts whose Bitcoin block a reorg disconnected: txid → (the height they
    /// had, the L2 block that recorded them).
    dropped_payouts: RwLock<BTreeMap<Txid, (u32, u64)>>,
}

impl Peg {
    /// The peg of `rollup`, if it has one, with its registry in `data_dir/peg`.
    pub fn open(
        data_dir: &Path,
        rollup: &RollupConfig,
        storage: Arc<Storage>,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(spec) = &rollup.peg else {
            return Ok(None);
        };
        let epochs = Federation::epochs(spec)?;
        let dir = data_dir.join("peg");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let peg = Self {
            epochs,
            spec: spec.clone(),
            min_withdrawal_sat: rollup.chain.withdrawals.map(|w| w.min_sat),
            chain_id: rollup.chain.chain_id,
            network: crate::rollup::bitcoin_network(rollup.l1.network),
            storage,
            registry_path: dir.join(REGISTRY_FILE),
            watched: RwLock::new(HashMap::new()),
            append: Mutex::new(()),
            found: RwLock::new(BTreeMap::new()),
            tip: RwLock::new(None),
            proposed: RwLock::new(HashMap::new()),
            found_payouts: RwLock::new(BTreeMap::new()),
            dropped: RwLock::new(BTreeMap::new()),
            dropped_payouts: RwLock::new(BTreeMap::new()),
        };
        peg.load_registry()?;
        Ok(Some(Arc::new(peg)))
    }

    fn load_registry(&self) -> anyhow::Result<()> {
        let text = match std::fs::read_to_string(&self.registry_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(e).context(format!("cannot read {}", self.registry_path.display()));
            }
        };
        let mut watched = self.watched.write();
        for (i, line) in text.lines().enumerate() {
            // A torn last line is an append that crashed before its fsync: it was never
            // answered, so it is not an address anyone was given.
            let Ok(registration) = serde_json::from_str::<Registration>(line) else {
                tracing::warn!(target: TARGET, line = i + 1, path = %self.registry_path.display(), "ignoring an unreadable deposit address registration");
                continue;
            };
            for (script, epoch) in self
                .scripts_of(registration.recipient, registration.reclaim_key)
                .map_err(anyhow::Error::msg)?
            {
                watched.insert(script, (registration.clone(), epoch));
            }
        }
        tracing::info!(target: TARGET, addresses = watched.len(), "watching deposit addresses");
        Ok(())
    }

    /// The signer sets, oldest first.
    pub fn epochs(&self) -> &[Epoch] {
        &self.epochs
    }

    /// The federation of signer set `epoch`.
    pub fn federation_of(&self, epoch: u16) -> Option<&Federation> {
        self.epochs.get(usize::from(epoch)).map(|e| &e.federation)
    }

    /// The signer set in charge at the L1 tip this node last saw.
    pub fn current_epoch(&self) -> u16 {
        let tip = self.tip.read().unwrap_or(0);
        self.epochs
            .iter()
            .rposition(|e| e.from_l1_height <= tip)
            .unwrap_or(0) as u16
    }

    /// The current signer set's federation.
    pub fn federation(&self) -> &Federation {
        &self.epochs[usize::from(self.current_epoch())].federation
    }

    /// `recipient`'s deposit output under the current signer set.
    pub fn output(
        &self,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> Result<DepositOutput, String> {
        self.output_in(self.current_epoch(), recipient, reclaim)
    }

    /// `recipient`'s deposit output under signer set `epoch`.
    pub fn output_in(
        &self,
        epoch: u16,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> Result<DepositOutput, String> {
        let reclaim = reclaim
            .map(|k| {
                XOnlyPublicKey::from_slice(k.as_slice())
                    .map_err(|_| format!("reclaim key {k} is not a valid BIP340 x-only public key"))
            })
            .transpose()?;
        let federation = self
            .federation_of(epoch)
            .ok_or_else(|| format!("there is no signer set {epoch}"))?;
        DepositOutput::new(federation, self.chain_id, recipient, reclaim).map_err(|e| e.to_string())
    }

    /// `recipient`'s deposit scripts under every signer set (all are watched and credited).
    fn scripts_of(
        &self,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> Result<Vec<(ScriptBuf, u16)>, String> {
        (0..self.epochs.len() as u16)
            .map(|epoch| {
                let output = self.output_in(epoch, recipient, reclaim)?;
                Ok((output.tree().script_pubkey(), epoch))
            })
            .collect()
    }

    /// `recipient`'s deposit address, registered (durably) for watching.
    pub fn register(
        &self,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> Result<DepositOutput, String> {
        let output = self.output(recipient, reclaim)?;
        let script = output.tree().script_pubkey();
        if self.watched.read().contains_key(&script) {
            return Ok(output);
        }
        let _guard = self.append.lock();
        if self.watched.read().contains_key(&script) {
            return Ok(output);
        }
        let scripts = self.scripts_of(recipient, reclaim)?;
        let registration = Registration {
            recipient,
            reclaim_key: reclaim,
        };
        self.append_registration(&registration).map_err(|e| {
            tracing::error!(target: TARGET, error = %e, "cannot persist a deposit address");
            format!("cannot register the deposit address: {e}")
        })?;
        let mut watched = self.watched.write();
        for (script, epoch) in scripts {
            watched.insert(script, (registration.clone(), epoch));
        }
        Ok(output)
    }

    fn append_registration(&self, registration: &Registration) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(registration).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.registry_path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Follows one L1 update; returns the deposits and payouts now confirmed enough and not
    /// yet in the chain (to offer to the block producer).
    pub fn on_update(&self, update: &ChainUpdate) -> Ready {
        self.watch_payouts(update);
        {
            let mut found = self.found.write();
            if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() {
                let dropped: Vec<_> = found
                    .iter()
                    .filter(|(_, f)| f.height >= lowest)
                    .map(|(k, f)| (*k, *f))
                    .collect();
                for (key, f) in dropped {
                    found.remove(&key);
                    if let Ok(Some((block, _))) = self
                        .storage
                        .deposit_location(&f.deposit.txid, f.deposit.vout)
                    {
                        tracing::warn!(target: TARGET, txid = %key.0, vout = key.1, l2_block = block, "a Bitcoin reorg disconnected a credited deposit: it must be mined again by height {}", f.height);
                        self.dropped.write().insert(key, (f.height, block));
                    }
                }
            }
            let watched = self.watched.read();
            for (height, block) in &update.connected {
                let l1_block = B256::from(block.block_hash().to_byte_array());
                for tx in &block.txdata {
                    for (vout, out) in tx.output.iter().enumerate() {
                        let Some((registration, epoch)) = watched.get(&out.script_pubkey) else {
                            continue;
                        };
                        let txid = tx.compute_txid();
                        let amount = out.value.to_sat();
                        if amount < self.spec.min_deposit_sat {
                            tracing::warn!(target: TARGET, %txid, vout, amount, min = self.spec.min_deposit_sat, "deposit below the minimum: not credited (reclaim it after the delay)");
                            continue;
                        }
                        let deposit = Deposit {
                            l1_block,
                            txid: B256::from(txid.to_byte_array()),
                            vout: vout as u32,
                            amount_sat: amount,
                            recipient: registration.recipient,
                            reclaim_key: registration.reclaim_key,
                            epoch: *epoch,
                        };
                        tracing::info!(target: TARGET, %txid, vout, amount, recipient = %registration.recipient, height, "deposit found on Bitcoin");
                        self.dropped.write().remove(&(txid, vout as u32));
                        found.insert(
                            (txid, vout as u32),
                            Found {
                                deposit,
                                height: *height,
                            },
                        );
                    }
                }
                *self.tip.write() = Some(*height);
            }
            if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min()
                && update.connected.is_empty()
            {
                *self.tip.write() = Some(lowest.saturating_sub(1));
            }
        }
        let mut ready = self.ready();
        ready.undo_from = self.undo_from();
        ready
    }

    /// The first L2 block to undo, if the best chain has passed the height of a credited
    /// deposit or recorded payout a reorg disconnected without mining it again.
    fn undo_from(&self) -> Option<u64> {
        let tip = (*self.tip.read())?;
        let gone = take_passed(&mut self.dropped.write(), tip);
        for (key, block) in &gone {
            tracing::error!(target: TARGET, txid = %key.0, vout = key.1, l2_block = block, "a Bitcoin reorg removed a credited deposit: the sequencer undoes its credit");
        }
        let gone_payouts = take_passed(&mut self.dropped_payouts.write(), tip);
        for (txid, block) in &gone_payouts {
            tracing::error!(target: TARGET, %txid, l2_block = block, "a Bitcoin reorg removed a recorded payout: the sequencer undoes its record");
        }
        gone.iter()
            .map(|(_, block)| *block)
            .chain(gone_payouts.iter().map(|(_, block)| *block))
            .min()
    }

    /// Deposits and payouts with enough confirmations that no block has taken yet.
    pub fn ready(&self) -> Ready {
        Ready {
            deposits: self.ready_deposits(),
            payouts: self.ready_payouts(),
            undo_from: None,
        }
    }

    fn ready_deposits(&self) -> Vec<Deposit> {
        let Some(tip) = *self.tip.read() else {
            return Vec::new();
        };
        self.found
            .read()
            .values()
            .filter(|f| tip + 1 >= f.height + self.spec.deposit_confirmations)
            .filter(|f| {
                matches!(
                    self.storage
                        .deposit_location(&f.deposit.txid, f.deposit.vout),
                    Ok(None)
                )
            })
            .map(|f| f.deposit)
            .collect()
    }

    fn ready_payouts(&self) -> Vec<Payout> {
        let Some(tip) = *self.tip.read() else {
            return Vec::new();
        };
        self.found_payouts
            .read()
            .values()
            .filter(|f| tip + 1 >= f.height + self.spec.deposit_confirmations)
            .filter(|f| matches!(self.storage.payout_location(&f.payout.txid), Ok(None)))
            .map(|f| f.payout.clone())
            .collect()
    }

    /// Remembers a payout the coordinator proposed, so that the watcher recognises it.
    pub fn expect_payout(&self, txid: Txid, withdrawals: Vec<u64>) {
        self.proposed.write().insert(txid, withdrawals);
    }

    /// Whether a proposed payout is in a block of the current best chain.
    pub fn payout_confirmed(&self, txid: &Txid) -> bool {
        self.found_payouts.read().contains_key(txid)
    }

    fn watch_payouts(&self, update: &ChainUpdate) {
        let mut found = self.found_payouts.write();
        if let Some(lowest) = update.disconnected.iter().map(|(h, _)| *h).min() {
            found.retain(|txid, f| {
                let keep = f.height < lowest;
                if !keep {
                    tracing::warn!(target: TARGET, %txid, "a Bitcoin reorg disconnected a payout");
                    if let Ok(Some((block, _))) = self.storage.payout_location(&f.payout.txid) {
                        self.dropped_payouts
                            .write()
                            .insert(*txid, (f.height, block));
                    }
                }
                keep
            });
        }
        let proposed = self.proposed.read();
        if proposed.is_empty() {
            return;
        }
        let peg_scripts: Vec<ScriptBuf> = (0..self.epochs.len() as u16)
            .map(|e| self.peg_script_of(e))
            .collect();
        for (height, block) in &update.connected {
            let l1_block = B256::from(block.block_hash().to_byte_array());
            for tx in &block.txdata {
                let txid = tx.compute_txid();
                let Some(withdrawals) = proposed.get(&txid) else {
                    continue;
                };
                let change_vout = withdrawals.len() + 1;
                let change = tx.output.get(change_vout).and_then(|o| {
                    let epoch = peg_scripts.iter().position(|s| *s == o.script_pubkey)?;
                    Some((change_vout as u32, o.value.to_sat(), epoch as u16))
                });
                let payout = Payout {
                    l1_block,
                    txid: B256::from(txid.to_byte_array()),
                    inputs: tx
                        .input
                        .iter()
                        .map(|i| {
                            let prev = i.previous_output;
                            (B256::from(prev.txid.to_byte_array()), prev.vout)
                        })
                        .collect(),
                    change: change.map(|(vout, amount, _)| (vout, amount)),
                    epoch: change.map_or(0, |(_, _, epoch)| epoch),
                    withdrawals: withdrawals.clone(),
                };
                tracing::info!(target: TARGET, %txid, height, withdrawals = withdrawals.len(), "payout confirmed on Bitcoin");
                self.dropped_payouts.write().remove(&txid);
                found.insert(
                    txid,
                    FoundPayout {
                        payout,
                        height: *height,
                    },
                );
            }
        }
    }

    /// The current peg output's script.
    pub fn peg_script(&self) -> ScriptBuf {
        self.peg_script_of(self.current_epoch())
    }

    /// Signer set `epoch`'s peg output script.
    pub fn peg_script_of(&self, epoch: u16) -> ScriptBuf {
        self.federation_of(epoch)
            .and_then(|f| PegOutput::new(f).ok())
            .map(|o| o.tree().script_pubkey())
            .unwrap_or_default()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The taproot tree of a coin from `source`.
    pub fn coin_tree(&self, source: CoinSource) -> Result<TapTree, String> {
        match source {
            CoinSource::Deposit {
                recipient,
                reclaim_key,
                epoch,
            } => Ok(self
                .output_in(epoch, recipient, reclaim_key)?
                .tree()
                .clone()),
            CoinSource::Change { epoch } => self
                .federation_of(epoch)
                .ok_or_else(|| format!("there is no signer set {epoch}"))
                .and_then(|f| PegOutput::new(f).map_err(|e| e.to_string()))
                .map(|o| o.tree().clone()),
        }
    }

    /// The peg's coins and the withdrawals finalized (at or below L2 block `finalized`)
    /// and unpaid, from this node's L2 state.
    pub fn ledger(&self, finalized: u64) -> anyhow::Result<Ledger> {
        let mut ledger = Ledger {
            view: PegView {
                chain_id: self.chain_id,
                peg_script: self.peg_script(),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut spent_beyond = Vec::new();
        for number in self.storage.peg_blocks()? {
            let Some(block) = self.storage.block_by_number(number)? else {
                continue;
            };
            for deposit in &block.block.deposits {
                let outpoint = OutPoint::new(Txid::from_byte_array(deposit.txid.0), deposit.vout);
                let script = self
                    .output_in(deposit.epoch, deposit.recipient, deposit.reclaim_key)
                    .map_err(anyhow::Error::msg)?
                    .tree()
                    .script_pubkey();
                ledger.view.coins.insert(
                    outpoint,
                    TxOut {
                        value: Amount::from_sat(deposit.amount_sat),
                        script_pubkey: script,
                    },
                );
                ledger.sources.insert(
                    outpoint,
                    CoinSource::Deposit {
                        recipient: deposit.recipient,
                        reclaim_key: deposit.reclaim_key,
                        epoch: deposit.epoch,
                    },
                );
            }
            for payout in &block.block.payouts {
                let mut spent = 0u64;
                for (txid, vout) in &payout.inputs {
                    let outpoint = OutPoint::new(Txid::from_byte_array(txid.0), *vout);
                    if let Some(coin) = ledger.view.coins.remove(&outpoint) {
                        spent += coin.value.to_sat();
                    }
                    ledger.sources.remove(&outpoint);
                }
                if let Some((vout, amount)) = payout.change {
                    let outpoint = OutPoint::new(Txid::from_byte_array(payout.txid.0), vout);
                    ledger.view.coins.insert(
                        outpoint,
                        TxOut {
                            value: Amount::from_sat(amount),
                            script_pubkey: self.peg_script_of(payout.epoch),
                        },
                    );
                    ledger.sources.insert(
                        outpoint,
                        CoinSource::Change {
                            epoch: payout.epoch,
                        },
                    );
                }
                // What left the peg beyond the withdrawals' own amounts (which paid their
                // share of the fee): a rotation sweep's fee, or a dust surplus without change.
                let kept = payout.change.map_or(0, |(_, amount)| amount);
                spent_beyond.push((spent.saturating_sub(kept), payout.withdrawals.clone()));
            }
        }
        for (outpoint, coin) in &ledger.view.coins {
            match ledger.sources.get(outpoint) {
                Some(CoinSource::Change { .. }) => ledger.peg_outputs_sat += coin.value.to_sat(),
                _ => ledger.unswept_deposits_sat += coin.value.to_sat(),
            }
        }
        let state = self.storage.latest_state();
        let slot = |index| state.storage(&WITHDRAWAL_CONTRACT, &index);
        for (left, withdrawals) in spent_beyond {
            let withdrawn: u64 = withdrawals
                .iter()
                .filter_map(|id| WithdrawalRecord::read(*id, slot))
                .map(|r| r.amount_sat)
                .sum();
            ledger.peg_fees_sat += left.saturating_sub(withdrawn);
        }
        for id in 0..request_count(slot) {
            let Some(record) = WithdrawalRecord::read(id, slot) else {
                continue;
            };
            if record.paid_by.is_none() && record.l2_block <= finalized {
                ledger.view.pending.insert(
                    id,
                    PendingWithdrawal {
                        script_pubkey: record.script_pubkey,
                        amount: Amount::from_sat(record.amount_sat),
                    },
                );
            }
        }
        Ok(ledger)
    }

    fn confirmations(&self, height: u32) -> u64 {
        self.tip
            .read()
            .map_or(0, |tip| u64::from((tip + 1).saturating_sub(height)))
    }
}

impl PegSource for Peg {
    fn deposit_address(
        &self,
        recipient: Address,
        reclaim_key: Option<B256>,
    ) -> Result<DepositAddressInfo, String> {
        let output = self.register(recipient, reclaim_key)?;
        Ok(DepositAddressInfo {
            address: output.tree().address(self.network).to_string(),
            recipient,
            reclaim_key,
            reclaim_delay: U64::from(if reclaim_key.is_some() {
                self.spec.reclaim_delay
            } else {
                self.spec.recovery.delay
            }),
            confirmations: U64::from(self.spec.deposit_confirmations),
            min_deposit_sat: U64::from(self.spec.min_deposit_sat),
        })
    }

    fn deposits_of(&self, recipient: Address) -> Vec<DepositInfo> {
        self.found
            .read()
            .iter()
            .filter(|(_, f)| f.deposit.recipient == recipient)
            .map(|((txid, vout), f)| {
                let credited = self
                    .storage
                    .deposit_location(&f.deposit.txid, *vout)
                    .ok()
                    .flatten()
                    .map(|(block, _)| block);
                DepositInfo {
                    txid: txid.to_string(),
                    vout: U64::from(*vout),
                    amount_sat: U64::from(f.deposit.amount_sat),
                    recipient,
                    l1_block_hash: BlockHash::from_byte_array(f.deposit.l1_block.0).to_string(),
                    l1_height: U64::from(f.height),
                    confirmations: U64::from(self.confirmations(f.height)),
                    status: if credited.is_some() {
                        "credited"
                    } else {
                        "confirming"
                    },
                    l2_block_number: credited.map(U64::from),
                }
            })
            .collect()
    }

    fn bridge_info(&self) -> serde_json::Value {
        let current = self.current_epoch();
        let federation = self.federation();
        let peg_address = PegOutput::new(federation)
            .map(|o| o.tree().address(self.network).to_string())
            .ok();
        let sets: Vec<serde_json::Value> = self
            .epochs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                serde_json::json!({
                    "epoch": i,
                    "fromL1Height": e.from_l1_height,
                    "signers": e.federation.signers.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "threshold": e.federation.signers.threshold,
                    "pegAddress": PegOutput::new(&e.federation).ok().map(|o| o.tree().address(self.network).to_string()),
                })
            })
            .collect();
        serde_json::json!({
            "network": self.network.to_core_arg(),
            "signers": federation.signers.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "threshold": federation.signers.threshold,
            "epoch": current,
            "signerSets": sets,
            "signatureScheme": "tapscript OP_CHECKSIGADD M-of-N",
            "pegAddress": peg_address,
            "recovery": {
                "keys": self.spec.recovery.keys,
                "threshold": self.spec.recovery.threshold,
                "delayBlocks": self.spec.recovery.delay,
            },
            "reclaimDelayBlocks": self.spec.reclaim_delay,
            "depositConfirmations": self.spec.deposit_confirmations,
            "minDepositSat": self.spec.min_deposit_sat,
            "minWithdrawalSat": self.min_withdrawal_sat,
            "depositsCredited": "as EIP-4895 withdrawals in the crediting block (1 sat = 10 gwei)",
            "withdrawalContract": self.min_withdrawal_sat.map(|_| format!("{:#x}", cairn_execution::withdraw::WITHDRAWAL_CONTRACT)),
            "payouts": {
                "feeRule": "the payout's Bitcoin fee is split equally among the withdrawals it pays (remainder to the first); each receives its amount minus its share",
                "paidAfter": "the burn's L2 block is finalized",
                "maxWithdrawalsPerPayout": crate::payout::MAX_PAYOUT_WITHDRAWALS,
                "replacedAfterBlocks": crate::payout::BUMP_AFTER_BLOCKS,
                "commitment": "OP_RETURN \"cairnpay\" ‖ SHA-256(chain id ‖ withdrawal ids), after the withdrawal outputs",
            },
        })
    }

    fn coins(&self) -> Result<(u64, u64, u64), String> {
        let ledger = self.ledger(0).map_err(|e| e.to_string())?;
        Ok((
            ledger.peg_outputs_sat,
            ledger.unswept_deposits_sat,
            ledger.peg_fees_sat,
        ))
    }
}

/// Removes and returns the entries (key, L2 block) whose Bitcoin height the best chain (at
/// `tip`) has passed.
fn take_passed<K: Ord + Copy>(dropped: &mut BTreeMap<K, (u32, u64)>, tip: u32) -> Vec<(K, u64)> {
    let gone: Vec<(K, u64)> = dropped
        .iter()
        .filter(|(_, (height, _))| tip >= *height)
        .map(|(key, (_, block))| (*key, *block))
        .collect();
    for (key, _) in &gone {
        dropped.remove(key);
    }
    gone
}

/// Checks a batch's deposits against the Bitcoin node (see [`PegVerifier`]).
pub struct L1PegVerifier {
    peg: Arc<Peg>,
    client: Client,
    runtime: tokio::runtime::Handle,
    /// Recently fetched blocks (a batch's deposits usually share a few).
    blocks: Mutex<Vec<(BlockHash, Arc<bitcoin::Block>)>>,
}

impl L1PegVerifier {
    /// A verifier asking `client`, on `runtime` (derivation runs on blocking threads).
    pub fn new(peg: Arc<Peg>, client: Client, runtime: tokio::runtime::Handle) -> Self {
        Self {
            peg,
            client,
            runtime,
            blocks: Mutex::new(Vec::new()),
        }
    }

    /// Runs an L1 call until it answers; `Ok(None)` when bitcoind says the thing does not
    /// exist.
    fn ask<T, F, Fut>(&self, what: &str, call: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = cairn_l1::Result<T>>,
    {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.runtime.block_on(call()) {
                Ok(value) => return Some(value),
                Err(e) if e.is_not_found() => return None,
                Err(e) => {
                    tracing::warn!(target: TARGET, error = %e, what, "cannot check a deposit with the Bitcoin node; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn block(&self, hash: BlockHash) -> Option<Arc<bitcoin::Block>> {
        if let Some((_, block)) = self.blocks.lock().iter().find(|(h, _)| *h == hash) {
            return Some(block.clone());
        }
        let block = Arc::new(self.ask("getblock", || self.client.get_block(&hash))?);
        let mut cache = self.blocks.lock();
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((hash, block.clone()));
        Some(block)
    }
}

/// How far below a batch's L1 height a verifier looks for a peg transaction whose recorded
/// block a reorg replaced (the transaction was mined again in another block).
const REMINED_WINDOW: u32 = 144;

impl L1PegVerifier {
    /// The transaction `txid` in Bitcoin block `l1_block`, on the best chain at or below
    /// `l1_height`. If a reorg replaced that block, the transaction counts where the best
    /// chain has it now (within [`REMINED_WINDOW`] blocks below `l1_height`): a deposit or
    /// payout mined again is the same deposit or payout.
    fn find_tx(
        &self,
        l1_block: &B256,
        txid: &B256,
        l1_height: u32,
    ) -> Result<bitcoin::Transaction, String> {
        match self.find_tx_in(l1_block, txid, l1_height) {
            Ok(tx) => Ok(tx),
            Err(reason) => {
                let wanted = Txid::from_byte_array(txid.0);
                for height in (l1_height.saturating_sub(REMINED_WINDOW)..=l1_height).rev() {
                    let Some(hash) =
                        self.ask("getblockhash", || self.client.get_block_hash(height))
                    else {
                        continue;
                    };
                    let Some(block) = self.block(hash) else {
                        continue;
                    };
                    if let Some(tx) = block.txdata.iter().find(|tx| tx.compute_txid() == wanted) {
                        return Ok(tx.clone());
                    }
                }
                Err(reason)
            }
        }
    }

    fn find_tx_in(
        &self,
        l1_block: &B256,
        txid: &B256,
        l1_height: u32,
    ) -> Result<bitcoin::Transaction, String> {
        let hash = BlockHash::from_byte_array(l1_block.0);
        let info = self
            .ask("getblockheader", || {
                self.client.get_block_header_info(&hash)
            })
            .ok_or_else(|| format!("Bitcoin block {hash} is unknown"))?;
        if info.confirmations < 1 {
            return Err(format!("Bitcoin block {hash} is not on the best chain"));
        }
        if info.height > l1_height {
            return Err(format!(
                "Bitcoin block {hash} (height {}) comes after the batch (height {l1_height})",
                info.height
            ));
        }
        let block = self
            .block(hash)
            .ok_or_else(|| format!("Bitcoin block {hash} is unknown"))?;
        let txid = Txid::from_byte_array(txid.0);
        block
            .txdata
            .iter()
            .find(|tx| tx.compute_txid() == txid)
            .cloned()
            .ok_or_else(|| format!("Bitcoin block {hash} does not hold the transaction"))
    }
}

impl PegVerifier for L1PegVerifier {
    fn verify_deposit(&self, deposit: &Deposit, l1_height: u32) -> Result<(), String> {
        let tx = self.find_tx(&deposit.l1_block, &deposit.txid, l1_height)?;
        let output = tx
            .output
            .get(deposit.vout as usize)
            .ok_or("the transaction has no such output")?;
        if output.value.to_sat() != deposit.amount_sat {
            return Err(format!(
                "the output pays {} sat, not {}",
                output.value.to_sat(),
                deposit.amount_sat
            ));
        }
        if deposit.amount_sat < self.peg.spec.min_deposit_sat {
            return Err(format!(
                "{} sat is below the minimum deposit {}",
                deposit.amount_sat, self.peg.spec.min_deposit_sat
            ));
        }
        let expected = self
            .peg
            .output_in(deposit.epoch, deposit.recipient, deposit.reclaim_key)?
            .tree()
            .script_pubkey();
        if output.script_pubkey != expected {
            return Err("the output does not pay the recipient's deposit address".into());
        }
        Ok(())
    }

    fn verify_payout(&self, payout: &Payout, l1_height: u32) -> Result<(), String> {
        let tx = self.find_tx(&payout.l1_block, &payout.txid, l1_height)?;
        let inputs: Vec<(B256, u32)> = tx
            .input
            .iter()
            .map(|i| {
                let prev = i.previous_output;
                (B256::from(prev.txid.to_byte_array()), prev.vout)
            })
            .collect();
        if inputs != payout.inputs {
            return Err("the record's inputs are not the transaction's".into());
        }
        // Every input spends through a signer set's leaf: Bitcoin checked M signatures of
        // that set over this transaction, which commits to the withdrawals it pays.
        let leaves: Vec<ScriptBuf> = self
            .peg
            .epochs
            .iter()
            .map(|e| cairn_peg::scripts::multisig_script(&e.federation.signers))
            .collect();
        let through_leaf = |input: &bitcoin::TxIn| {
            input.witness.taproot_leaf_script().is_some_and(|l| {
                l.version == bitcoin::taproot::LeafVersion::TapScript
                    && leaves.iter().any(|leaf| l.script == leaf.as_script())
            })
        };
        if !tx.input.iter().all(through_leaf) {
            return Err("an input does not spend through the federation's leaf".into());
        }
        let paid = payout.withdrawals.len();
        let commitment = payout_commitment(self.peg.chain_id, &payout.withdrawals);
        if tx.output.get(paid).map(|o| &o.script_pubkey) != Some(&commitment) {
            return Err("the transaction does not commit to the record's withdrawals".into());
        }
        let change = tx.output.get(paid + 1).map(|o| {
            if o.script_pubkey == self.peg.peg_script_of(payout.epoch) {
                Ok(((paid + 1) as u32, o.value.to_sat()))
            } else {
                Err("the output after the commitment is not change to the peg".to_owned())
            }
        });
        if change.transpose()? != payout.change || tx.output.len() > paid + 2 {
            return Err("the record's change is not the transaction's".into());
        }
        Ok(())
    }
}
