//! Follower mode: the L2 chain derived from Bitcoin alone. A task feeds every L1 update
//! from the network's start height to a [`Deriver`], announces the blocks it derives to
//! the RPC's subscriptions, and logs sync progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_l1::{BlockSource, BlockSourceConfig, Client};
use cairn_primitives::RollupConfig;
use cairn_settlement::derive::{BatchOutcome, Deriver, Role};
use cairn_storage::{BlockWithReceipts, Storage};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

const TARGET: &str = "cairn::follow";

/// Checks that the L1 node is on the network's chain: the start block must be the one
/// `rollup.json` names.
pub async fn check_start(client: &Client, rollup: &RollupConfig) -> anyhow::Result<()> {
    let hash = client
        .get_block_hash(rollup.l1.height)
        .await
        .with_context(|| {
            format!(
                "the Bitcoin node has no block at the network's start height {}",
                rollup.l1.height
            )
        })?;
    anyhow::ensure!(
        hash.to_string() == rollup.l1.hash,
        "the Bitcoin node's block {} is {hash}, but this network starts at {}: wrong Bitcoin chain",
        rollup.l1.height,
        rollup.l1.hash
    );
    Ok(())
}

/// Starts deriving; the task runs until aborted.
pub fn spawn(
    client: Client,
    storage: Arc<Storage>,
    rollup: RollupConfig,
    blocks: broadcast::Sender<BlockWithReceipts>,
    poll_interval: Duration,
) -> anyhow::Result<JoinHandle<()>> {
    let deriver = Deriver::new(storage.clone(), &rollup, Role::Follower)?;
    let config = BlockSourceConfig {
        poll_interval,
        ..BlockSourceConfig::default()
    };
    let source = BlockSource::from_height(client, rollup.l1.height + 1, config);
    Ok(tokio::spawn(run(source, deriver, storage, blocks)))
}

async fn run(
    mut source: BlockSource,
    mut deriver: Deriver,
    storage: Arc<Storage>,
    blocks: broadcast::Sender<BlockWithReceipts>,
) {
    let started = Instant::now();
    let mut derived_blocks = 0u64;
    loop {
        let update = match source.next_update().await {
            Ok(update) => update,
            Err(e) => {
                tracing::warn!(target: TARGET, error = %e, "reading Bitcoin failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let before = storage.head_number();
        // Re-execution is CPU work: off the async workers.
        let applied = tokio::task::spawn_blocking(move || {
            let result = deriver.apply(&update);
            (deriver, result)
        })
        .await;
        let outcomes = match applied {
            Ok((returned, Ok(outcomes))) => {
                deriver = returned;
                outcomes
            }
            Ok((_, Err(e))) => {
                tracing::error!(target: TARGET, error = %e, "derivation stopped: this node cannot follow Bitcoin any further");
                return;
            }
            Err(e) => {
                tracing::error!(target: TARGET, error = %e, "derivation task failed");
                return;
            }
        };
        let head = storage.head_number();
        for number in before.saturating_add(1)..=head {
            if let Ok(Some(block)) = storage.block_by_number(number) {
                let _ = blocks.send(block);
            }
        }
        derived_blocks += head.saturating_sub(before);
        let rejected = outcomes
            .iter()
            .filter(|o| matches!(o, BatchOutcome::Rejected { .. }))
            .count();
        let rate = derived_blocks as f64 / started.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            target: TARGET,
            l1_height = deriver.l1_height(),
            l2_head = head,
            batches = deriver.applied().len(),
            rejected,
            blocks_per_s = format!("{rate:.1}"),
            "derived from Bitcoin"
        );
    }
}
