//! Settlement of Cairn batches on Bitcoin. For now this crate owns the batcher's own L1
//! wallet ([`wallet::BatcherWallet`]): the coins that pay for commit/reveal transactions,
//! kept in sync from [`cairn_l1::ChainUpdate`]s and persisted in the batcher's data dir.
//!
//! It must not talk to the network itself (blocks arrive from `cairn_l1::BlockSource`,
//! transactions leave through the caller's `cairn_l1::Client`) and must never log or
//! persist key material: the wallet file holds public descriptors only.

pub mod batch;
pub mod derive;
pub mod wallet;
