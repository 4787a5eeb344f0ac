//! A devnet served over bitcoind RPC in a temp dir, and the L1 client connected to it.

use std::net::SocketAddr;

use bitcoin::Network;
use cairn_devnet::{DevnetConfig, DevnetServer};
use cairn_l1::{Auth, Client, Config};

/// Starts a devnet in `dir/bitcoin` with `initial_blocks` mined to its wallet, and a
/// client connected to it with the cookie.
pub async fn start(dir: &std::path::Path, initial_blocks: u32) -> (DevnetServer, Client) {
    let devnet = DevnetServer::start(DevnetConfig {
        data_dir: dir.join("bitcoin"),
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        rpc_user: None,
        block_time: None,
        initial_blocks,
    })
    .await
    .expect("devnet starts");
    let config = Config::new(
        devnet.rpc_url(),
        Auth::CookieFile(devnet.cookie_path().to_owned()),
    );
    let client = Client::connect(&config, Network::Regtest)
        .await
        .expect("client connects");
    (devnet, client)
}
