//! The embedded Bitcoin devnet for tests: started in a temp dir, reached through the
//! same L1 client the node uses, mined and reorged on demand.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::{BlockHash, Network};
use cairn_devnet::{DevnetConfig, DevnetServer};
use cairn_l1::{Auth, Client};
use cairn_node::L1Config;

/// A running devnet and a client of it.
pub struct Devnet {
    pub server: DevnetServer,
    pub client: Client,
    pub rpc: cairn_l1::Config,
}

/// A devnet that mines only on demand, with 101 blocks so its wallet can spend.
pub async fn devnet(dir: &std::path::Path) -> Devnet {
    Devnet::start(dir, 101).await
}

impl Devnet {
    /// A devnet in `dir/bitcoin` that mines only on demand, with `initial_blocks` mined to
    /// its wallet.
    pub async fn start(dir: &std::path::Path, initial_blocks: u32) -> Self {
        let server = DevnetServer::start(DevnetConfig {
            data_dir: dir.join("bitcoin"),
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rpc_user: None,
            block_time: None,
            initial_blocks,
        })
        .await
        .expect("devnet");
        let rpc = cairn_l1::Config::new(
            server.rpc_url(),
            Auth::CookieFile(server.cookie_path().to_owned()),
        );
        let client = Client::connect(&rpc, Network::Regtest)
            .await
            .expect("client");
        Devnet {
            server,
            client,
            rpc,
        }
    }

    /// Its cookie file.
    pub fn cookie(&self) -> &std::path::Path {
        self.server.cookie_path()
    }

    /// How a node reaches it (polling every 20 ms).
    pub fn l1_config(&self) -> L1Config {
        L1Config {
            rpc: self.rpc.clone(),
            network: Network::Regtest,
            poll_interval: Duration::from_millis(20),
        }
    }

    /// Mines `blocks` blocks to a fresh wallet address.
    pub async fn mine(&self, blocks: u32) -> Vec<BlockHash> {
        let to = self
            .client
            .get_new_address(None, None)
            .await
            .expect("address");
        self.client
            .generate_to_address(blocks, &to)
            .await
            .expect("mine")
    }

    /// Every batch envelope on the best chain above `from`: how many times each batch
    /// hash's first chunk was revealed.
    pub async fn posted_batches(&self, from: u32) -> HashMap<alloy::primitives::B256, usize> {
        let tip = self.client.get_block_count().await.expect("count");
        let mut seen = HashMap::new();
        for height in from + 1..=tip {
            let hash = self.client.get_block_hash(height).await.expect("hash");
            let block = self.client.get_block(&hash).await.expect("block");
            for tx in &block.txdata {
                for chunk in cairn_da::scan_transaction(tx) {
                    if chunk.header.index == 0 {
                        *seen.entry(chunk.header.batch_hash).or_default() += 1;
                    }
                }
            }
        }
        seen
    }

    /// `invalidateblock`: `hash` and its descendants leave the best chain.
    pub async fn invalidate(&self, hash: &BlockHash) {
        self.client
            .invalidate_block(hash)
            .await
            .expect("invalidate");
    }

    /// A Bitcoin reorg of `depth` blocks: the top `depth` blocks are invalidated and a
    /// longer branch of `depth + 1` blocks is mined in their place (what they held goes
    /// back to the mempool). Returns the new branch.
    pub async fn reorg(&self, depth: u32) -> Vec<BlockHash> {
        let tip = self.client.get_block_count().await.expect("count");
        let first = self
            .client
            .get_block_hash(tip + 1 - depth)
            .await
            .expect("hash");
        self.client
            .invalidate_block(&first)
            .await
            .expect("invalidate");
        self.mine(depth + 1).await
    }
}

/// The transaction `txid` as `client`'s node has it (mempool or chain); panics if unknown.
pub async fn transaction(client: &Client, txid: &bitcoin::Txid) -> bitcoin::Transaction {
    client
        .get_raw_transaction(txid)
        .await
        .expect("rpc")
        .unwrap_or_else(|| panic!("transaction {txid} is unknown"))
}

/// What the devnet wallet received at `address` (1 confirmation).
pub async fn received(client: &Client, address: &bitcoin::Address) -> bitcoin::Amount {
    client
        .get_received_by_address(address, 1)
        .await
        .expect("received")
}

/// Mines one block without mempool transactions, paying `to`.
pub async fn empty_block(client: &Client, to: &bitcoin::Address) {
    client.generate_block(to, &[]).await.expect("empty block");
}
