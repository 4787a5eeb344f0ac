//! Wallet calls (bitcoind's wallet, or the devnet's built-in one). With several wallets
//! loaded, address one with [`Client::for_wallet`].

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Amount, Txid};
use serde_json::Value;

use super::{Client, btc_param, decode_btc, text_param};
use crate::error::{Error, Result};
use crate::transport::param;
use crate::types::{AddressType, Unspent};

impl Client {
    /// `getnewaddress [label] [address_type]`, checked to belong to this client's network.
    pub async fn get_new_address(
        &self,
        label: Option<&str>,
        address_type: Option<AddressType>,
    ) -> Result<Address> {
        let mut params = Vec::new();
        if label.is_some() || address_type.is_some() {
            params.push(param(label.unwrap_or("").into()));
        }
        params.extend(address_type.map(|t| param(t.as_str().into())));
        let address: Address<NetworkUnchecked> = self.request("getnewaddress", &params).await?;
        self.require_network(address)
    }

    /// `getbalance`: the wallet's trusted balance.
    pub async fn get_balance(&self) -> Result<Amount> {
        let value: Value = self.request("getbalance", &[]).await?;
        decode_btc("getbalance", value)
    }

    /// `sendtoaddress <address> <amount>`: the wallet pays `amount` to `address`. Never
    /// retried once sent, since a retry could pay twice.
    pub async fn send_to_address(&self, address: &Address, amount: Amount) -> Result<Txid> {
        let params = [text_param(address), btc_param(amount)];
        self.request("sendtoaddress", &params).await
    }

    /// `listunspent <minconf> <maxconf> [addresses]`; all of the wallet's addresses when
    /// `addresses` is empty.
    pub async fn list_unspent(
        &self,
        minconf: u32,
        maxconf: u32,
        addresses: &[Address],
    ) -> Result<Vec<Unspent>> {
        let addresses: Vec<Value> = addresses.iter().map(|a| a.to_string().into()).collect();
        let params = [
            param(minconf.into()),
            param(maxconf.into()),
            param(addresses.into()),
        ];
        self.request("listunspent", &params).await
    }

    /// `getreceivedbyaddress <address> <minconf>`: the total received by a wallet address
    /// in transactions with at least `minconf` confirmations.
    pub async fn get_received_by_address(&self, address: &Address, minconf: u32) -> Result<Amount> {
        let params = [text_param(address), param(minconf.into())];
        let value: Value = self.request("getreceivedbyaddress", &params).await?;
        decode_btc("getreceivedbyaddress", value)
    }

    /// `address` if it is valid on this client's network.
    fn require_network(&self, address: Address<NetworkUnchecked>) -> Result<Address> {
        if !address.is_valid_for_network(self.network) {
            return Err(Error::AddressNetwork {
                address: address.assume_checked().to_string(),
                expected: self.network,
            });
        }
        Ok(address.assume_checked())
    }
}
