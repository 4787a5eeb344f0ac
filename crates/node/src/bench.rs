//! `cairn bench`: sustained end-to-end throughput and latency of an in-process
//! node, the way a wallet or exchange would load it.
//!
//! Each run starts a fresh node (chain id 31337, persistent storage in a fresh
//! directory, fsync every block unless `--no-fsync`, state root every block)
//! whose genesis funds `--accounts` bench accounts with deterministic keys. All
//! transactions are signed offline, in parallel, before anything is measured;
//! they are then submitted as `eth_sendRawTransaction` JSON-RPC batches over
//! several HTTP connections, either as fast as the node accepts them or at a
//! fixed rate. Inclusion is observed through the producer's sealed-block feed:
//! a transaction's latency is from the moment its batch was sent to the moment
//! the block holding it was committed, which is when its receipt becomes
//! readable over RPC.
//!
//! For ERC-20 transfers the bench token is deployed by a transaction and its
//! supply distributed to every bench account by `transfer` calls (not
//! measured) before the measured transfers between bench accounts.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context as _, bail, ensure};
use cairn_primitives::{ChainSpec, GenesisAccount, units::btc_to_wei};
use cairn_sequencer::Pool;
use cairn_storage::BlockWithReceipts;
use clap::{Args, ValueEnum};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::cli::{DEV_FEE_RECIPIENT, parse_duration};
use crate::{LaunchConfig, Node};

/// What to transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchKind {
    /// Plain ETH (BTC) transfers, 21,000 gas each.
    Eth,
    /// ERC-20 `transfer` calls on a freshly deployed token.
    Erc20,
    /// ETH, then ERC-20.
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to transfer.
    #[arg(long, value_enum, default_value_t = BenchKind::Both)]
    pub kind: BenchKind,
    /// Bench accounts funded at genesis; each sends and receives transfers.
    #[arg(long, default_value_t = 2000)]
    pub accounts: usize,
    /// Measured transactions per run.
    #[arg(long, default_value_t = 100_000)]
    pub txs: usize,
    /// Submission rate in transactions per second; 0 = as fast as the node
    /// accepts them, followed by a second run at half the throughput measured.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// The node's block time.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    pub block_time: Duration,
    /// Transactions per JSON-RPC batch request.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Concurrent HTTP connections submitting batches.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Where the nodes keep their data (one fresh subdirectory per run, kept);
    /// by default a temporary directory deleted afterwards.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Skip fsync on block commits (by default every block is fsynced, as a
    /// real node does).
    #[arg(long)]
    pub no_fsync: bool,
    /// Max fee per gas of every transaction, as a multiple of the base-fee
    /// floor (the tip is a tenth of the floor). Loads above the EIP-1559 gas
    /// target raise the base fee by up to 12.5% a block; transactions whose
    /// cap it overtakes are refused, as on any EIP-1559 chain.
    #[arg(long, default_value_t = 1000)]
    pub fee_cap: u64,
    /// Charge the L1 data fee at this Bitcoin fee rate (sat/vB; 0: none), as a sequencer
    /// whose batcher reads that rate does. Transactions reserve the L1 gas in their limit.
    #[arg(long, default_value_t = 0)]
    pub l1_fee_rate: u64,
    /// Print the results as JSON (after the table).
    #[arg(long)]
    pub json: bool,
}

const CHAIN_ID: u64 = 31337;
/// Gas limit of a measured ERC-20 transfer (one uses ~35k between holders).
const ERC20_TRANSFER_GAS: u64 = 60_000;
/// Gas limit of a distribution transfer (first credit of a holder: ~52k).
const DISTRIBUTION_GAS: u64 = 80_000;
const DEPLOY_GAS: u64 = 1_000_000;
/// Distribution transfers sent per round (the mempool holds at most 1,000
/// transactions of one sender).
const DISTRIBUTION_ROUND: usize = 900;
/// Token units (18 decimals: one million tokens) each bench account receives.
const TOKENS_PER_ACCOUNT: u128 = 1_000_000 * 10u128.pow(18);
/// Genesis balance of each bench account, in BTC.
const GENESIS_BTC: u64 = 1_000;
/// `transfer(address,uint256)`.
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// `balanceOf(address)`.
const BALANCE_OF_SELECTOR: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];

/// Creation code of `BenchToken` (solc 0.8.35+commit.47b9dedd, optimizer on,
/// 200 runs, evmVersion cancun); the constructor takes `uint256 supply`:
///
/// ```solidity
/// // SPDX-License-Identifier: MIT
/// pragma solidity ^0.8.24;
///
/// /// The smallest honest ERC-20 for `cairn bench`: the deployer gets the whole
/// /// supply, `transfer` moves balances and emits `Transfer`.
/// contract BenchToken {
///     mapping(address => uint256) public balanceOf;
///     uint256 public totalSupply;
///
///     event Transfer(address indexed from, address indexed to, uint256 value);
///
///     constructor(uint256 supply) {
///         balanceOf[msg.sender] = supply;
///         totalSupply = supply;
///         emit Transfer(address(0), msg.sender, supply);
///     }
///
///     function transfer(address to, uint256 value) external returns (bool) {
///         uint256 balance = balanceOf[msg.sender];
///         require(balance >= value, "insufficient balance");
///         unchecked {
///             balanceOf[msg.sender] = balance - value;
///         }
///         balanceOf[to] += value;
///         emit Transfer(msg.sender, to, value);
///         return true;
///     }
/// }
/// ```
const BENCH_TOKEN_INITCODE: &str = "6080604052348015600e575f5ffd5b506040516102cf3803806102cf833981016040819052602b916076565b335f818152602081815260408083208590556001859055518481527fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef910160405180910390a350608c565b5f602082840312156085575f5ffd5b5051919050565b610236806100995f395ff3fe608060405234801561000f575f5ffd5b506004361061003f575f3560e01c806318160ddd1461004357806370a082311461005f578063a9059cbb1461007e575b5f5ffd5b61004c60015481565b6040519081526020015b60405180910390f35b61004c61006d366004610199565b5f6020819052908152604090205481565b61009161008c3660046101b9565b6100a1565b6040519015158152602001610056565b335f90815260208190526040812054828110156100fb5760405162461bcd60e51b8152602060048201526014602482015273696e73756666696369656e742062616c616e636560601b604482015260640160405180910390fd5b335f9081526020819052604080822085840390556001600160a01b03861682528120805485929061012d9084906101e1565b90915550506040518381526001600160a01b0385169033907fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef9060200160405180910390a360019150505b92915050565b80356001600160a01b0381168114610194575f5ffd5b919050565b5f602082840312156101a9575f5ffd5b6101b28261017e565b9392505050565b5f5f604083850312156101ca575f5ffd5b6101d38361017e565b946020939093013593505050565b8082018082111561017857634e487b7160e01b5f52601160045260245ffdfea2646970667358221220bf3da877e7a48e11bc44cc1fbc3e458b912d76b06bc8c24cd5c7ccf665eb734064736f6c63430008230033";

/// A bench key: `keccak256("cairn-bench" ‖ label ‖ index)` as a secp256k1 secret.
fn bench_signer(label: &str, index: u64) -> anyhow::Result<PrivateKeySigner> {
    let mut attempt = 0u8;
    loop {
        let mut seed = b"cairn-bench".to_vec();
        seed.extend_from_slice(label.as_bytes());
        seed.extend_from_slice(&index.to_be_bytes());
        seed.push(attempt);
        if let Ok(signer) = PrivateKeySigner::from_bytes(&keccak256(&seed)) {
            return Ok(signer);
        }
        attempt = attempt.checked_add(1).context("no valid key")?;
    }
}

/// splitmix64: deterministic recipients and amounts without a dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A signed transaction ready to submit.
struct SignedTx {
    hash: B256,
    /// Index of the sender (decides the connection it goes through, so one
    /// sender's nonces always arrive in order).
    sender: usize,
    /// `["0x<EIP-2718 bytes>"]`, the request's params, encoded offline.
    params: Box<RawValue>,
}

struct PreEncoded<'a>(&'a RawValue);

impl ToRpcParams for PreEncoded<'_> {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(Some(self.0.to_owned()))
    }
}

#[derive(Debug, Clone, Copy)]
struct Fees {
    max_fee: u128,
    tip: u128,
    /// The L1 data fee rate charged (sat/kwu) and the base fee at which the L1 gas is
    /// reserved in every gas limit (the floor: the most L1 gas a transaction can need).
    l1_fee_rate: u64,
    base_fee_floor: u64,
}

/// What a transaction does.
struct Call {
    to: TxKind,
    value: U256,
    input: Bytes,
    gas_limit: u64,
}

fn sign(
    signer: &PrivateKeySigner,
    sender: usize,
    nonce: u64,
    call: Call,
    fees: &Fees,
) -> anyhow::Result<SignedTx> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        // Signed length ≤ input + 130 bytes for these transactions.
        gas_limit: call.gas_limit
            + cairn_execution::l1fee::l1_gas_padded(
                call.input.len() + 130,
                fees.l1_fee_rate,
                fees.base_fee_floor,
            ),
        max_fee_per_gas: fees.max_fee,
        max_priority_fee_per_gas: fees.tip,
        to: call.to,
        value: call.value,
        access_list: Default::default(),
        input: call.input,
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash())?;
    let envelope = TxEnvelope::Eip1559(tx.into_signed(signature));
    let raw = envelope.encoded_2718();
    let params = RawValue::from_string(format!("[\"0x{}\"]", hex::encode(&raw)))?;
    Ok(SignedTx {
        hash: *envelope.tx_hash(),
        sender,
        params,
    })
}

fn transfer_call(to: Address, amount: U256) -> Bytes {
    let mut input = Vec::with_capacity(68);
    input.extend_from_slice(&TRANSFER_SELECTOR);
    input.extend_from_slice(&[0u8; 12]);
    input.extend_from_slice(to.as_slice());
    input.extend_from_slice(&amount.to_be_bytes::<32>());
    input.into()
}

/// The measured transfers: transaction `j` is sent by account `j % n` with
/// nonce `j / n` to a random other account, so consecutive transactions (and
/// every batch) come from different senders.
fn sign_transfers(
    accounts: &[PrivateKeySigner],
    addresses: &[Address],
    count: usize,
    token: Option<Address>,
    fees: &Fees,
) -> anyhow::Result<Vec<SignedTx>> {
    let n = accounts.len();
    (0..count)
        .into_par_iter()
        .map(|j| {
            let sender = j % n;
            let nonce = (j / n) as u64;
            let r = mix(j as u64);
            let mut recipient = (r % (n as u64 - 1)) as usize;
            if recipient >= sender {
                recipient += 1;
            }
            let amount = U256::from(1 + (r >> 32) % 1000);
            let call = match token {
                None => Call {
                    to: TxKind::Call(addresses[recipient]),
                    value: amount,
                    input: Bytes::new(),
                    gas_limit: 21_000,
                },
                Some(token) => Call {
                    to: TxKind::Call(token),
                    value: U256::ZERO,
                    input: transfer_call(addresses[recipient], amount),
                    gas_limit: ERC20_TRANSFER_GAS,
                },
            };
            sign(&accounts[sender], sender, nonce, call, fees)
        })
        .collect()
}

/// The token deployment and the distribution of its supply, in rounds.
struct TokenSetup {
    token: Address,
    rounds: Vec<Vec<SignedTx>>,
}

fn sign_token_setup(
    deployer: &PrivateKeySigner,
    addresses: &[Address],
    fees: &Fees,
) -> anyhow::Result<TokenSetup> {
    let supply = U256::from(TOKENS_PER_ACCOUNT) * U256::from(addresses.len());
    let mut initcode = hex::decode(BENCH_TOKEN_INITCODE)?;
    initcode.extend_from_slice(&supply.to_be_bytes::<32>());
    let token = deployer.address().create(0);
    let deploy = sign(
        deployer,
        0,
        0,
        Call {
            to: TxKind::Create,
            value: U256::ZERO,
            input: initcode.into(),
            gas_limit: DEPLOY_GAS,
        },
        fees,
    )?;
    let distribution: Vec<SignedTx> = addresses
        .par_iter()
        .enumerate()
        .map(|(i, to)| {
            let call = Call {
                to: TxKind::Call(token),
                value: U256::ZERO,
                input: transfer_call(*to, U256::from(TOKENS_PER_ACCOUNT)),
                gas_limit: DISTRIBUTION_GAS,
            };
            sign(deployer, 0, i as u64 + 1, call, fees)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut rounds = vec![vec![deploy]];
    let mut rest = distribution.into_iter().peekable();
    while rest.peek().is_some() {
        let last = rounds.last_mut().context("rounds")?;
        if last.len() >= DISTRIBUTION_ROUND {
            rounds.push(Vec::new());
            continue;
        }
        last.extend(rest.by_ref().take(DISTRIBUTION_ROUND - last.len()));
    }
    Ok(TokenSetup { token, rounds })
}

/// When a transaction made it into a block.
#[derive(Clone, Copy)]
struct Inclusion {
    at: Instant,
    success: bool,
    logs: usize,
    gas_used: u64,
}

struct BlockSeen {
    at: Instant,
    base_fee: u64,
    /// Execution gas (L1 gas is not block space).
    gas_used: u64,
    /// Our transactions in the block.
    ours: usize,
    /// Transactions left in the mempool just after the block.
    pool_after: usize,
}

/// What one submission phase observed.
struct Observed {
    submitted: Vec<Option<Instant>>,
    included: Vec<Option<Inclusion>>,
    blocks: Vec<BlockSeen>,
    submit_done: Instant,
}

#[derive(Clone, Copy)]
struct DriveOptions {
    rate: u64,
    batch: usize,
    connections: usize,
    stall: Duration,
}

/// Submit `txs` and follow sealed blocks until all of them are included (or
/// nothing more is for `stall` after the last submission).
async fn drive(
    node: &Node,
    txs: Arc<Vec<SignedTx>>,
    opts: DriveOptions,
) -> anyhow::Result<Observed> {
    let index: HashMap<B256, usize> = txs.iter().enumerate().map(|(i, t)| (t.hash, i)).collect();
    ensure!(index.len() == txs.len(), "duplicate transaction hashes");
    let done = Arc::new(AtomicBool::new(false));
    let listener = tokio::spawn(follow_blocks(
        node.producer.subscribe(),
        index,
        node.pool.clone(),
        done.clone(),
        opts.stall,
    ));

    let connections = opts.connections.max(1);
    let mut lanes: Vec<Vec<usize>> = vec![Vec::new(); connections];
    for (i, tx) in txs.iter().enumerate() {
        lanes[tx.sender % connections].push(i);
    }
    let start = Instant::now();
    let mut workers = Vec::new();
    for (lane, mine) in lanes.into_iter().enumerate() {
        let client = HttpClientBuilder::default()
            .max_request_size(32 << 20)
            .max_response_size(32 << 20)
            .request_timeout(Duration::from_secs(120))
            .build(node.http_url())?;
        let pace = (opts.rate > 0).then_some(Pace {
            start,
            lane,
            lanes: connections,
            batch: opts.batch,
            rate: opts.rate,
        });
        workers.push(tokio::spawn(submit_lane(
            client,
            txs.clone(),
            mine,
            opts.batch,
            pace,
        )));
    }
    let mut submitted = vec![None; txs.len()];
    for (n, worker) in workers.iter_mut().enumerate() {
        let outcome = match worker.await {
            Ok(outcome) => outcome,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(times) => {
                for (i, at) in times {
                    submitted[i] = Some(at);
                }
            }
            Err(e) => {
                for other in &workers[n + 1..] {
                    other.abort();
                }
                listener.abort();
                return Err(e);
            }
        }
    }
    let submit_done = Instant::now();
    done.store(true, Ordering::SeqCst);
    let (included, blocks) = listener.await??;
    Ok(Observed {
        submitted,
        included,
        blocks,
        submit_done,
    })
}

/// Batch `k` of lane `l` is due at `start + (k·lanes + l)·batch / rate`.
struct Pace {
    start: Instant,
    lane: usize,
    lanes: usize,
    batch: usize,
    rate: u64,
}

impl Pace {
    fn due(&self, k: usize) -> Instant {
        let txs_before = ((k * self.lanes + self.lane) * self.batch) as f64;
        self.start + Duration::from_secs_f64(txs_before / self.rate as f64)
    }
}

async fn submit_lane(
    client: HttpClient,
    txs: Arc<Vec<SignedTx>>,
    mine: Vec<usize>,
    batch: usize,
    pace: Option<Pace>,
) -> anyhow::Result<Vec<(usize, Instant)>> {
    let mut times = Vec::with_capacity(mine.len());
    for (k, chunk) in mine.chunks(batch.max(1)).enumerate() {
        if let Some(pace) = &pace {
            tokio::time::sleep_until(pace.due(k).into()).await;
        }
        let mut request = BatchRequestBuilder::new();
        for &i in chunk {
            request.insert("eth_sendRawTransaction", PreEncoded(&txs[i].params))?;
        }
        let sent = Instant::now();
        let response = client
            .batch_request::<B256>(request)
            .await
            .context("eth_sendRawTransaction batch failed")?;
        ensure!(
            response.len() == chunk.len(),
            "batch of {} got {} responses",
            chunk.len(),
            response.len()
        );
        for (entry, &i) in response.into_iter().zip(chunk) {
            match entry {
                Ok(hash) if hash == txs[i].hash => times.push((i, sent)),
                Ok(hash) => bail!("node returned hash {hash} for {}", txs[i].hash),
                Err(e) => bail!(
                    "eth_sendRawTransaction refused {}: {}",
                    txs[i].hash,
                    e.message()
                ),
            }
        }
    }
    Ok(times)
}

type Followed = (Vec<Option<Inclusion>>, Vec<BlockSeen>);

async fn follow_blocks(
    mut blocks: broadcast::Receiver<BlockWithReceipts>,
    index: HashMap<B256, usize>,
    pool: Arc<Pool>,
    done: Arc<AtomicBool>,
    stall: Duration,
) -> anyhow::Result<Followed> {
    let mut included: Vec<Option<Inclusion>> = vec![None; index.len()];
    let mut seen_blocks = Vec::new();
    let mut seen = 0usize;
    let mut last_progress = Instant::now();
    let mut done_at: Option<Instant> = None;
    while seen < index.len() {
        match tokio::time::timeout(Duration::from_millis(200), blocks.recv()).await {
            Ok(Ok(block)) => {
                let at = Instant::now();
                let mut ours = 0;
                for (tx, receipt) in block.block.transactions.iter().zip(block.receipts.iter()) {
                    if let Some(&i) = index.get(&tx.hash) {
                        if included[i].is_none() {
                            seen += 1;
                            ours += 1;
                        }
                        included[i] = Some(Inclusion {
                            at,
                            success: receipt.success,
                            logs: receipt.logs.len(),
                            gas_used: receipt.gas_used,
                        });
                    }
                }
                if ours > 0 {
                    last_progress = at;
                }
                seen_blocks.push(BlockSeen {
                    at,
                    base_fee: block.block.header.base_fee_per_gas.unwrap_or_default(),
                    gas_used: cairn_execution::l1fee::execution_gas_used(&block.block.header),
                    ours,
                    pool_after: pool.len(),
                });
            }
            Ok(Err(RecvError::Lagged(n))) => bail!("missed {n} sealed blocks (bench too slow)"),
            Ok(Err(RecvError::Closed)) => bail!("the block producer stopped"),
            Err(_) => {}
        }
        if done.load(Ordering::SeqCst) {
            let since = *done_at.get_or_insert_with(Instant::now);
            if last_progress.max(since).elapsed() > stall {
                break;
            }
        }
    }
    Ok((included, seen_blocks))
}

/// One measured run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub kind: &'static str,
    /// `max` (submit as fast as accepted) or the target rate in tx/s.
    pub load: String,
    pub target_rate: Option<u64>,
    pub txs: usize,
    pub included: usize,
    pub failed: usize,
    pub missing: usize,
    /// First submission to last inclusion.
    pub duration_s: f64,
    /// Included transactions per second over `duration_s`.
    pub included_per_s: f64,
    /// Rate at which the node accepted the submissions.
    pub submitted_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// Blocks holding bench transactions.
    pub blocks: usize,
    pub block_txs_min: usize,
    pub block_txs_avg: f64,
    pub block_txs_max: usize,
    /// Mean time between those blocks.
    pub block_interval_ms: f64,
    /// Largest mempool backlog right after a block.
    pub max_pool_backlog: usize,
    pub avg_gas_per_tx: f64,
    /// Mean gas used by those blocks, in percent of the block gas limit (the
    /// EIP-1559 target is 50%).
    pub block_gas_used_pct: f64,
    /// Highest base fee of those blocks, as a multiple of the floor.
    pub max_base_fee_x_floor: f64,
    /// Peak resident memory of the whole process (node and bench) during the run.
    pub peak_rss_mib: f64,
    /// Resident memory when the run started (the bench's signed transactions,
    /// and heap kept by the allocator from earlier runs).
    pub rss_before_mib: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(
    kind: &'static str,
    rate: u64,
    observed: &Observed,
    logs_expected: usize,
    spec: &ChainSpec,
    rss_before_mib: f64,
) -> RunReport {
    let txs = observed.submitted.len();
    let mut latencies = Vec::with_capacity(txs);
    let (mut included, mut failed, mut gas) = (0usize, 0usize, 0u64);
    let mut last_inclusion: Option<Instant> = None;
    for (submitted, inclusion) in observed.submitted.iter().zip(&observed.included) {
        let (Some(submitted), Some(inclusion)) = (submitted, inclusion) else {
            continue;
        };
        included += 1;
        if !inclusion.success || inclusion.logs != logs_expected {
            failed += 1;
        }
        gas += inclusion.gas_used;
        latencies.push(
            inclusion
                .at
                .saturating_duration_since(*submitted)
                .as_secs_f64()
                * 1e3,
        );
        last_inclusion = Some(last_inclusion.map_or(inclusion.at, |l| l.max(inclusion.at)));
    }
    latencies.sort_by(f64::total_cmp);
    let first_submit = observed.submitted.iter().flatten().min().copied();
    let duration = match (first_submit, last_inclusion) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let submit_span = first_submit
        .map(|a| {
            observed
                .submit_done
                .saturating_duration_since(a)
                .as_secs_f64()
        })
        .unwrap_or_default();
    let ours: Vec<&BlockSeen> = observed.blocks.iter().filter(|b| b.ours > 0).collect();
    let block_interval_ms = match (ours.first(), ours.last()) {
        (Some(a), Some(b)) if ours.len() > 1 => {
            b.at.saturating_duration_since(a.at).as_secs_f64() * 1e3 / (ours.len() - 1) as f64
        }
        _ => 0.0,
    };
    let per_s = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    RunReport {
        kind,
        load: if rate == 0 {
            "max".into()
        } else {
            format!("{rate}/s")
        },
        target_rate: (rate > 0).then_some(rate),
        txs,
        included,
        failed,
        missing: txs - included,
        duration_s: duration,
        included_per_s: per_s(included, duration),
        submitted_per_s: per_s(txs, submit_span),
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p99_ms: percentile(&latencies, 0.99),
        latency_max_ms: latencies.last().copied().unwrap_or_default(),
        blocks: ours.len(),
        block_txs_min: ours.iter().map(|b| b.ours).min().unwrap_or_default(),
        block_txs_avg: if ours.is_empty() {
            0.0
        } else {
            included as f64 / ours.len() as f64
        },
        block_txs_max: ours.iter().map(|b| b.ours).max().unwrap_or_default(),
        block_interval_ms,
        max_pool_backlog: observed
            .blocks
            .iter()
            .map(|b| b.pool_after)
            .max()
            .unwrap_or_default(),
        avg_gas_per_tx: if included == 0 {
            0.0
        } else {
            gas as f64 / included as f64
        },
        block_gas_used_pct: if ours.is_empty() {
            0.0
        } else {
            ours.iter().map(|b| b.gas_used as f64).sum::<f64>() * 100.0
                / (ours.len() as f64 * spec.block_gas_limit as f64)
        },
        max_base_fee_x_floor: ours.iter().map(|b| b.base_fee).max().unwrap_or_default() as f64
            / spec.base_fee_floor as f64,
        peak_rss_mib: peak_rss_mib(),
        rss_before_mib,
    }
}

/// Reset the kernel's peak-RSS mark (Linux ≥ 4.0), so each run reports its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM (peak resident memory) of this process, in MiB.
fn peak_rss_mib() -> f64 {
    proc_status_mib("VmHWM:")
}

/// A `kB` line of /proc/self/status, in MiB.
fn proc_status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or_default()
}

/// Deletes the bench's temporary data directory however the bench ends.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

struct Bench {
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
        let node = crate::launch(LaunchConfig {
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

fn sign_timed(
    what: &str,
    count: usize,
    f: impl FnOnce() -> anyhow::Result<Vec<SignedTx>>,
) -> anyhow::Result<Arc<Vec<SignedTx>>> {
    let started = Instant::now();
    let txs = f()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "signed {count} {what} offline in {secs:.2}s ({:.0}/s on {} threads)",
        count as f64 / secs.max(1e-9),
        rayon::current_num_threads()
    );
    Ok(Arc::new(txs))
}

/// `cairn bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
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
        l1_fee_rate: args.l1_fee_rate * 250,
        base_fee_floor: floor as u64,
    };
    eprintln!(
        "cairn bench: {} accounts funded at genesis (keys derived in {:.2}s), {} txs per run, batch {}, {} connections, block time {:?}, fsync {}",
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

fn table(args: &BenchArgs, reports: &[RunReport]) -> String {
    type Row = (&'static str, fn(&RunReport) -> String);
    let rows: &[Row] = &[
        ("transactions", |r| r.txs.to_string()),
        ("included", |r| r.included.to_string()),
        ("failed or missing", |r| (r.failed + r.missing).to_string()),
        ("first submit .. last inclusion (s)", |r| {
            format!("{:.2}", r.duration_s)
        }),
        ("included tx/s (sustained)", |r| {
            format!("{:.0}", r.included_per_s)
        }),
        ("submitted tx/s (accepted by RPC)", |r| {
            format!("{:.0}", r.submitted_per_s)
        }),
        ("latency p50 (ms)", |r| format!("{:.0}", r.latency_p50_ms)),
        ("latency p99 (ms)", |r| format!("{:.0}", r.latency_p99_ms)),
        ("latency max (ms)", |r| format!("{:.0}", r.latency_max_ms)),
        ("blocks", |r| r.blocks.to_string()),
        ("txs per block min/avg/max", |r| {
            format!(
                "{}/{:.0}/{}",
                r.block_txs_min, r.block_txs_avg, r.block_txs_max
            )
        }),
        ("block interval (ms)", |r| {
            format!("{:.0}", r.block_interval_ms)
        }),
        ("block execution gas (% of limit)", |r| {
            format!("{:.1}", r.block_gas_used_pct)
        }),
        ("max base fee (x floor)", |r| {
            format!("{:.2}", r.max_base_fee_x_floor)
        }),
        ("gas per tx", |r| format!("{:.0}", r.avg_gas_per_tx)),
        ("max mempool backlog", |r| r.max_pool_backlog.to_string()),
        ("RSS before the run (MiB)", |r| {
            format!("{:.0}", r.rss_before_mib)
        }),
        ("peak RSS (MiB)", |r| format!("{:.0}", r.peak_rss_mib)),
    ];
    let mut out = format!(
        "\nResults: {} accounts, block time {:?}, fsync {}, batch {}, {} connections\n\n",
        args.accounts,
        args.block_time,
        if args.no_fsync { "off" } else { "every block" },
        args.batch,
        args.connections
    );
    out.push_str(&format!("{:<36}", ""));
    for r in reports {
        out.push_str(&format!("{:>16}", format!("{} {}", r.kind, r.load)));
    }
    out.push('\n');
    for (name, value) in rows {
        out.push_str(&format!("{name:<36}"));
        for r in reports {
            out.push_str(&format!("{:>16}", value(r)));
        }
        out.push('\n');
    }
    out.push_str(
        "\nSustained tx/s: included transactions / (first submission .. last inclusion).\n\
         Latency: batch sent .. block committed (when the receipt becomes readable over RPC).\n\
         Block figures cover blocks holding bench transactions; backlog is the mempool size after a block.\n\
         Peak RSS: VmHWM of the whole process (node, bench client and the pre-signed transactions);\n\
         the RSS before a run includes heap the allocator kept from earlier runs.\n",
    );
    out
}
