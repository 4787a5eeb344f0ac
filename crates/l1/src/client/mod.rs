//! [`Client`]: typed calls in Bitcoin Core's JSON-RPC dialect.
//!
//! Raw forms are preferred wherever bitcoind has one (`getblock <hash> 0`,
//! `getblockheader <hash> false`, `getrawtransaction <txid> false`) and are
//! consensus-decoded into rust-bitcoin types; verbose answers decode into [`crate::types`].

mod chain;
mod wallet;

use bitcoin::consensus::{Decodable, encode};
use bitcoin::hex::FromHex;
use bitcoin::{Amount, Network};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::transport::{Param, Transport, param};
use crate::types::BlockchainInfo;

/// A client of one bitcoind (or of the devnet, which speaks the same dialect) on a known
/// network. Cloning is cheap and clones share the connection pool and credentials.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Transport,
    network: Network,
}

impl Client {
    /// A client for the node at `config.url` on `network`, without contacting it and
    /// without checking its network; see [`Client::connect`].
    pub fn new(config: &Config, network: Network) -> Result<Self> {
        Ok(Self {
            transport: Transport::new(config)?,
            network,
        })
    }

    /// Connects to the node at `config.url` (retrying while it starts) and refuses it
    /// with [`Error::WrongNetwork`] unless it is on `expected`: a mainnet node must never
    /// be mistaken for a regtest one, nor the other way round.
    pub async fn connect(config: &Config, expected: Network) -> Result<Self> {
        let client = Self::new(config, expected)?;
        let info = client.check_network().await?;
        tracing::info!(
            target: "cairn::l1::rpc",
            url = %client.url(),
            chain = %info.chain,
            blocks = info.blocks,
            "connected to bitcoind"
        );
        Ok(client)
    }

    /// Asks the node for its chain and fails with [`Error::WrongNetwork`] unless it is
    /// this client's network.
    pub async fn check_network(&self) -> Result<BlockchainInfo> {
        let info = self.get_blockchain_info().await?;
        if info.network() != Some(self.network) {
            return Err(Error::WrongNetwork {
                expected: self.network,
                actual: info.chain,
            });
        }
        Ok(info)
    }

    /// The network this client expects.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The node's URL (without credentials).
    pub fn url(&self) -> &str {
        self.transport.url()
    }

    /// The same node, addressing the wallet `name` (`/wallet/<name>`), for nodes with
    /// more than one wallet loaded.
    pub fn for_wallet(&self, name: &str) -> Self {
        Self {
            transport: self.transport.for_wallet(name),
            network: self.network,
        }
    }

    /// Calls `method` with positional `params` and returns the raw `result`.
    ///
    /// Retries follow the client's policy; a method that [`crate::is_idempotent`] does not
    /// list is only repeated when it certainly did not reach bitcoind.
    pub async fn call_raw(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        let params: Vec<Param> = params.into_iter().map(param).collect();
        self.transport.call(method, &params).await
    }

    /// [`Client::call_raw`], decoding the result into `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
        let result = self.call_raw(method, params).await?;
        decode_json(method, result)
    }

    /// Calls `method` with already serialized parameters, decoding the result into `T`.
    async fn request<T: DeserializeOwned>(&self, method: &str, params: &[Param]) -> Result<T> {
        let result = self.transport.call(method, params).await?;
        decode_json(method, result)
    }

    /// Calls `method`, expecting a hex string with a consensus-encoded `T`.
    async fn request_hex<T: Decodable>(&self, method: &str, params: &[Param]) -> Result<T> {
        let hex: String = self.request(method, params).await?;
        decode_hex(method, &hex)
    }
}

/// `value` as a `T`, or [`Error::Decode`] naming `method`.
fn decode_json<T: DeserializeOwned>(method: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::decode(method, e))
}

/// A consensus-encoded `T` from bitcoind's hex.
fn decode_hex<T: Decodable>(method: &str, hex: &str) -> Result<T> {
    let bytes = Vec::<u8>::from_hex(hex).map_err(|e| Error::decode(method, e))?;
    encode::deserialize(&bytes).map_err(|e| Error::decode(method, e))
}

/// A JSON-RPC result in BTC as an [`Amount`].
fn decode_btc(method: &str, value: Value) -> Result<Amount> {
    bitcoin::amount::serde::as_btc::deserialize(value).map_err(|e| Error::decode(method, e))
}

/// `amount` as a JSON number with exactly 8 decimals, as bitcoind parses amounts
/// (`1.25000000`), so no binary floating point is involved on the way out.
fn btc_param(amount: Amount) -> Param {
    let sat = amount.to_sat();
    let text = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    serde_json::value::RawValue::from_string(text)
        .expect("digits, a dot and digits are a JSON number")
}

/// Anything with a `Display` in bitcoind's format (hashes, addresses) as a JSON string.
fn text_param(value: impl std::fmt::Display) -> Param {
    param(Value::String(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_go_out_with_eight_decimals() {
        assert_eq!(btc_param(Amount::from_sat(125_000_000)).get(), "1.25000000");
        assert_eq!(btc_param(Amount::from_sat(1)).get(), "0.00000001");
        assert_eq!(btc_param(Amount::MAX_MONEY).get(), "21000000.00000000");
    }

    #[test]
    fn btc_results_are_exact() {
        assert_eq!(
            decode_btc("getbalance", serde_json::json!(2.62e-05)).expect("a BTC amount"),
            Amount::from_sat(2620)
        );
        assert!(decode_btc("getbalance", serde_json::json!(0.123456789)).is_err());
        assert!(decode_btc("getbalance", serde_json::json!("1")).is_err());
    }

    #[test]
    fn hex_must_be_consumed_entirely() {
        let header: bitcoin::block::Header = decode_hex(
            "getblockheader",
            "0000002006226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f418dce0cf674c5e79cfda4757d0348270ebfa6c460a2d31a77eea697973899cce65e026bffff7f2000000000",
        )
        .expect("record 13 of regtest-29.2.json");
        assert_eq!(
            header.block_hash().to_string(),
            "3d5527cac0891829f6bf6a5a842d86ea368234c14ef88d2a1f629308cece7bb3"
        );
        let trailing = decode_hex::<bitcoin::block::Header>(
            "getblockheader",
            "0000002006226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f418dce0cf674c5e79cfda4757d0348270ebfa6c460a2d31a77eea697973899cce65e026bffff7f200000000000",
        );
        assert!(matches!(trailing, Err(Error::Decode { .. })));
    }
}
