//! `cairn dev`'s accounts: the standard test mnemonic's first accounts, funded at
//! genesis and printed the way Anvil prints them, and its genesis.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, address, bytes};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use cairn_primitives::{ChainSpec, GenesisAccount, units::btc_to_wei};

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
