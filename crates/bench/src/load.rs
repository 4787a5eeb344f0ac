//! The load: pre-signed transactions submitted as `eth_sendRawTransaction` batches over
//! several HTTP connections (as fast as accepted, or paced), and the producer's sealed-block
//! feed followed to see when each one was included.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use anyhow::{Context as _, bail, ensure};
use cairn_node::Node;
use cairn_sequencer::Pool;
use cairn_storage::BlockWithReceipts;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use serde_json::value::RawValue;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::sign::SignedTx;

struct PreEncoded<'a>(&'a RawValue);

impl ToRpcParams for PreEncoded<'_> {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(Some(self.0.to_owned()))
    }
}

/// When a transaction made it into a block.
#[derive(Clone, Copy)]
pub(crate) struct Inclusion {
    pub(crate) at: Instant,
    pub(crate) success: bool,
    pub(crate) logs: usize,
    pub(crate) gas_used: u64,
}

pub(crate) struct BlockSeen {
    pub(crate) at: Instant,
    pub(crate) base_fee: u64,
    /// Execution gas (L1 gas is not block space).
    pub(crate) gas_used: u64,
    /// Our transactions in the block.
    pub(crate) ours: usize,
    /// Transactions left in the mempool just after the block.
    pub(crate) pool_after: usize,
}

/// What one submission phase observed.
pub(crate) struct Observed {
    pub(crate) submitted: Vec<Option<Instant>>,
    pub(crate) included: Vec<Option<Inclusion>>,
    pub(crate) blocks: Vec<BlockSeen>,
    pub(crate) submit_done: Instant,
}

#[derive(Clone, Copy)]
pub(crate) struct DriveOptions {
    pub(crate) rate: u64,
    pub(crate) batch: usize,
    pub(crate) connections: usize,
    pub(crate) stall: Duration,
}

/// Submit `txs` and follow sealed blocks until all of them are included (or
/// nothing more is for `stall` after the last submission).
pub(crate) async fn drive(
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
