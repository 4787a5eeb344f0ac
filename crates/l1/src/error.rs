//! The errors of the L1 client, worded for the operator who has to fix them.

use std::error::Error as StdError;
use std::path::PathBuf;

use bitcoin::Network;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between Cairn and its Bitcoin node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// bitcoind executed (or refused) the call and answered with a JSON-RPC error.
    #[error("bitcoind answered with error {code}: {message}")]
    Rpc {
        /// bitcoind's error code, one of [`code`].
        code: i32,
        /// bitcoind's message, verbatim.
        message: String,
    },

    /// bitcoind refused the credentials (HTTP 401, empty body).
    #[error(
        "bitcoind at {url} refused the credentials (HTTP 401): check --l1-rpc-cookie / --l1-rpc-user/--l1-rpc-password"
    )]
    Auth {
        /// The RPC URL.
        url: String,
    },

    /// bitcoind could not be reached, or did not answer in time, and retrying did not help.
    #[error(
        "bitcoind at {url} is unreachable (gave up retrying): {}",
        chain(source)
    )]
    Unreachable {
        /// The RPC URL.
        url: String,
        /// The last transport error.
        source: reqwest::Error,
    },

    /// A call that must not be repeated failed after its request may have reached bitcoind,
    /// so whether it took effect is unknown (a `generatetoaddress` may have mined).
    #[error(
        "{method} at {url} failed after the request was sent, so it may or may not have taken effect; \
         not retried because {method} is not idempotent: {}",
        chain(source)
    )]
    Indeterminate {
        /// The JSON-RPC method.
        method: String,
        /// The RPC URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },

    /// An HTTP status that the bitcoind dialect does not use for answers (403 from
    /// `-rpcallowip`, 503 when the work queue stayed full, a proxy's error page, ...).
    #[error("bitcoind answered HTTP {status}: {body}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The start of the body, for the operator.
        body: String,
    },

    /// bitcoind's answer did not have the expected shape.
    #[error("could not decode bitcoind's answer to {method}: {source}")]
    Decode {
        /// The JSON-RPC method.
        method: String,
        /// What did not fit.
        source: Box<dyn StdError + Send + Sync>,
    },

    /// The node is on another chain than the one Cairn is configured for.
    #[error(
        "the Bitcoin node is on chain \"{actual}\" but Cairn is configured for \"{}\": refusing to use it (check --l1-rpc-url)",
        expected.to_core_arg()
    )]
    WrongNetwork {
        /// The network Cairn is configured for.
        expected: Network,
        /// bitcoind's `chain` (`main`, `test`, `testnet4`, `signet`, `regtest`).
        actual: String,
    },

    /// bitcoind handed out an address of another network.
    #[error("bitcoind returned address {address}, which is not valid on {expected}")]
    AddressNetwork {
        /// The address as bitcoind wrote it.
        address: String,
        /// The client's network.
        expected: Network,
    },

    /// The cookie file could not be read.
    #[error(
        "cannot read the bitcoind cookie file {}: {source} (is bitcoind running, and is --l1-rpc-cookie its datadir's .cookie?)",
        path.display()
    )]
    Cookie {
        /// The cookie file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },

    /// The configured RPC URL is not usable.
    #[error("invalid L1 RPC URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The best chain forked below the window of recent blocks the block source keeps,
    /// so it cannot tell which blocks its consumer has to undo.
    #[error(
        "L1 reorganisation deeper than the {window} recent blocks kept: the new chain does not contain block {lowest_height} ({lowest_hash}); restart from an older block"
    )]
    ReorgTooDeep {
        /// The number of recent blocks kept.
        window: usize,
        /// The oldest kept height.
        lowest_height: u32,
        /// The oldest kept hash.
        lowest_hash: bitcoin::BlockHash,
    },

    /// The node does not know a block the block source already delivered, so it cannot be
    /// the node (or chain) the blocks came from.
    #[error(
        "the Bitcoin node does not know block {hash} at height {height}, which Cairn already processed: is it the same node and chain as before?"
    )]
    UnknownBlock {
        /// The height of the block.
        height: u32,
        /// The block.
        hash: bitcoin::BlockHash,
    },

    /// bitcoind's answers contradict each other (a block whose hash is not the one asked
    /// for, a header chain that does not link up).
    #[error("inconsistent answers from bitcoind: {0}")]
    Inconsistent(String),
}

/// bitcoind's JSON-RPC error codes (`src/rpc/protocol.h`) that this client handles.
pub mod code {
    /// `RPC_MISC_ERROR`: also bitcoind's answer to a wrong number of parameters.
    pub const MISC_ERROR: i32 = -1;
    /// `RPC_TYPE_ERROR`: a parameter of the wrong JSON type.
    pub const TYPE_ERROR: i32 = -3;
    /// `RPC_INVALID_ADDRESS_OR_KEY`: unknown block, transaction or address.
    pub const INVALID_ADDRESS_OR_KEY: i32 = -5;
    /// `RPC_WALLET_INSUFFICIENT_FUNDS`.
    pub const WALLET_INSUFFICIENT_FUNDS: i32 = -6;
    /// `RPC_INVALID_PARAMETER`: e.g. a block height out of range.
    pub const INVALID_PARAMETER: i32 = -8;
    /// `RPC_DESERIALIZATION_ERROR`: undecodable transaction or block.
    pub const DESERIALIZATION_ERROR: i32 = -22;
    /// `RPC_VERIFY_ERROR`: a transaction or block failed verification.
    pub const VERIFY_ERROR: i32 = -25;
    /// `RPC_VERIFY_REJECTED`: a transaction was rejected by mempool policy.
    pub const VERIFY_REJECTED: i32 = -26;
    /// `RPC_VERIFY_ALREADY_IN_CHAIN`: the transaction is already confirmed.
    pub const VERIFY_ALREADY_IN_CHAIN: i32 = -27;
    /// `RPC_IN_WARMUP`: bitcoind is still starting; the call is retried.
    pub const IN_WARMUP: i32 = -28;
    /// `RPC_METHOD_NOT_FOUND`, answered with HTTP 404.
    pub const METHOD_NOT_FOUND: i32 = -32601;
}

impl Error {
    /// bitcoind's error code, if bitcoind answered with a JSON-RPC error.
    pub fn rpc_code(&self) -> Option<i32> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Unknown block, transaction or address (-5).
    pub fn is_not_found(&self) -> bool {
        self.rpc_code() == Some(code::INVALID_ADDRESS_OR_KEY)
    }

    /// An invalid parameter such as a height above the tip (-8).
    pub fn is_invalid_parameter(&self) -> bool {
        self.rpc_code() == Some(code::INVALID_PARAMETER)
    }

    /// bitcoind is still warming up (-28).
    pub fn is_warmup(&self) -> bool {
        self.rpc_code() == Some(code::IN_WARMUP)
    }

    /// The method does not exist on this node (-32601).
    pub fn is_method_not_found(&self) -> bool {
        self.rpc_code() == Some(code::METHOD_NOT_FOUND)
    }

    /// The transaction is already confirmed (-27).
    pub fn is_already_in_chain(&self) -> bool {
        self.rpc_code() == Some(code::VERIFY_ALREADY_IN_CHAIN)
    }

    /// The transaction was refused by mempool policy (-26).
    pub fn is_rejected(&self) -> bool {
        self.rpc_code() == Some(code::VERIFY_REJECTED)
    }

    pub(crate) fn decode(method: &str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Decode {
            method: method.to_owned(),
            source: source.into(),
        }
    }
}

/// `error: cause: cause ...`, so that one line tells the whole story (reqwest's own
/// message is only "error sending request for url (...)").
pub(crate) fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
