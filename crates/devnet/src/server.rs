//! The running devnet: chain, wallet, the RPC server with its cookie file, and the
//! interval miner, as `cairn dev` starts them in-process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::rpc::{self, Credentials};
use crate::state::{StartError, State};
use crate::wallet::AddressType;

/// bitcoind's cookie file name and user.
const COOKIE_FILE: &str = ".cookie";
const COOKIE_USER: &str = "__cookie__";

/// How to run the devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Its data dir (`<cairn data dir>/bitcoin`): blocks, wallet, `.cookie`.
    pub data_dir: PathBuf,
    /// Where the RPC listens (port 0 picks a free one).
    pub rpc_addr: SocketAddr,
    /// Extra accepted `user:password` besides the cookie.
    pub rpc_user: Option<(String, String)>,
    /// Mine a block this often (`None`: only on demand).
    pub block_time: Option<Duration>,
    /// Blocks mined to the wallet when the chain is new (101 makes the first coinbase
    /// spendable).
    pub initial_blocks: u32,
}

/// A running devnet. Dropping it stops the RPC server and the miner and removes the cookie.
#[derive(Debug)]
pub struct DevnetServer {
    state: Arc<Mutex<State>>,
    rpc_addr: SocketAddr,
    cookie_path: PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DevnetServer {
    /// Opens the chain, mines the initial blocks on a new chain, writes the cookie, binds
    /// the RPC port and starts the miner. Must run inside a tokio runtime.
    pub async fn start(config: DevnetConfig) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let dir = config.data_dir.clone();
        let initial = config.initial_blocks;
        let state = tokio::task::spawn_blocking(move || -> Result<State, StartError> {
            let mut state = State::open(&dir)?;
            if state.devnet.chain().height() == 0 && initial > 0 {
                let script = state
                    .wallet
                    .new_address(AddressType::Bech32m, "")?
                    .script_pubkey();
                state.mine(initial, &script)?;
            }
            Ok(state)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        let state = Arc::new(Mutex::new(state));

        let listener = rpc::bind(config.rpc_addr).await?;
        let rpc_addr = listener.local_addr()?;
        let cookie_path = config.data_dir.join(COOKIE_FILE);
        let cookie = write_cookie(&cookie_path)?;
        let mut accepted = vec![cookie];
        if let Some((user, password)) = &config.rpc_user {
            accepted.push(format!("{user}:{password}"));
        }

        let (shutdown, rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(rpc::serve(
            listener,
            state.clone(),
            Credentials::new(accepted),
            rx.clone(),
        ))];
        if let Some(interval) = config.block_time {
            tasks.push(tokio::spawn(mine_every(state.clone(), interval, rx)));
        }
        tracing::info!(target: "cairn::devnet", rpc = %rpc_addr, cookie = %cookie_path.display(), "bitcoin devnet RPC listening");
        Ok(Self {
            state,
            rpc_addr,
            cookie_path,
            shutdown,
            tasks,
        })
    }

    /// The RPC address actually bound.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// The cookie file clients authenticate with.
    pub fn cookie_path(&self) -> &Path {
        &self.cookie_path
    }

    /// The shared state (for in-process tools and tests).
    pub fn state(&self) -> Arc<Mutex<State>> {
        self.state.clone()
    }

    /// Stops serving and waits for the tasks to finish.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for DevnetServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        let _ = std::fs::remove_file(&self.cookie_path);
    }
}

/// Writes `__cookie__:<random hex>` readable by the owner only, as bitcoind does.
fn write_cookie(path: &Path) -> std::io::Result<String> {
    let cookie = format!("{COOKIE_USER}:{}", hex::encode(rand::random::<[u8; 32]>()));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &cookie)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(cookie)
}

/// Mines one block every `interval` to a wallet address, until shutdown.
async fn mine_every(
    state: Arc<Mutex<State>>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let script = {
        let mut s = state.lock();
        match s.wallet.new_address(AddressType::Bech32m, "mining") {
            Ok(address) => address.script_pubkey(),
            Err(e) => {
                tracing::error!(target: "cairn::devnet", error = %e, "no mining address; interval mining off");
                return;
            }
        }
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (state, script) = (state.clone(), script.clone());
        let mined = tokio::task::spawn_blocking(move || state.lock().mine(1, &script)).await;
        match mined {
            Ok(Ok(hashes)) => {
                tracing::debug!(target: "cairn::devnet", block = ?hashes.first(), "mined")
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "cairn::devnet", error = %e, "interval mining failed")
            }
            Err(e) => tracing::error!(target: "cairn::devnet", error = %e, "miner task failed"),
        }
    }
}
