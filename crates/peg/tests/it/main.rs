//! cairn-peg's tests: every peg spend path checked by the devnet's script interpreter
//! (libbitcoinconsensus), driven over bitcoind's RPC.

mod policy;
mod spends;
