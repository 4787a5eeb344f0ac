//! Integration tests: whole nodes started in-process on random ports with temp
//! dirs, driven through alloy like any Ethereum client would.

mod chain;
mod dev_methods;
mod errors;
mod forced;
mod harness;
mod hostile;
mod l1;
mod ots;
mod payout;
mod peg;
mod proof;
mod recovery;
mod settlement;
mod simulate;
mod subscriptions;
mod takeover;
mod tracing;
