//! What the RPC methods work on: the chain, the wallet and the devnet's own records, one
//! [`State`] behind the server's lock. The server (`server`) owns it; the methods (`rpc`)
//! borrow it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use bitcoin::{ScriptBuf, Txid};

use crate::devnet::Devnet;
use crate::wallet::{Wallet, WalletError};

/// Why the devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The chain could not be opened.
    #[error(transparent)]
    Devnet(#[from] crate::Error),
    /// The wallet could not be opened.
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// The RPC port could not be bound or the cookie written.
    #[error("devnet RPC: {0}")]
    Io(#[from] std::io::Error),
}

/// What the RPC methods work on.
#[derive(Debug)]
pub struct State {
    /// The chain.
    pub devnet: Devnet,
    /// The built-in wallet.
    pub wallet: Wallet,
    /// When each mempool transaction arrived and at which height (`getmempoolentry`).
    pub arrivals: HashMap<Txid, (u32, u32)>,
    /// When the devnet started (`uptime`).
    pub started: Instant,
}

impl State {
    /// Opens the chain and wallet in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StartError> {
        let devnet = Devnet::open(dir)?;
        let wallet = Wallet::open(dir)?;
        Ok(Self {
            devnet,
            wallet,
            arrivals: HashMap::new(),
            started: Instant::now(),
        })
    }

    /// Mines `count` blocks paying `script`, logging failures.
    pub fn mine(
        &mut self,
        count: u32,
        script: &ScriptBuf,
    ) -> crate::Result<Vec<bitcoin::BlockHash>> {
        let hashes = self.devnet.mine_blocks(count, script)?;
        self.forget_confirmed();
        Ok(hashes)
    }

    /// Drops arrival records of transactions no longer in the mempool.
    pub fn forget_confirmed(&mut self) {
        let mempool = self.devnet.chain().mempool();
        self.arrivals.retain(|txid, _| mempool.contains(txid));
    }
}
