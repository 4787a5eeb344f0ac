//! The installed filters (`eth_newFilter` & co.): what each one watches and has seen,
//! expiring after five idle minutes. The filter methods live in `filters`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U128};
use alloy_rpc_types_eth::Filter;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::error::RpcError;

pub(crate) const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_FILTERS: usize = 10_000;

/// What a filter watches, and how far it has reported.
pub(crate) enum Kind {
    Logs {
        filter: Box<Filter>,
        next_block: u64,
    },
    Blocks {
        next_block: u64,
    },
    PendingTx {
        rx: broadcast::Receiver<B256>,
    },
}

/// One installed filter.
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) last_poll: Instant,
}

/// Every installed filter, by id.
#[derive(Default)]
pub(crate) struct Filters {
    pub(crate) entries: Mutex<HashMap<U128, Entry>>,
}

impl Filters {
    /// Installs a filter (dropping expired ones first); its id.
    pub(crate) fn install(&self, kind: Kind) -> Result<U128, RpcError> {
        let mut entries = self.entries.lock();
        entries.retain(|_, e| e.last_poll.elapsed() < FILTER_TIMEOUT);
        if entries.len() >= MAX_FILTERS {
            return Err(RpcError::Server("too many filters".into()));
        }
        let id = U128::from(rand::random::<u128>());
        entries.insert(
            id,
            Entry {
                kind,
                last_poll: Instant::now(),
            },
        );
        Ok(id)
    }
}
