//! Cairn's test kit (a dev-dependency only, like reth's `e2e-test-utils` and LDK's
//! `functional_test_utils`): the embedded devnet in a temp dir ([`Devnet`]: mine, reorg),
//! in-process nodes ([`TestNode`]), a whole network in one call ([`Network::setup`]:
//! devnet, a sequencer with the 3-of-5 federation, followers), the steps tests drive it
//! with (transfers, deposits, withdrawals, waits on status instead of sleeps), signed
//! transactions ([`tx`]) and a flaky link to Bitcoin ([`FlakyProxy`]).
//!
//! Nothing here is used by a binary: it must only ever be a `[dev-dependencies]` entry.

pub mod devnet;
pub mod node;
pub mod peg;
pub mod proxy;
pub mod settle;
pub mod tx;

pub use devnet::{Devnet, devnet, empty_block, received, transaction};
pub use node::{Stopped, TestNode, assert_nonce, config, free_port, init_logs};
pub use peg::*;
pub use proxy::FlakyProxy;
pub use settle::{mine_until, mine_until_batched, rollup_for, settlement, wait_for};
pub use tx::*;
