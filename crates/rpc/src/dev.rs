//! Dev-chain controls as Anvil and Hardhat serve them (`evm_`, `anvil_`, `hardhat_`),
//! answered only by `cairn dev`: mining on demand and moving block time. Every other node
//! refuses them with an error naming `cairn dev`. Blocks mined this way are ordinary
//! blocks (batched, re-derivable), so these controls never pause settlement.

use std::sync::Arc;

use alloy_primitives::U256;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

pub use crate::context::DevControl;
use crate::context::RpcContext;
use crate::error::RpcError;

/// `evm_mine`'s optional argument: a timestamp, or Ganache's `{timestamp, blocks}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MineOptions {
    Timestamp(U256),
    Options {
        timestamp: Option<U256>,
        blocks: Option<U256>,
    },
}

/// The dev methods.
#[rpc(server, client)]
pub trait DevApi {
    /// Seal one block (Anvil answers `"0x0"`).
    #[method(name = "evm_mine", blocking)]
    fn evm_mine(&self, options: Option<MineOptions>) -> RpcResult<String>;
    /// Seal `count` blocks (default 1), `interval` seconds apart (default: the clock).
    #[method(name = "anvil_mine", aliases = ["hardhat_mine"], blocking)]
    fn anvil_mine(&self, count: Option<U256>, interval: Option<U256>) -> RpcResult<()>;
    /// Move block time ahead; returns the whole offset in seconds.
    #[method(name = "evm_increaseTime", aliases = ["anvil_increaseTime"])]
    fn increase_time(&self, seconds: U256) -> RpcResult<u64>;
    /// Give the next block this timestamp.
    #[method(name = "evm_setNextBlockTimestamp", aliases = ["anvil_setNextBlockTimestamp"])]
    fn set_next_block_timestamp(&self, timestamp: U256) -> RpcResult<()>;
    /// Blocks are sealed as transactions arrive: always `true`.
    #[method(name = "hardhat_getAutomine", aliases = ["anvil_getAutomine"])]
    fn get_automine(&self) -> RpcResult<bool>;
}

/// Serves the dev methods from the node's context.
pub(crate) struct DevRpc(pub(crate) Arc<RpcContext>);

impl DevRpc {
    fn control(&self, method: &str) -> Result<&dyn DevControl, ErrorObjectOwned> {
        self.0.dev.as_deref().ok_or_else(|| {
            ErrorObjectOwned::owned(
                jsonrpsee::types::error::METHOD_NOT_FOUND_CODE,
                format!(
                    "the method {method} is only served by `cairn dev`: this node's chain is settled on Bitcoin as it is"
                ),
                None::<()>,
            )
        })
    }
}

fn to_u64(value: U256, what: &str) -> Result<u64, ErrorObjectOwned> {
    u64::try_from(value)
        .map_err(|_| RpcError::InvalidParams(format!("{what} {value} is out of range")).into())
}

fn server(message: String) -> ErrorObjectOwned {
    RpcError::Server(message).into()
}

/// The most blocks one mining call may seal.
const MAX_MINE: u64 = 100_000;

/// A mining call's block count (default 1), within [`MAX_MINE`].
fn block_count(value: Option<U256>) -> Result<u64, ErrorObjectOwned> {
    let count = value.map_or(Ok(1), |c| to_u64(c, "block count"))?;
    if count > MAX_MINE {
        return Err(RpcError::InvalidParams(format!("at most {MAX_MINE} blocks at once")).into());
    }
    Ok(count)
}

impl DevApiServer for DevRpc {
    fn evm_mine(&self, options: Option<MineOptions>) -> RpcResult<String> {
        let control = self.control("evm_mine")?;
        let (timestamp, blocks) = match options {
            None => (None, None),
            Some(MineOptions::Timestamp(t)) => (Some(t), None),
            Some(MineOptions::Options { timestamp, blocks }) => (timestamp, blocks),
        };
        if let Some(t) = timestamp {
            control
                .set_next_timestamp(to_u64(t, "timestamp")?)
                .map_err(server)?;
        }
        let count = block_count(blocks)?;
        control.mine(count.max(1), None).map_err(server)?;
        Ok("0x0".into())
    }

    fn anvil_mine(&self, count: Option<U256>, interval: Option<U256>) -> RpcResult<()> {
        let control = self.control("anvil_mine")?;
        let count = block_count(count)?;
        let interval = interval.map(|i| to_u64(i, "interval")).transpose()?;
        control.mine(count, interval).map_err(server)?;
        Ok(())
    }

    fn increase_time(&self, value: U256) -> RpcResult<u64> {
        let control = self.control("evm_increaseTime")?;
        Ok(control.increase_time(to_u64(value, "time increase")?))
    }

    fn set_next_block_timestamp(&self, timestamp: U256) -> RpcResult<()> {
        let control = self.control("evm_setNextBlockTimestamp")?;
        control
            .set_next_timestamp(to_u64(timestamp, "timestamp")?)
            .map_err(server)
    }

    fn get_automine(&self) -> RpcResult<bool> {
        self.control("hardhat_getAutomine")?;
        Ok(true)
    }
}
