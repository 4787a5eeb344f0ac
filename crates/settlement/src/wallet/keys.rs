//! The wallet's keys: a BIP32 master key from the batcher's seed, the two BIP86
//! descriptors handed to BDK (public only), and signing.
//!
//! BDK's `Wallet` only ever sees the account xpub: the master key stays here and signs
//! PSBTs through rust-bitcoin's `Psbt::sign` (BDK 3.2 deprecates keeping keys in the
//! wallet). Nothing in this module implements `Display` or logs a key.

use bdk_wallet::template::Bip86Public;
use bdk_wallet::{ChangeSet, KeychainKind, LoadError, SignOptions, Wallet};
use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::constants::genesis_block;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Network, NetworkKind, Psbt, Transaction};

use super::error::{Error, Result};

/// The BIP32 master key and the BIP86 account (`m/86'/coin'/0'`) derived from it.
pub(crate) struct Keys {
    master: Xpriv,
    fingerprint: Fingerprint,
    account: Xpub,
    network: Network,
}

impl Keys {
    /// Derives the keys from `seed` (used as the BIP32 seed, so the wallet can be recovered
    /// by any BIP86 wallet from the same bytes). The coin type is 0 on mainnet and 1 on
    /// every test network, as BIP44 says.
    pub(crate) fn from_seed(seed: &[u8], network: Network) -> Result<Self> {
        let secp = Secp256k1::signing_only();
        let kind = NetworkKind::from(network);
        let master = Xpriv::new_master(kind, seed).map_err(|e| Error::Keys(e.to_string()))?;
        let coin = u32::from(kind != NetworkKind::Main);
        let path = DerivationPath::from(
            [86, coin, 0]
                .into_iter()
                .map(|index| ChildNumber::Hardened { index })
                .collect::<Vec<_>>(),
        );
        let account = master
            .derive_priv(&secp, &path)
            .map_err(|e| Error::Keys(e.to_string()))?;
        Ok(Self {
            fingerprint: master.fingerprint(&secp),
            account: Xpub::from_priv(&secp, &account),
            master,
            network,
        })
    }

    /// `tr([fingerprint/86'/coin'/0']xpub/0/*)` or `.../1/*` for change.
    fn descriptor(&self, keychain: KeychainKind) -> Bip86Public<Xpub> {
        Bip86Public(self.account, self.fingerprint, keychain)
    }

    /// A new wallet (its whole state is staged).
    pub(crate) fn create_wallet(&self) -> Result<Wallet> {
        Wallet::create(
            self.descriptor(KeychainKind::External),
            self.descriptor(KeychainKind::Internal),
        )
        .network(self.network)
        .create_wallet_no_persist()
        .map_err(|e| Error::Keys(e.to_string()))
    }

    /// The wallet recorded in `changeset`, checked against these keys and the network.
    pub(crate) fn load_wallet(
        &self,
        changeset: ChangeSet,
    ) -> std::result::Result<Option<Wallet>, LoadError> {
        Wallet::load()
            .descriptor(
                KeychainKind::External,
                Some(self.descriptor(KeychainKind::External)),
            )
            .descriptor(
                KeychainKind::Internal,
                Some(self.descriptor(KeychainKind::Internal)),
            )
            .check_network(self.network)
            .check_genesis_hash(genesis_block(self.network).block_hash())
            .load_wallet_no_persist(changeset)
    }

    /// Signs every input of `psbt` (all must be the wallet's), finalizes it through the
    /// wallet's descriptors and extracts the transaction.
    pub(crate) fn sign(
        &self,
        wallet: &Wallet,
        mut psbt: Psbt,
        secp: &Secp256k1<All>,
    ) -> Result<Transaction> {
        let inputs = psbt.inputs.len();
        let signed = psbt
            .sign(&self.master, secp)
            .map_err(|(_, errors)| Error::Sign(format!("inputs {errors:?}")))?;
        if signed.len() != inputs {
            return Err(Error::Sign(format!(
                "only {} of {inputs} inputs are the wallet's",
                signed.len()
            )));
        }
        let finalized = wallet
            .finalize_psbt(&mut psbt, SignOptions::default())
            .map_err(|e| Error::Sign(e.to_string()))?;
        if !finalized {
            return Err(Error::Sign("the PSBT could not be finalized".into()));
        }
        psbt.extract_tx().map_err(|e| Error::Sign(e.to_string()))
    }
}

impl std::fmt::Debug for Keys {
    /// The fingerprint and network only: never the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("fingerprint", &self.fingerprint)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BIP86's test vector: the seed of "abandon ... about" with no passphrase.
    const SEED: &str = "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc19a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4";

    fn seed() -> Vec<u8> {
        (0..SEED.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&SEED[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn bip86_test_vectors() {
        let keys = Keys::from_seed(&seed(), Network::Bitcoin).expect("keys");
        assert_eq!(
            keys.master.to_string(),
            "xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPSGfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu"
        );
        let wallet = keys.create_wallet().expect("wallet");
        let receive = |i| wallet.peek_address(KeychainKind::External, i).to_string();
        assert_eq!(
            receive(0),
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
        );
        assert_eq!(
            receive(1),
            "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
        );
        assert_eq!(
            wallet.peek_address(KeychainKind::Internal, 0).to_string(),
            "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"
        );
        let descriptor = wallet.public_descriptor(KeychainKind::External).to_string();
        assert!(
            descriptor.starts_with("tr([73c5da0a/86'/0'/0']xpub"),
            "{descriptor}"
        );
    }

    #[test]
    fn test_networks_use_coin_type_one() {
        let keys = Keys::from_seed(&[7; 32], Network::Regtest).expect("keys");
        let wallet = keys.create_wallet().expect("wallet");
        let descriptor = wallet.public_descriptor(KeychainKind::Internal).to_string();
        assert!(descriptor.contains("/86'/1'/0']tpub"), "{descriptor}");
        assert!(descriptor.contains("/1/*)"), "{descriptor}");
        assert!(
            wallet
                .peek_address(KeychainKind::External, 0)
                .to_string()
                .starts_with("bcrt1p")
        );
        let debug = format!("{keys:?}");
        assert!(!debug.contains("prv") && !debug.contains("tpub"), "{debug}");
    }
}
