//! Cairn's two-way peg on Bitcoin, the part that lives in Bitcoin script:
//!
//! - [`Federation`]: the N signers and threshold M, plus the recovery key set and its
//!   delay, read from `rollup.json`'s `peg` section;
//! - [`scripts`]: the tapscript leaves (M-of-N `OP_CHECKSIGADD`, CSV-delayed recovery and
//!   reclaim) and the taproot outputs built from them: peg outputs and per-recipient
//!   deposit addresses;
//! - [`sign`]: script-path sighashes, each signer's signatures, and the witness that
//!   assembles M of them;
//! - [`policy`]: what an honest signer checks before signing a payout.
//!
//! Every output's internal key is a provably unspendable point (BIP341's NUMS `H`, tweaked
//! per deposit so that each L2 recipient gets its own address), so coins move only through
//! a leaf: the federation's, or after a delay the recovery set's or the depositor's.

pub mod coins;
mod error;
mod federation;
pub mod policy;
pub mod scripts;
pub mod sign;

pub use coins::CoinSource;
pub use error::{Error, Result};
pub use federation::{Epoch, Federation, KeySet, PegRules};
pub use scripts::{DepositOutput, PegOutput};
