//! A devnet served over bitcoind RPC in a temp dir, and the L1 client connected to it
//! (the test kit's).

use cairn_devnet::DevnetServer;
use cairn_l1::Client;

/// Starts a devnet in `dir/bitcoin` with `initial_blocks` mined to its wallet, and a
/// client connected to it with the cookie.
pub async fn start(dir: &std::path::Path, initial_blocks: u32) -> (DevnetServer, Client) {
    let devnet = cairn_test_utils::Devnet::start(dir, initial_blocks).await;
    (devnet.server, devnet.client)
}
