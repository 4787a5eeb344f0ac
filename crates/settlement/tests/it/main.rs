//! cairn-settlement's integration tests: one binary, a module per concern.

mod derive;
mod devnet;
mod wallet;
