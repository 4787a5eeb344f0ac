//! The HTTP + WebSocket server (one port, like geth's `--http` and `--ws` on
//! 8545), with CORS for browser wallets and geth's size and batch limits.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use tower_http::cors::CorsLayer;

use crate::api::{RpcContext, module};

/// Subscription ids as geth makes them: `0x` and 32 random hex digits.
#[derive(Debug)]
struct HexIdProvider;

impl jsonrpsee::core::traits::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        format!("0x{:032x}", rand::random::<u128>()).into()
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    pub addr: SocketAddr,
    /// Largest request body (geth: 5 MiB).
    pub max_request_bytes: u32,
    /// Most calls in one batch (geth: 1000).
    pub max_batch: u32,
    pub max_connections: u32,
}

impl RpcConfig {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            max_request_bytes: 5 * 1024 * 1024,
            max_batch: 1000,
            max_connections: 1000,
        }
    }
}

/// Start serving; returns the bound address (useful with port 0) and a handle.
pub async fn start(
    config: RpcConfig,
    ctx: Arc<RpcContext>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let methods = module(ctx).map_err(std::io::Error::other)?;
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(u32::MAX / 2)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        .set_id_provider(HexIdProvider)
        .build();
    let middleware = tower::ServiceBuilder::new().layer(CorsLayer::permissive());
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(middleware)
        .build(config.addr)
        .await?;
    let addr = server.local_addr()?;
    let handle = server.start(methods);
    tracing::info!(target: "cairn::rpc", %addr, "JSON-RPC listening (HTTP and WebSocket)");
    Ok((addr, handle))
}
