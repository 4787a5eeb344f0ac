//! The bench's course: derive and fund the accounts, then for each kind of transfer a
//! run at full speed and one at half the throughput it reached (or one at `--rate`),
//! each on a fresh node.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context as _, bail, ensure};
use cairn_node::dev::DEV_FEE_RECIPIENT;
use cairn_node::{LaunchConfig, Node};
use cairn_primitives::{ChainSpec, GenesisAccount, units::btc_to_wei};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::HttpClientBuilder;
use rayon::prelude::*;

use crate::args::{BenchArgs, BenchKind};
use crate::load::{DriveOptions, drive};
use crate::report::{RunReport, proc_status_mib, report, reset_peak_rss, table};
use crate::sign::{
    CHAIN_ID, Fees, GENESIS_BTC, SignedTx, bench_signer, sign_timed, sign_transfers,
};
use crate::token::{BALANCE_OF_SELECTOR, TOKENS_PER_ACCOUNT, TokenSetup, sign_token_setup};

/// Deletes the bench's temporary data directory however the bench ends.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub(crate) struct Bench {
    args: BenchArgs,
    spec: ChainSpec,
    base_dir: PathBuf,
    accounts: Vec<PrivateKeySigner>,
    addresses: Vec<Address>,
    deployer: PrivateKeySigner,
    fees: Fees,
    runs: usize,
}

impl Bench {
    async fn launch(&mut self, label: &str) -> anyhow::Result<(Node, PathBuf)> {
        self.runs += 1;
        let dir = self.base_dir.join(format!("{:02}-{label}", self.runs));
        ensure!(
            !dir.exists(),
            "{} already exists; give --data-dir an empty directory",
            dir.display()
        );
        let node = cairn_node::launch(LaunchConfig {
            data_dir: dir.clone(),
            spec: self.spec.clone(),
            http_addr: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            block_time: self.args.block_time,
            empty_block_interval: Duration::from_secs(2),
            fee_recipient: DEV_FEE_RECIPIENT,
            sync_writes: !self.args.no_fsync,
            pool: Default::default(),
            l1: None,
            settlement: None,
            peg: Default::default(),
            dev: None,
        })
        .await?;
        node.pool.l1_fee_rate().set(self.fees.l1_fee_rate);
        Ok((node, dir))
    }

    fn stall(&self) -> Duration {
        (self.args.block_time * 40).max(Duration::from_secs(20))
    }

    /// Deploy the token and give every bench account its share.
    async fn setup_token(&self, node: &Node, setup: &TokenSetup) -> anyhow::Result<()> {
        let started = Instant::now();
        for round in &setup.rounds {
            let txs: Vec<SignedTx> = round
                .iter()
                .map(|t| SignedTx {
                    hash: t.hash,
                    sender: t.sender,
                    params: t.params.clone(),
                })
                .collect();
            let expected = txs.len();
            let observed = drive(
                node,
                Arc::new(txs),
                DriveOptions {
                    rate: 0,
                    batch: self.args.batch,
                    connections: 1,
                    stall: self.stall(),
                },
            )
            .await
            .context("token setup")?;
            let ok = observed
                .included
                .iter()
                .flatten()
                .filter(|i| i.success)
                .count();
            ensure!(
                ok == expected,
                "token setup: {ok} of {expected} transactions succeeded"
            );
        }
        // Check the outcome through the RPC, as a wallet would see it.
        let client = HttpClientBuilder::default().build(node.http_url())?;
        for who in [self.addresses[0], self.addresses[self.addresses.len() - 1]] {
            let mut data = BALANCE_OF_SELECTOR.to_vec();
            data.extend_from_slice(&[0u8; 12]);
            data.extend_from_slice(who.as_slice());
            let call = serde_json::json!({ "to": setup.token, "data": Bytes::from(data) });
            let balance: U256 = client
                .request("eth_call", jsonrpsee::rpc_params![call, "latest"])
                .await?;
            ensure!(
                balance == U256::from(TOKENS_PER_ACCOUNT),
                "token setup: {who} holds {balance} tokens, expected {TOKENS_PER_ACCOUNT}"
            );
        }
        eprintln!(
            "  token {} deployed and distributed to {} accounts in {:.1}s (not measured)",
            setup.token,
            self.addresses.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// One measured run on a fresh node.
    async fn run_once(
        &mut self,
        kind: &'static str,
        txs: &Arc<Vec<SignedTx>>,
        setup: Option<&TokenSetup>,
        rate: u64,
    ) -> anyhow::Result<RunReport> {
        let load = if rate == 0 {
            "max".to_string()
        } else {
            format!("{rate}tps")
        };
        eprintln!("\n== {kind}, {} transactions, load {load} ==", txs.len());
        reset_peak_rss();
        let rss_before = proc_status_mib("VmRSS:");
        let (node, dir) = self.launch(&format!("{kind}-{load}")).await?;
        let outcome = async {
            if let Some(setup) = setup {
                self.setup_token(&node, setup).await?;
            }
            drive(
                &node,
                txs.clone(),
                DriveOptions {
                    rate,
                    batch: self.args.batch,
                    connections: self.args.connections,
                    stall: self.stall(),
                },
            )
            .await
        }
        .await;
        node.shutdown().await;
        if self.args.data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let observed = outcome?;
        let logs_expected = if setup.is_some() { 1 } else { 0 };
        let report = report(kind, rate, &observed, logs_expected, &self.spec, rss_before);
        eprintln!(
            "  {} included of {} in {:.2}s: {:.0} tx/s; p50 {:.0} ms, p99 {:.0} ms",
            report.included,
            report.txs,
            report.duration_s,
            report.included_per_s,
            report.latency_p50_ms,
            report.latency_p99_ms
        );
        Ok(report)
    }

    /// The max-throughput run and the half-load run (or one run at `--rate`).
    async fn run_kind(
        &mut self,
        kind: &'static str,
        txs: Arc<Vec<SignedTx>>,
        setup: Option<&TokenSetup>,
    ) -> anyhow::Result<Vec<RunReport>> {
        if self.args.rate > 0 {
            let rate = self.args.rate;
            return Ok(vec![self.run_once(kind, &txs, setup, rate).await?]);
        }
        let max = self.run_once(kind, &txs, setup, 0).await?;
        let half = ((max.included_per_s / 2.0).round() as u64).max(1);
        let paced = self.run_once(kind, &txs, setup, half).await?;
        Ok(vec![max, paced])
    }
}

/// Runs the bench: every run `--kind` asks for, the table, and the JSON if asked.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    ensure!(args.accounts >= 2, "--accounts must be at least 2");
    ensure!(args.txs >= 1, "--txs must be at least 1");
    ensure!(
        (1..=1000).contains(&args.batch),
        "--batch must be between 1 and 1000 (the server's batch limit)"
    );
    ensure!(args.connections >= 1, "--connections must be at least 1");
    let per_sender = args.txs.div_ceil(args.accounts);
    let pool_limits = cairn_sequencer::PoolConfig::default();
    ensure!(
        per_sender <= pool_limits.max_per_sender,
        "{per_sender} transactions per account exceed the mempool's {} per sender; use more --accounts",
        pool_limits.max_per_sender
    );
    ensure!(
        args.rate > 0 || args.txs <= pool_limits.max_transactions,
        "at full speed all {} transactions may wait in the mempool at once, which holds {}; lower --txs or set --rate",
        args.txs,
        pool_limits.max_transactions
    );

    let started = Instant::now();
    let (accounts, deployer) = tokio::task::spawn_blocking({
        let n = args.accounts;
        move || -> anyhow::Result<_> {
            let accounts = (0..n as u64)
                .into_par_iter()
                .map(|i| bench_signer("account", i))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((accounts, bench_signer("deployer", 0)?))
        }
    })
    .await??;
    let addresses: Vec<Address> = accounts.iter().map(|s| s.address()).collect();
    let alloc: BTreeMap<Address, GenesisAccount> = addresses
        .iter()
        .chain([&deployer.address()])
        .map(|a| {
            (
                *a,
                GenesisAccount {
                    balance: btc_to_wei(GENESIS_BTC),
                    code: None,
                },
            )
        })
        .collect();
    ensure!(alloc.len() == args.accounts + 1, "bench keys collide");
    let spec = ChainSpec::dev(CHAIN_ID, alloc);
    let floor = spec.base_fee_floor as u128;
    let fees = Fees {
        max_fee: args.fee_cap.max(1) as u128 * floor,
        tip: (floor / 10).max(1),
        l1_fee_rate: bitcoin::FeeRate::from_sat_per_vb(args.l1_fee_rate)
            .context("--l1-fee-rate is too high")?,
        base_fee_floor: floor as u64,
    };
    eprintln!(
        "cairn-bench: {} accounts funded at genesis (keys derived in {:.2}s), {} txs per run, batch {}, {} connections, block time {:?}, fsync {}",
        args.accounts,
        started.elapsed().as_secs_f64(),
        args.txs,
        args.batch,
        args.connections,
        args.block_time,
        if args.no_fsync { "off" } else { "every block" }
    );

    let (base_dir, _cleanup) = match &args.data_dir {
        Some(dir) => (dir.clone(), TempDir(None)),
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let dir =
                std::env::temp_dir().join(format!("cairn-bench-{}-{nanos}", std::process::id()));
            (dir.clone(), TempDir(Some(dir)))
        }
    };
    std::fs::create_dir_all(&base_dir)
        .with_context(|| format!("cannot create {}", base_dir.display()))?;

    let mut bench = Bench {
        args: args.clone(),
        spec,
        base_dir,
        accounts,
        addresses,
        deployer,
        fees,
        runs: 0,
    };
    let mut reports = Vec::new();
    if matches!(args.kind, BenchKind::Eth | BenchKind::Both) {
        let txs = sign_transfers_blocking(&bench, None, args.txs, "ETH transfers").await?;
        reports.extend(bench.run_kind("eth", txs, None).await?);
    }
    if matches!(args.kind, BenchKind::Erc20 | BenchKind::Both) {
        let setup = {
            let deployer = bench.deployer.clone();
            let addresses = bench.addresses.clone();
            let fees = bench.fees;
            tokio::task::spawn_blocking(move || sign_token_setup(&deployer, &addresses, &fees))
                .await??
        };
        let txs = sign_transfers_blocking(&bench, Some(setup.token), args.txs, "ERC-20 transfers")
            .await?;
        reports.extend(bench.run_kind("erc20", txs, Some(&setup)).await?);
    }

    println!("{}", table(&args, &reports));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| r.failed > 0 || r.missing > 0)
        .map(|r| {
            format!(
                "{} at {}: {} failed, {} never included",
                r.kind, r.load, r.failed, r.missing
            )
        })
        .collect();
    if !bad.is_empty() {
        bail!("benchmark transactions went wrong: {}", bad.join("; "));
    }
    Ok(())
}

async fn sign_transfers_blocking(
    bench: &Bench,
    token: Option<Address>,
    count: usize,
    what: &str,
) -> anyhow::Result<Arc<Vec<SignedTx>>> {
    let accounts = bench.accounts.clone();
    let addresses = bench.addresses.clone();
    let fees = bench.fees;
    let what = what.to_string();
    tokio::task::spawn_blocking(move || {
        sign_timed(&what, count, || {
            sign_transfers(&accounts, &addresses, count, token, &fees)
        })
    })
    .await?
}
