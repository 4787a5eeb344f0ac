//! What a run measured: [`RunReport`] from the observed submissions and inclusions, the
//! process's memory from `/proc`, and the results table.

use std::time::Instant;

use cairn_primitives::ChainSpec;
use serde::Serialize;

use crate::args::BenchArgs;
use crate::load::{BlockSeen, Observed};

/// One measured run, as reported.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunReport {
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

pub(crate) fn report(
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
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM (peak resident memory) of this process, in MiB.
fn peak_rss_mib() -> f64 {
    proc_status_mib("VmHWM:")
}

/// A `kB` line of /proc/self/status, in MiB.
pub(crate) fn proc_status_mib(field: &str) -> f64 {
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

pub(crate) fn table(args: &BenchArgs, reports: &[RunReport]) -> String {
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
