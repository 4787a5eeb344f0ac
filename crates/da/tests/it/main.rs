//! Integration tests for cairn-da: batches through envelopes, reveal transactions,
//! scanning and assembly; hostile inputs to every decoder; and the envelopes accepted
//! by the devnet's Bitcoin Core rules.

mod assembly;
mod devnet;
mod fuzz;
mod harness;
mod roundtrip;
