//! The crate's error type: every way a batch, a body, an envelope or a reveal can be
//! refused. Decoders return these for hostile bytes; nothing here panics on input.

/// Why a batch format could not be encoded, decoded or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A fixed-length item had the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// The item.
        what: &'static str,
        /// Its length in this version.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// Input ended in the middle of an item.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes left over after a complete item.
    #[error("{count} trailing bytes after {what}")]
    Trailing {
        /// The item.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A version byte this code does not know.
    #[error("unknown {what} version {version}")]
    UnknownVersion {
        /// The versioned format.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// A compression byte this code does not know.
    #[error("unknown compression {0:#04x}")]
    UnknownCompression(u8),
    /// A batch header whose fields contradict each other.
    #[error("invalid batch header: {0}")]
    InvalidHeader(&'static str),
    /// A signature that is malformed or not by the expected key.
    #[error("invalid batch signature")]
    BadSignature,
    /// A body whose bytes do not match the header's `body_len` / `body_hash`.
    #[error("body does not match the header: {0}")]
    BodyMismatch(&'static str),
    /// A decoded body that breaks the body format's rules.
    #[error("invalid body: {0}")]
    InvalidBody(&'static str),
    /// Decompression would produce more than the allowed bytes.
    #[error("decompressed body exceeds {limit} bytes")]
    TooLarge {
        /// The cap in force.
        limit: usize,
    },
    /// The compressed stream is corrupt, truncated or followed by other bytes.
    #[error("corrupt compressed body: {0}")]
    Decompress(&'static str),
    /// The compressor failed (an I/O error from an in-memory writer: not expected).
    #[error("compression failed: {0}")]
    Compress(String),
    /// An envelope or chunk that breaks the envelope format.
    #[error("invalid envelope: {0}")]
    Envelope(&'static str),
    /// A batch or parameters that cannot be cut into envelopes.
    #[error("cannot build envelopes: {0}")]
    Chunking(String),
    /// A reveal transaction that cannot be built as asked.
    #[error("cannot build reveal: {0}")]
    Reveal(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
