//! Errors, with bitcoind's reject reasons and RPC error codes.

use bitcoin::BlockHash;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// bitcoind's `RPC_VERIFY_ERROR`: missing or spent inputs, general verification error.
pub const RPC_VERIFY_ERROR: i32 = -25;
/// bitcoind's `RPC_VERIFY_REJECTED`: refused by consensus or policy.
pub const RPC_VERIFY_REJECTED: i32 = -26;
/// bitcoind's `RPC_VERIFY_ALREADY_IN_CHAIN`.
pub const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;

/// How a refusal maps onto bitcoind's RPC error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// Consensus or policy refusal (`-26`).
    Invalid,
    /// Inputs missing or already spent (`-25`).
    MissingInputs,
    /// The transaction's outputs are already in the UTXO set (`-27`).
    AlreadyInChain,
    /// The transaction is already in the mempool (bitcoind's `sendrawtransaction` treats this
    /// as success; `testmempoolaccept` reports it).
    AlreadyInMempool,
}

/// A refused transaction or block, carrying bitcoind's reject reason and debug details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Reject {
    /// The error class.
    pub kind: RejectKind,
    /// bitcoind's reject reason, e.g. `bad-txns-inputs-missingorspent`.
    pub reason: String,
    /// bitcoind's debug message, if any (appended after `, `).
    pub details: Option<String>,
}

impl Reject {
    /// A consensus or policy refusal.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self {
            kind: RejectKind::Invalid,
            reason: reason.into(),
            details: None,
        }
    }

    /// Adds bitcoind's debug message.
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// A refusal of a different kind.
    #[must_use]
    pub fn with_kind(mut self, kind: RejectKind) -> Self {
        self.kind = kind;
        self
    }

    /// `reason, details` as bitcoind's `ValidationState::ToString` formats it.
    pub fn message(&self) -> String {
        match &self.details {
            Some(d) if !d.is_empty() => format!("{}, {}", self.reason, d),
            _ => self.reason.clone(),
        }
    }

    /// The JSON-RPC error code `sendrawtransaction` answers with.
    pub fn rpc_code(&self) -> i32 {
        match self.kind {
            RejectKind::Invalid => RPC_VERIFY_REJECTED,
            RejectKind::MissingInputs => RPC_VERIFY_ERROR,
            RejectKind::AlreadyInChain | RejectKind::AlreadyInMempool => {
                RPC_VERIFY_ALREADY_IN_CHAIN
            }
        }
    }

    /// The JSON-RPC error message `sendrawtransaction` answers with. (For
    /// [`RejectKind::AlreadyInMempool`] bitcoind's `sendrawtransaction` answers with the
    /// txid instead; `testmempoolaccept` reports the reason.)
    pub fn rpc_message(&self) -> String {
        match self.kind {
            RejectKind::MissingInputs => "bad-txns-inputs-missingorspent".to_owned(),
            RejectKind::AlreadyInChain => "Transaction outputs already in utxo set".to_owned(),
            RejectKind::AlreadyInMempool | RejectKind::Invalid => self.message(),
        }
    }

    /// The `reject-reason` `testmempoolaccept` reports.
    pub fn test_accept_reason(&self) -> String {
        match self.kind {
            RejectKind::MissingInputs => "missing-inputs".to_owned(),
            _ => self.reason.clone(),
        }
    }
}

/// Everything that can go wrong in the devnet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A transaction or block was refused.
    #[error(transparent)]
    Reject(#[from] Reject),
    /// No block with this hash is known.
    #[error("Block not found: {0}")]
    UnknownBlock(BlockHash),
    /// The data dir could not be read or written.
    #[error("devnet storage: {0}")]
    Io(#[from] std::io::Error),
    /// The data dir holds bytes that do not decode.
    #[error("devnet storage corrupt: {0}")]
    Corrupt(String),
}
