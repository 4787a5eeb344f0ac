//! Settlement of Cairn batches on Bitcoin:
//!
//! - [`batch`]: sealed L2 blocks turned into a signed, compressed batch;
//! - [`batcher`]: the sequencer's batcher, which posts batches as commit/reveal envelopes,
//!   keeps a crash-safe outbox, bumps fees and reposts what reorgs drop;
//! - [`derive`]: the L2 chain rebuilt (or, on the sequencer, verified) from Bitcoin;
//! - [`forced`]: posting a transaction to Bitcoin that the sequencer must include;
//! - [`l1blocks`]: the recent Bitcoin blocks derivation checks peg records against;
//! - [`wallet`]: the batcher's own L1 wallet (BDK), kept in sync from
//!   [`cairn_l1::ChainUpdate`]s and persisted in the batcher's directory.
//!
//! Blocks arrive from `cairn_l1::BlockSource`; the batcher broadcasts through the caller's
//! `cairn_l1::Client`. Nothing here logs or persists key material: the wallet file holds
//! public descriptors only, and the wallet's seed derives from the sequencer key.

pub mod batch;
pub mod batcher;
pub mod derive;
pub mod forced;
pub mod fsutil;
pub mod l1blocks;
pub mod wallet;

/// Test-only crash points: when the environment variable `CAIRN_FAILPOINT` names `point`,
/// the process aborts there (as `kill -9` would), so tests can crash the batcher between
/// two of its steps; `panic:<point>` panics there instead (a bug in a task, which the node
/// must notice). Unset in normal operation.
pub fn failpoint(point: &str) {
    let Some(armed) = std::env::var_os("CAIRN_FAILPOINT") else {
        return;
    };
    if armed == point {
        eprintln!("failpoint {point}: aborting");
        std::process::abort();
    }
    if armed.to_str().and_then(|a| a.strip_prefix("panic:")) == Some(point) {
        panic!("failpoint {point}: panicking");
    }
}
