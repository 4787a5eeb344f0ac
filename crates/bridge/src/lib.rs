//! The peg's runtime on a node: everything of the two-way peg that runs, as opposed to
//! the Bitcoin scripts and the payout policy (`cairn-peg`), which are pure.
//!
//! - [`Peg`]: the network's signer sets, the deposit address registry
//!   ([`registry`], durable before an address is handed out), and the watcher
//!   ([`Peg::on_update`]) that finds deposits and payouts in every Bitcoin block the
//!   settlement task reads. All that the watcher learns lives in one [`state::PegState`]
//!   behind one lock, so a reader never sees half of an L1 update.
//! - [`ledger`]: the peg's coins and the withdrawals waiting to be paid, from this node's
//!   own L2 state: what signers check proposals against and the coordinator builds from.
//! - [`verifier`]: the check every follower makes of a batch's deposit and payout records,
//!   against the Bitcoin blocks derivation already holds (no Bitcoin calls).
//! - [`signer`]: a federation member that signs only what its own derived state
//!   justifies, journaling what it signed; [`server`] serves it on its own authenticated
//!   listener.
//! - [`coordinator`]: the sequencer's payout loop: propose, collect M signatures over the
//!   typed signer link ([`wire`]), broadcast, replace at higher fees.
//!
//! This crate must not build blocks or derive the chain (the sequencer and settlement
//! crates do), and it never holds an L1 client on the derivation path.

pub mod coordinator;
mod error;
pub mod ledger;
mod peg;
pub mod registry;
mod rpc;
pub mod server;
pub mod signer;
pub mod state;
pub mod verifier;
mod watcher;
pub mod wire;

pub use coordinator::{Coordinator, SignerLink};
pub use error::{Error, Result};
pub use ledger::Ledger;
pub use peg::Peg;
pub use signer::{ActiveSequencer, Signer};
pub use verifier::PegChecker;
pub use watcher::Ready;
