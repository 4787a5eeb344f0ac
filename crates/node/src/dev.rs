//! `cairn dev`'s accounts (the standard test mnemonic's first accounts, funded at
//! genesis and printed the way Anvil prints them) and its controls over its own chain
//! ([`DevChain`], what the RPC's `evm_`/`anvil_`/`hardhat_` methods act through).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use alloy_consensus::{SignableTransaction as _, TxEnvelope, TypedTransaction};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_network::TxSignerSync as _;
use alloy_primitives::{Address, B256, Bytes, U256, address, bytes};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use cairn_execution::SystemTx;
use cairn_primitives::{ChainSpec, GenesisAccount, RecoveredTx, units::btc_to_wei};
use cairn_sequencer::{ChainSnapshot, Producer};
use parking_lot::Mutex;

/// The mnemonic Anvil and Hardhat use.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// BIP-44 path prefix of the dev accounts.
pub const DEV_DERIVATION_PATH: &str = "m/44'/60'/0'/0/";
/// Where fees go on a dev chain unless told otherwise (not a dev account, so
/// dev balances change only by what their own transactions cost).
pub const DEV_FEE_RECIPIENT: Address = address!("0x4200000000000000000000000000000000000011");

/// The deterministic CREATE2 deployer every EVM dev chain carries (`forge script` deploys
/// through it): calldata is a 32-byte salt then init code; it answers the new address.
pub const CREATE2_DEPLOYER: Address = address!("0x4e59b44847b379578588920ca78fbf26c0b4956c");
/// Its runtime code (the same bytes on every chain, from the keyless deployment).
pub const CREATE2_DEPLOYER_CODE: Bytes = bytes!(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
);

/// A dev account: address and private key.
#[derive(Debug, Clone)]
pub struct DevAccount {
    pub address: Address,
    pub key: B256,
    pub signer: PrivateKeySigner,
}

/// The first `count` accounts of the dev mnemonic.
pub fn dev_accounts(count: u32) -> anyhow::Result<Vec<DevAccount>> {
    (0..count)
        .map(|i| {
            let signer = MnemonicBuilder::<English>::default()
                .phrase(DEV_MNEMONIC)
                .derivation_path(format!("{DEV_DERIVATION_PATH}{i}"))?
                .build()?;
            Ok(DevAccount {
                address: signer.address(),
                key: signer.to_bytes(),
                signer,
            })
        })
        .collect()
}

/// A dev chain spec funding `accounts` with `balance_btc` each, with the CREATE2 deployer.
pub fn dev_spec(chain_id: u64, accounts: &[DevAccount], balance_btc: u64) -> ChainSpec {
    let mut alloc: BTreeMap<_, _> = accounts
        .iter()
        .map(|a| {
            (
                a.address,
                GenesisAccount {
                    balance: btc_to_wei(balance_btc),
                    code: None,
                },
            )
        })
        .collect();
    alloc.insert(
        CREATE2_DEPLOYER,
        GenesisAccount {
            balance: U256::ZERO,
            code: Some(CREATE2_DEPLOYER_CODE),
        },
    );
    ChainSpec::dev(chain_id, alloc)
}

/// Anvil's banner: accounts, keys, mnemonic.
pub fn banner(accounts: &[DevAccount], balance_btc: u64, chain_id: u64) -> String {
    let mut out = String::new();
    out.push_str("\nAvailable Accounts\n==================\n\n");
    for (i, a) in accounts.iter().enumerate() {
        out.push_str(&format!(
            "({i}) {} ({balance_btc}.000000000000000000 BTC)\n",
            a.address
        ));
    }
    out.push_str("\nPrivate Keys\n==================\n\n");
    for (i, a) in accounts.iter().enumerate() {
        out.push_str(&format!("({i}) {}\n", a.key));
    }
    out.push_str(&format!(
        "\nWallet\n==================\nMnemonic:          {DEV_MNEMONIC}\nDerivation path:   {DEV_DERIVATION_PATH}\n\nChain ID\n==================\n\n{chain_id}\n"
    ));
    out
}

/// `cairn dev`'s controls over its own chain: the producer's knobs, snapshots by id, the
/// unlocked dev accounts and the impersonated ones.
pub struct DevChain {
    producer: Arc<Producer>,
    unlocked: Vec<PrivateKeySigner>,
    impersonated: Mutex<HashSet<Address>>,
    auto_impersonate: AtomicBool,
    snapshots: Mutex<BTreeMap<u64, ChainSnapshot>>,
    next_snapshot: AtomicU64,
}

impl DevChain {
    pub fn new(producer: Arc<Producer>, unlocked: Vec<PrivateKeySigner>) -> Self {
        Self {
            producer,
            unlocked,
            impersonated: Mutex::new(HashSet::new()),
            auto_impersonate: AtomicBool::new(false),
            snapshots: Mutex::new(BTreeMap::new()),
            next_snapshot: AtomicU64::new(0),
        }
    }
}

impl DevChain {
    fn impersonates(&self, address: Address) -> bool {
        self.auto_impersonate.load(Ordering::SeqCst) || self.impersonated.lock().contains(&address)
    }
}

impl cairn_rpc::dev::DevControl for DevChain {
    fn mine(&self, count: u64, interval: Option<u64>) -> Result<u64, String> {
        self.producer
            .mine(count, interval)
            .map_err(|e| e.to_string())
    }

    fn increase_time(&self, seconds: u64) -> u64 {
        self.producer.increase_time(seconds)
    }

    fn set_next_timestamp(&self, timestamp: u64) -> Result<(), String> {
        self.producer.set_next_timestamp(timestamp)
    }

    fn edit_state(&self, edits: Vec<SystemTx>) -> Result<(), String> {
        self.producer
            .edit_state(edits)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn snapshot(&self) -> Result<u64, String> {
        let snapshot = self.producer.snapshot().map_err(|e| e.to_string())?;
        let id = self.next_snapshot.fetch_add(1, Ordering::SeqCst);
        self.snapshots.lock().insert(id, snapshot);
        Ok(id)
    }

    fn revert(&self, id: u64) -> Result<bool, String> {
        let mut snapshots = self.snapshots.lock();
        let Some(snapshot) = snapshots.get(&id).copied() else {
            return Ok(false);
        };
        self.producer
            .revert_to(&snapshot)
            .map_err(|e| e.to_string())?;
        // Hardhat's rule: a snapshot is used up by reverting to it, and so are later ones.
        snapshots.retain(|other, _| *other < id);
        Ok(true)
    }

    fn automine(&self) -> bool {
        self.producer.automine()
    }

    fn set_automine(&self, on: bool) {
        self.producer.set_automine(on);
    }

    fn set_interval_mining(&self, interval: Option<Duration>) {
        self.producer.set_interval_mining(interval);
    }

    fn set_next_base_fee(&self, base_fee: u64) -> Result<(), String> {
        self.producer
            .set_next_base_fee(base_fee)
            .map_err(|e| e.to_string())
    }

    fn set_coinbase(&self, coinbase: Address) {
        self.producer.set_coinbase(coinbase);
    }

    fn set_block_gas_limit(&self, gas_limit: u64) -> Result<(), String> {
        self.producer
            .set_block_gas_limit(gas_limit)
            .map_err(|e| e.to_string())
    }

    fn coinbase(&self) -> Address {
        self.producer.coinbase()
    }

    fn impersonate(&self, address: Address, on: bool) {
        let mut impersonated = self.impersonated.lock();
        if on {
            impersonated.insert(address);
        } else {
            impersonated.remove(&address);
        }
    }

    fn auto_impersonate(&self, on: bool) {
        self.auto_impersonate.store(on, Ordering::SeqCst);
    }

    fn accounts(&self) -> Vec<Address> {
        self.unlocked.iter().map(|s| s.address()).collect()
    }

    fn can_send_as(&self, from: Address) -> bool {
        self.unlocked.iter().any(|s| s.address() == from) || self.impersonates(from)
    }

    fn sign(
        &self,
        from: Address,
        mut tx: TypedTransaction,
        impersonate: bool,
    ) -> Result<Option<RecoveredTx>, String> {
        let key = self
            .unlocked
            .iter()
            .find(|s| s.address() == from)
            .filter(|_| !impersonate);
        if let Some(signer) = key {
            let signature = signer
                .sign_transaction_sync(&mut tx)
                .map_err(|e| format!("cannot sign: {e}"))?;
            let envelope: TxEnvelope = tx.into_signed(signature).into();
            let encoded = envelope.encoded_2718().into();
            return Ok(Some(RecoveredTx {
                hash: *envelope.tx_hash(),
                envelope,
                sender: from,
                encoded,
            }));
        }
        if !(impersonate || self.impersonates(from)) {
            return Ok(None);
        }
        // No follower could check this sender: the chain is local from here on.
        self.producer.go_local().map_err(|e| e.to_string())?;
        Ok(Some(RecoveredTx::impersonated(tx, from)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_accounts_match_anvil() {
        let accounts = dev_accounts(2).expect("derive");
        assert_eq!(
            accounts[0].address,
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
                .parse::<Address>()
                .expect("address")
        );
        assert_eq!(
            accounts[0].key.to_string(),
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        );
        assert_eq!(
            accounts[1].address,
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
                .parse::<Address>()
                .expect("address")
        );
    }
}
