//! The small namespaces, as typed traits: `web3_`, `net_` and `txpool_` (geth's answers:
//! `net_version` is the chain id, a node without peers answers `net_peerCount` 0).

use std::sync::Arc;

use alloy_primitives::{B256, Bytes, U64};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use serde::{Deserialize, Serialize};

use crate::context::RpcContext;
use crate::convert;

/// `web3_`.
#[rpc(server, client, namespace = "web3")]
pub trait Web3Api {
    /// `cairn/v<version>`.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
    /// Keccak-256 of `data`.
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

/// `net_`.
#[rpc(server, client, namespace = "net")]
pub trait NetApi {
    /// The chain id, in decimal.
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
    /// Always `true`.
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;
    /// Connected peers.
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}

/// `txpool_status`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxpoolStatus {
    /// Executable transactions.
    pub pending: U64,
    /// Transactions waiting for an earlier nonce.
    pub queued: U64,
}

/// `txpool_`.
#[rpc(server, client, namespace = "txpool")]
pub trait TxpoolApi {
    /// How many transactions wait.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<TxpoolStatus>;
    /// Every waiting transaction, by sender and nonce (geth's shape).
    #[method(name = "content", blocking)]
    fn content(&self) -> RpcResult<serde_json::Value>;
}

/// Serves the small namespaces from the node's context.
pub(crate) struct SmallRpc(pub(crate) Arc<RpcContext>);

impl Web3ApiServer for SmallRpc {
    fn client_version(&self) -> RpcResult<String> {
        Ok(self.0.client_version.clone())
    }

    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(alloy_primitives::keccak256(&data))
    }
}

impl NetApiServer for SmallRpc {
    fn version(&self) -> RpcResult<String> {
        Ok(self.0.spec.chain_id.to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

impl TxpoolApiServer for SmallRpc {
    fn status(&self) -> RpcResult<TxpoolStatus> {
        let status = self.0.pool.status();
        Ok(TxpoolStatus {
            pending: U64::from(status.pending),
            queued: U64::from(status.queued),
        })
    }

    fn content(&self) -> RpcResult<serde_json::Value> {
        let (pending, queued) = self.0.pool.content();
        Ok(serde_json::json!({
            "pending": convert::pool_section(&pending),
            "queued": convert::pool_section(&queued),
        }))
    }
}
