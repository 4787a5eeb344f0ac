//! Errors as Ethereum tooling parses them: geth's codes and messages.

use alloy_primitives::Bytes;
use cairn_execution::{CallError, ExecutionError};
use cairn_sequencer::PoolError;
use cairn_storage::StorageError;
use jsonrpsee::types::ErrorObjectOwned;

/// geth's code for most server-side failures.
pub const SERVER_ERROR: i32 = -32000;
/// EIP-1474 code for an execution revert; `data` holds the revert bytes.
pub const EXECUTION_REVERTED: i32 = 3;
pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL_ERROR: i32 = -32603;

/// An RPC failure.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    InvalidParams(String),
    #[error("execution reverted")]
    Reverted(Bytes),
    #[error("internal error: {0}")]
    Internal(String),
    /// A failure with its own code (geth's `eth_simulateV1` codes).
    #[error("{1}")]
    Coded(i32, String),
}

impl From<PoolError> for RpcError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Journal(_) => Self::Internal(e.to_string()),
            other => Self::Server(other.to_string()),
        }
    }
}

impl From<StorageError> for RpcError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::HistoryUnavailable { .. } => Self::Server(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<CallError> for RpcError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Revert(data) => Self::Reverted(data),
            CallError::Halt(m) | CallError::Invalid(m) => Self::Server(m),
            CallError::BadRequest(m) => Self::InvalidParams(m),
            CallError::Storage(e) => e.into(),
            CallError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<ExecutionError> for RpcError {
    fn from(e: ExecutionError) -> Self {
        match e {
            ExecutionError::Storage(e) => e.into(),
            ExecutionError::Evm(m) => Self::Internal(m),
        }
    }
}

/// The reason string of a Solidity `Error(string)` revert, if that is what it is.
pub fn revert_reason(data: &[u8]) -> Option<String> {
    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    let body = data.strip_prefix(&ERROR_SELECTOR)?;
    if body.len() < 64 {
        return None;
    }
    let offset = usize::try_from(alloy_primitives::U256::from_be_slice(&body[..32])).ok()?;
    let len_end = offset.checked_add(32)?;
    let len = usize::try_from(alloy_primitives::U256::from_be_slice(
        body.get(offset..len_end)?,
    ))
    .ok()?;
    let text = body.get(len_end..len_end.checked_add(len)?)?;
    String::from_utf8(text.to_vec()).ok()
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Server(m) => ErrorObjectOwned::owned(SERVER_ERROR, m, None::<()>),
            RpcError::InvalidParams(m) => ErrorObjectOwned::owned(INVALID_PARAMS, m, None::<()>),
            RpcError::Internal(m) => ErrorObjectOwned::owned(INTERNAL_ERROR, m, None::<()>),
            RpcError::Coded(code, m) => ErrorObjectOwned::owned(code, m, None::<()>),
            RpcError::Reverted(data) => {
                let message = match revert_reason(&data) {
                    Some(reason) => format!("execution reverted: {reason}"),
                    None => "execution reverted".to_string(),
                };
                ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(data))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_error_string_and_refuses_junk() {
        // Error("insufficient balance")
        let data = hex::decode(concat!(
            "08c379a0",
            "0000000000000000000000000000000000000000000000000000000000000020",
            "0000000000000000000000000000000000000000000000000000000000000014",
            "696e73756666696369656e742062616c616e6365000000000000000000000000"
        ))
        .expect("hex");
        assert_eq!(
            revert_reason(&data).as_deref(),
            Some("insufficient balance")
        );
        assert_eq!(revert_reason(&data[..40]), None);
        assert_eq!(revert_reason(&[1, 2, 3]), None);
        let mut huge_offset = data.clone();
        huge_offset[4..36].copy_from_slice(&[0xff; 32]);
        assert_eq!(revert_reason(&huge_offset), None);
        let obj: ErrorObjectOwned = RpcError::Reverted(data.into()).into();
        assert_eq!(obj.code(), 3);
        assert_eq!(obj.message(), "execution reverted: insufficient balance");
    }
}
