//! The ERC-20 calls the bench sends: `transfer(address,uint256)`, its encoding and its
//! gas limit (shared by the token's setup and the measured runs).

use alloy_primitives::{Address, Bytes, U256};

/// Gas limit of a measured ERC-20 transfer (one uses ~35k between holders).
pub(crate) const ERC20_TRANSFER_GAS: u64 = 60_000;

/// `transfer(address,uint256)`.
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// `transfer(to, amount)` calldata.
pub(crate) fn transfer_call(to: Address, amount: U256) -> Bytes {
    let mut input = Vec::with_capacity(68);
    input.extend_from_slice(&TRANSFER_SELECTOR);
    input.extend_from_slice(&[0u8; 12]);
    input.extend_from_slice(to.as_slice());
    input.extend_from_slice(&amount.to_be_bytes::<32>());
    input.into()
}
