//! The `cairn` node: configuration, wiring of storage, mempool, block producer
//! and RPC, and the subcommands of the `cairn` binary. Tests start whole nodes
//! in-process through [`launch`].
//!
//! This crate wires components together; it must not contain chain logic of its
//! own (that lives in execution, sequencer and storage).

pub mod commands;
pub mod dev;
pub mod l1;
mod launch;
pub mod rollup;
pub mod settle;
pub mod supervise;

pub use l1::{L1, L1Config, L1Status};
pub use launch::{DevOptions, LaunchConfig, Node, launch};
