//! Starting and stopping a node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use anyhow::Context as _;
use cairn_primitives::ChainSpec;
use cairn_rpc::{RpcConfig, RpcContext};
use cairn_sequencer::{Pool, PoolConfig, Producer, ProducerConfig};
use cairn_storage::{Storage, StorageOptions};
use jsonrpsee::server::ServerHandle;

use cairn_bridge::server::SignerAuth;
use cairn_bridge::{Coordinator, Peg, Signer, SignerLink};

use crate::l1::{L1, L1Config};
use crate::settle::{SettlementConfig, SharedStatus};
use crate::supervise::Supervisor;

/// L2 blocks of change sets a follower keeps, so that it can unwind batches a Bitcoin reorg
/// drops (about 5 hours of 250 ms blocks).
const FOLLOWER_HISTORY_BLOCKS: usize = 72_000;

/// Everything needed to run a sequencer node.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub data_dir: PathBuf,
    pub spec: ChainSpec,
    pub http_addr: SocketAddr,
    pub block_time: Duration,
    pub empty_block_interval: Duration,
    pub fee_recipient: Address,
    /// fsync each block (off only for benchmarks that measure without it).
    pub sync_writes: bool,
    pub pool: PoolConfig,
    /// The Bitcoin node to settle on (`None`: no L1, for tests and benchmarks of the L2
    /// alone).
    pub l1: Option<L1Config>,
    /// Settlement on Bitcoin (needs `l1`): with a sequencer key the node produces blocks
    /// and posts them as batches; without one it follows, deriving the chain from Bitcoin
    /// instead of producing blocks.
    pub settlement: Option<SettlementConfig>,
    /// Signing and paying withdrawals (networks with a peg).
    pub peg: PegRuntime,
    /// `cairn dev`'s controls (Anvil's and Hardhat's methods) and the accounts it signs
    /// for; `None` on every other node.
    pub dev: Option<DevOptions>,
}

/// What `cairn dev` adds to a node.
#[derive(Debug, Clone, Default)]
pub struct DevOptions {
    /// Accounts `eth_sendTransaction` signs for (`eth_accounts`).
    pub unlocked: Vec<alloy_signer_local::PrivateKeySigner>,
}

/// The peg's processes on this node.
#[derive(Debug, Clone)]
pub struct PegRuntime {
    /// This node's federation key (`cairn signer`): it serves `cairn_signPayout` on its
    /// own listener.
    pub signer_key: Option<bitcoin::key::Keypair>,
    /// Where that listener binds (`127.0.0.1`, any free port, if not given).
    pub signer_rpc_addr: Option<SocketAddr>,
    /// The secret callers of the listener present (if not given, a cookie file
    /// `<data-dir>/signer.cookie` holds a fresh one).
    pub signer_rpc_token: Option<String>,
    /// Signers run inside this process (`cairn dev`); the coordinator asks them directly.
    pub local_signers: Vec<bitcoin::key::Keypair>,
    /// `cairn signer` listener URLs the coordinator asks (a URL may carry its signer's
    /// secret as password: `http://__cookie__:SECRET@host:port`).
    pub signer_urls: Vec<String>,
    /// The secret sent to every signer whose URL carries none.
    pub signer_token: Option<String>,
    /// Fee ceiling of payouts, sat/vB (signer and coordinator).
    pub max_fee_rate: u64,
}

impl Default for PegRuntime {
    fn default() -> Self {
        Self {
            signer_key: None,
            signer_rpc_addr: None,
            signer_rpc_token: None,
            local_signers: Vec::new(),
            signer_urls: Vec::new(),
            signer_token: None,
            max_fee_rate: cairn_peg::policy::DEFAULT_MAX_FEE_RATE,
        }
    }
}

/// A `cairn signer`'s listener.
pub struct SignerListener {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The cookie file holding its secret (none when `--signer-rpc-token` set it).
    pub cookie: Option<PathBuf>,
    server: ServerHandle,
}

impl LaunchConfig {
    /// Whether this node derives its chain instead of producing it.
    pub fn is_follower(&self) -> bool {
        self.settlement
            .as_ref()
            .is_some_and(SettlementConfig::is_follower)
    }
}

/// A running node.
pub struct Node {
    pub rpc_addr: SocketAddr,
    pub storage: Arc<Storage>,
    pub pool: Arc<Pool>,
    pub producer: Arc<Producer>,
    /// The connection to Bitcoin, if configured.
    pub l1: Option<L1>,
    /// Settlement's live status, if the node settles.
    pub settlement: Option<SharedStatus>,
    /// The signer listener (`cairn signer`).
    pub signer: Option<SignerListener>,
    server: ServerHandle,
    producer_thread: Option<std::thread::JoinHandle<()>>,
    supervisor: Supervisor,
}

impl Node {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.rpc_addr)
    }

    /// Runs until SIGINT or SIGTERM (`Ok`), or until a critical task stops (`Err` with
    /// why: the caller shuts down and exits non-zero).
    pub async fn until_stopped(&mut self) -> anyhow::Result<()> {
        tokio::select! {
            signal = crate::supervise::shutdown_signal() => {
                signal.context("cannot listen for shutdown signals")?;
                tracing::info!(target: "cairn::node", "shutting down");
                Ok(())
            }
            reason = self.supervisor.failure() => Err(anyhow::anyhow!("a critical task stopped: {reason}")),
        }
    }

    /// Waits for a critical task to stop, and says why (tests).
    pub async fn failure(&mut self) -> String {
        self.supervisor.failure().await
    }

    /// Stop block production (after the block in progress) and the RPC server.
    pub async fn shutdown(mut self) {
        if let Some(l1) = &self.l1 {
            l1.stop();
        }
        self.supervisor.abort_all();
        if let Some(signer) = &self.signer {
            let _ = signer.server.stop();
        }
        self.producer.stop();
        if let Some(thread) = self.producer_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let _ = self.server.stop();
        self.server.stopped().await;
    }
}

/// Open storage, restore the mempool, start block production and the RPC.
pub async fn launch(config: LaunchConfig) -> anyhow::Result<Node> {
    config.spec.validate()?;
    // Bitcoin first: a node pointed at the wrong network or with bad credentials must not
    // start at all.
    let l1 = match &config.l1 {
        Some(l1) => Some(L1::start(l1).await?),
        None => None,
    };
    if let Some(settlement) = &config.settlement {
        let l1 = l1
            .as_ref()
            .context("settlement needs a Bitcoin node (--l1-rpc-url)")?;
        crate::settle::check_start(l1.client(), &settlement.rollup).await?;
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let db_path = config.data_dir.join("db");
    let options = StorageOptions {
        sync_writes: config.sync_writes,
        // A follower unwinds what Bitcoin reorgs drop, and a sequencer with a peg the
        // blocks after a deposit a reorg removes: keep that much history.
        history_blocks: if config.is_follower()
            || config
                .settlement
                .as_ref()
                .is_some_and(|s| s.rollup.peg.is_some())
        {
            FOLLOWER_HISTORY_BLOCKS
        } else {
            128
        },
        ..Default::default()
    };
    let spec = config.spec.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&db_path, &spec, options))
        .await?
        .with_context(|| format!("cannot open the database in {}", config.data_dir.display()))?;
    let storage = Arc::new(storage);
    let head = storage.head();
    tracing::info!(
        target: "cairn::node",
        head = head.block.number(),
        hash = %head.block.hash,
        chain_id = config.spec.chain_id,
        "chain ready"
    );
    if let Some(from) = storage.local_from() {
        tracing::warn!(
            target: "cairn::node",
            from,
            "blocks from here on were made by dev state edits or snapshots and exist only on this node: settlement posts only the blocks before it (start a fresh data dir to settle again)"
        );
    }
    let pool = Arc::new(
        Pool::new(
            config.pool.clone(),
            config.spec.clone(),
            storage.clone(),
            Some(&config.data_dir.join("mempool.journal")),
        )
        .context("cannot open the mempool journal")?,
    );
    if let Some(settlement) = config.settlement.as_ref().filter(|s| !s.is_follower()) {
        // Until the batcher reads Bitcoin's fee rate, charge the last one, or on a fresh
        // chain the configured fallback: estimates made now must still hold when the
        // rate arrives.
        let rate = match cairn_execution::l1fee::l1_fee_rate_of(&head.block.header) {
            0 => settlement.batcher.fallback_fee_rate,
            rate => bitcoin::FeeRate::from_sat_per_kwu(rate),
        };
        pool.l1_fee_rate().set(rate);
    }
    let producer = Arc::new(Producer::new(
        storage.clone(),
        pool.clone(),
        config.spec.clone(),
        ProducerConfig {
            block_time: config.block_time,
            empty_block_interval: config.empty_block_interval,
            fee_recipient: config.fee_recipient,
        },
    ));
    let peg = match &config.settlement {
        Some(settlement) => Peg::open(&config.data_dir, &settlement.rollup, storage.clone())?,
        None => None,
    };
    let policy = cairn_peg::policy::FeePolicy {
        max_fee_rate: bitcoin::FeeRate::from_sat_per_vb(config.peg.max_fee_rate)
            .context("--peg-max-fee-rate is too high")?,
    };
    let peg_dir = config.data_dir.join("peg");
    // Which sequencer signers sign for: the settlement task sets it from derivation.
    let active_sequencer = cairn_bridge::ActiveSequencer::default();
    let signer = match (&peg, config.peg.signer_key) {
        (Some(peg), Some(key)) => Some(Arc::new(Signer::open(
            peg.clone(),
            storage.clone(),
            key,
            policy,
            &peg_dir,
            active_sequencer.clone(),
        )?)),
        (None, Some(_)) => anyhow::bail!("this network has no peg: there is nothing to sign"),
        _ => None,
    };
    let sequencer_key = config.settlement.as_ref().and_then(|s| s.sequencer);
    let coordinator = match (&peg, &l1, sequencer_key) {
        (Some(peg), Some(l1), Some(sequencer_key))
            if !config.peg.local_signers.is_empty() || !config.peg.signer_urls.is_empty() =>
        {
            let mut links = Vec::new();
            for key in &config.peg.local_signers {
                let signer = Signer::open(
                    peg.clone(),
                    storage.clone(),
                    *key,
                    policy,
                    &peg_dir,
                    active_sequencer.clone(),
                )?;
                links.push(SignerLink::Local(Arc::new(signer)));
            }
            for url in &config.peg.signer_urls {
                links.push(SignerLink::remote(url, config.peg.signer_token.as_deref())?);
            }
            Some(Arc::new(Coordinator::open(
                peg.clone(),
                storage.clone(),
                l1.client().clone(),
                links,
                policy,
                &peg_dir,
                sequencer_key,
            )?))
        }
        _ => None,
    };
    let mut supervisor = Supervisor::default();
    let settlement = match (&config.settlement, &l1) {
        (Some(settlement), Some(l1)) => {
            let link = peg.clone().map(|peg| crate::settle::PegLink {
                peg,
                producer: (!config.is_follower()).then(|| producer.clone()),
                coordinator: coordinator.clone(),
            });
            let poll = config
                .l1
                .as_ref()
                .map_or(Duration::from_secs(1), |c| c.poll_interval);
            let (task, status) = crate::settle::spawn(
                l1.client().clone(),
                storage.clone(),
                settlement.clone(),
                config.data_dir.clone(),
                poll,
                crate::settle::Links {
                    blocks: producer.block_sender(),
                    l1_fee_rate: pool.l1_fee_rate().clone(),
                    peg: link,
                    pool: Some(pool.clone()),
                    producer: Some(producer.clone()),
                    active_sequencer: active_sequencer.clone(),
                },
            )
            .await?;
            supervisor.spawn_critical("the settlement task", task);
            Some(status)
        }
        _ => None,
    };
    let mut ctx = RpcContext::new(
        storage.clone(),
        pool.clone(),
        config.spec.clone(),
        producer.block_sender(),
        format!("cairn/v{}", env!("CARGO_PKG_VERSION")),
    );
    ctx.accepts_transactions = !config.is_follower();
    ctx.settlement = settlement.clone().map(|status| {
        Arc::new(crate::settle::RpcSource(status)) as Arc<dyn cairn_rpc::SettlementSource>
    });
    ctx.peg = peg.clone().map(|peg| peg as Arc<dyn cairn_rpc::PegSource>);
    if let Some(dev) = config.dev.as_ref().filter(|_| !config.is_follower()) {
        ctx.dev = Some(Arc::new(cairn_sequencer::DevChain::new(
            producer.clone(),
            dev.unlocked.clone(),
        )));
        // Hardhat's network helpers speak to a node whose version starts with `anvil`
        // (or `hardhat`) in that dialect: `cairn dev` serves Anvil's methods.
        ctx.client_version = format!(
            "anvil/v1.7.1 (cairn dev v{}: Anvil-compatible dev methods)",
            env!("CARGO_PKG_VERSION")
        );
    }
    let ctx = Arc::new(ctx);
    let (rpc_addr, server) = cairn_rpc::start(RpcConfig::new(config.http_addr), ctx)
        .await
        .with_context(|| format!("cannot serve JSON-RPC on {}", config.http_addr))?;
    let signer = match signer {
        Some(signer) => Some(serve_signer(signer, &config).await?),
        None => None,
    };
    let producer_thread = if config.is_follower() {
        None
    } else {
        let runner = producer.clone();
        let thread = supervisor
            .spawn_critical_thread("producer", move || runner.run())
            .context("cannot start the block producer")?;
        Some(thread)
    };
    Ok(Node {
        rpc_addr,
        storage,
        pool,
        producer,
        l1,
        settlement,
        signer,
        server,
        producer_thread,
        supervisor,
    })
}

/// Starts `cairn signer`'s own listener, behind its token or a fresh cookie.
async fn serve_signer(
    signer: Arc<Signer>,
    config: &LaunchConfig,
) -> anyhow::Result<SignerListener> {
    let (auth, cookie) = match &config.peg.signer_rpc_token {
        Some(token) => (SignerAuth::token(token), None),
        None => {
            let (auth, path) = SignerAuth::cookie(&config.data_dir)?;
            (auth, Some(path))
        }
    };
    let addr = config
        .peg
        .signer_rpc_addr
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let (addr, server) = cairn_bridge::server::serve(addr, signer, auth)
        .await
        .with_context(|| format!("cannot serve the signer listener on {addr}"))?;
    Ok(SignerListener {
        addr,
        cookie,
        server,
    })
}
