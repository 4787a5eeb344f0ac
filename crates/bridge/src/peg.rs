//! [`Peg`]: the network's signer sets and deposit addresses, and the watcher's state.

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Network, ScriptBuf};
use cairn_peg::scripts::TapTree;
use cairn_peg::{CoinSource, DepositOutput, Epoch, Federation, PegOutput};
use cairn_primitives::{PegSpec, RollupConfig};
use cairn_storage::Storage;
use parking_lot::{Mutex, RwLock};

use crate::registry::{Registration, Registry};
use crate::state::PegState;
use crate::{Error, Result};

const TARGET: &str = "cairn::peg";

/// The peg on one node: configuration, registry and the watcher's state.
pub struct Peg {
    /// The signer sets, oldest first.
    pub(crate) epochs: Vec<Epoch>,
    pub(crate) spec: PegSpec,
    /// The withdrawal contract's minimum (chain config).
    pub(crate) min_withdrawal_sat: Option<u64>,
    pub(crate) chain_id: u64,
    pub(crate) network: Network,
    pub(crate) storage: Arc<Storage>,
    registry: Registry,
    /// Serializes appends to the registry file.
    append: Mutex<()>,
    /// Everything the watcher knows, behind one lock.
    pub(crate) state: RwLock<PegState>,
}

impl Peg {
    /// The peg of `rollup`, if it has one, with its registry in `data_dir/peg`.
    pub fn open(
        data_dir: &Path,
        rollup: &RollupConfig,
        storage: Arc<Storage>,
    ) -> Result<Option<Arc<Self>>> {
        let Some(spec) = &rollup.peg else {
            return Ok(None);
        };
        let epochs = Federation::epochs(spec)?;
        let dir = data_dir.join("peg");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let peg = Self {
            epochs,
            spec: spec.clone(),
            min_withdrawal_sat: rollup.chain.withdrawals.map(|w| w.min_sat),
            chain_id: rollup.chain.chain_id,
            network: cairn_execution::withdraw::bitcoin_network(rollup.l1.network),
            storage,
            registry: Registry::new(&dir),
            append: Mutex::new(()),
            state: RwLock::new(PegState::default()),
        };
        {
            let mut state = peg.state.write();
            for registration in peg.registry.load()? {
                for (script, epoch) in
                    peg.scripts_of(registration.recipient, registration.reclaim_key)?
                {
                    state.watched.insert(script, (registration.clone(), epoch));
                }
            }
            tracing::info!(target: TARGET, addresses = state.watched.len(), "watching deposit addresses");
        }
        Ok(Some(Arc::new(peg)))
    }

    /// The signer sets, oldest first.
    pub fn epochs(&self) -> &[Epoch] {
        &self.epochs
    }

    /// The federation of signer set `epoch`.
    pub fn federation_of(&self, epoch: u16) -> Result<&Federation> {
        self.epochs
            .get(usize::from(epoch))
            .map(|e| &e.federation)
            .ok_or(Error::UnknownSignerSet(epoch))
    }

    /// The signer set in charge at the L1 tip this node last saw.
    pub fn current_epoch(&self) -> u16 {
        Epoch::active_at(&self.epochs, self.state.read().tip.unwrap_or(0))
    }

    /// The current signer set's federation.
    pub fn federation(&self) -> &Federation {
        &self.epochs[usize::from(self.current_epoch())].federation
    }

    /// The network's rules for deposits (minimum, confirmations, delays).
    pub fn spec(&self) -> &PegSpec {
        &self.spec
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// `recipient`'s deposit output under the current signer set.
    pub fn output(&self, recipient: Address, reclaim: Option<B256>) -> Result<DepositOutput> {
        self.output_in(self.current_epoch(), recipient, reclaim)
    }

    /// `recipient`'s deposit output under signer set `epoch`.
    pub fn output_in(
        &self,
        epoch: u16,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> Result<DepositOutput> {
        let reclaim = reclaim
            .map(|k| {
                XOnlyPublicKey::from_slice(k.as_slice()).map_err(|_| Error::InvalidReclaimKey(k))
            })
            .transpose()?;
        let federation = self.federation_of(epoch)?;
        Ok(DepositOutput::new(
            federation,
            self.chain_id,
            recipient,
            reclaim,
        )?)
    }

    /// `recipient`'s deposit scripts under every signer set (all are watched and credited).
    fn scripts_of(
        &self,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> Result<Vec<(ScriptBuf, u16)>> {
        (0..self.epochs.len() as u16)
            .map(|epoch| {
                let output = self.output_in(epoch, recipient, reclaim)?;
                Ok((output.tree().script_pubkey(), epoch))
            })
            .collect()
    }

    /// `recipient`'s deposit address, registered (durably) for watching.
    pub fn register(&self, recipient: Address, reclaim: Option<B256>) -> Result<DepositOutput> {
        let output = self.output(recipient, reclaim)?;
        let script = output.tree().script_pubkey();
        if self.state.read().watched.contains_key(&script) {
            return Ok(output);
        }
        let _guard = self.append.lock();
        if self.state.read().watched.contains_key(&script) {
            return Ok(output);
        }
        let scripts = self.scripts_of(recipient, reclaim)?;
        let registration = Registration {
            recipient,
            reclaim_key: reclaim,
        };
        self.registry.append(&registration).inspect_err(|e| {
            tracing::error!(target: TARGET, error = %e, "cannot persist a deposit address");
        })?;
        let mut state = self.state.write();
        for (script, epoch) in scripts {
            state.watched.insert(script, (registration.clone(), epoch));
        }
        Ok(output)
    }

    /// The current peg output's script.
    pub fn peg_script(&self) -> ScriptBuf {
        self.peg_script_of(self.current_epoch())
    }

    /// Signer set `epoch`'s peg output script (empty for a set the network lacks).
    pub fn peg_script_of(&self, epoch: u16) -> ScriptBuf {
        self.federation_of(epoch)
            .ok()
            .and_then(|f| PegOutput::new(f).ok())
            .map(|o| o.tree().script_pubkey())
            .unwrap_or_default()
    }

    /// The taproot tree of a coin from `source`.
    pub fn coin_tree(&self, source: CoinSource) -> Result<TapTree> {
        match source {
            CoinSource::Deposit {
                recipient,
                reclaim_key,
                epoch,
            } => Ok(self
                .output_in(epoch, recipient, reclaim_key)?
                .tree()
                .clone()),
            CoinSource::Change { epoch } => {
                Ok(PegOutput::new(self.federation_of(epoch)?)?.tree().clone())
            }
        }
    }
}
