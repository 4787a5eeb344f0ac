//! The peg's errors.

/// What can go wrong building or signing peg scripts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `rollup.json`'s `peg` section is unusable.
    #[error("invalid peg configuration: {0}")]
    Config(String),
    /// A key is not a valid x-only public key.
    #[error("invalid key {key}: {reason}")]
    Key {
        /// The key as given.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A spend cannot be signed or assembled.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// The peg's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
