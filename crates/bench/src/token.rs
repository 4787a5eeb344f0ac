//! `BenchToken`, the ERC-20 of the ERC-20 runs: its creation code, its calls, and the
//! signed transactions that deploy it and give every bench account its share.

use alloy_primitives::{Address, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use anyhow::Context as _;
use rayon::prelude::*;

use crate::erc20::transfer_call;
use crate::sign::{Call, Fees, SignedTx, sign};

/// Gas limit of a distribution transfer (first credit of a holder: ~52k).
const DISTRIBUTION_GAS: u64 = 80_000;
const DEPLOY_GAS: u64 = 1_000_000;
/// Distribution transfers sent per round (the mempool holds at most 1,000
/// transactions of one sender).
const DISTRIBUTION_ROUND: usize = 900;
/// Token units (18 decimals: one million tokens) each bench account receives.
pub(crate) const TOKENS_PER_ACCOUNT: u128 = 1_000_000 * 10u128.pow(18);
/// `balanceOf(address)`.
pub(crate) const BALANCE_OF_SELECTOR: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];

/// Creation code of `BenchToken` (solc 0.8.35+commit.47b9dedd, optimizer on,
/// 200 runs, evmVersion cancun); the constructor takes `uint256 supply`:
///
/// ```solidity
/// // SPDX-License-Identifier: MIT
/// pragma solidity ^0.8.24;
///
/// /// The smallest honest ERC-20 for `cairn bench`: the deployer gets the whole
/// /// supply, `transfer` moves balances and emits `Transfer`.
/// contract BenchToken {
///     mapping(address => uint256) public balanceOf;
///     uint256 public totalSupply;
///
///     event Transfer(address indexed from, address indexed to, uint256 value);
///
///     constructor(uint256 supply) {
///         balanceOf[msg.sender] = supply;
///         totalSupply = supply;
///         emit Transfer(address(0), msg.sender, supply);
///     }
///
///     function transfer(address to, uint256 value) external returns (bool) {
///         uint256 balance = balanceOf[msg.sender];
///         require(balance >= value, "insufficient balance");
///         unchecked {
///             balanceOf[msg.sender] = balance - value;
///         }
///         balanceOf[to] += value;
///         emit Transfer(msg.sender, to, value);
///         return true;
///     }
/// }
/// ```
///
/// The source is kept exactly as compiled (it still names the bench `cairn bench`): the
/// creation code ends with the hash of its metadata, which covers the source text.
const BENCH_TOKEN_INITCODE: &str = "6080604052348015600e575f5ffd5b506040516102cf3803806102cf833981016040819052602b916076565b335f818152602081815260408083208590556001859055518481527fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef910160405180910390a350608c565b5f602082840312156085575f5ffd5b5051919050565b610236806100995f395ff3fe608060405234801561000f575f5ffd5b506004361061003f575f3560e01c806318160ddd1461004357806370a082311461005f578063a9059cbb1461007e575b5f5ffd5b61004c60015481565b6040519081526020015b60405180910390f35b61004c61006d366004610199565b5f6020819052908152604090205481565b61009161008c3660046101b9565b6100a1565b6040519015158152602001610056565b335f90815260208190526040812054828110156100fb5760405162461bcd60e51b8152602060048201526014602482015273696e73756666696369656e742062616c616e636560601b604482015260640160405180910390fd5b335f9081526020819052604080822085840390556001600160a01b03861682528120805485929061012d9084906101e1565b90915550506040518381526001600160a01b0385169033907fddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef9060200160405180910390a360019150505b92915050565b80356001600160a01b0381168114610194575f5ffd5b919050565b5f602082840312156101a9575f5ffd5b6101b28261017e565b9392505050565b5f5f604083850312156101ca575f5ffd5b6101d38361017e565b946020939093013593505050565b8082018082111561017857634e487b7160e01b5f52601160045260245ffdfea2646970667358221220bf3da877e7a48e11bc44cc1fbc3e458b912d76b06bc8c24cd5c7ccf665eb734064736f6c63430008230033";

/// The token deployment and the distribution of its supply, in rounds.
pub(crate) struct TokenSetup {
    pub(crate) token: Address,
    pub(crate) rounds: Vec<Vec<SignedTx>>,
}

pub(crate) fn sign_token_setup(
    deployer: &PrivateKeySigner,
    addresses: &[Address],
    fees: &Fees,
) -> anyhow::Result<TokenSetup> {
    let supply = U256::from(TOKENS_PER_ACCOUNT) * U256::from(addresses.len());
    let mut initcode = hex::decode(BENCH_TOKEN_INITCODE)?;
    initcode.extend_from_slice(&supply.to_be_bytes::<32>());
    let token = deployer.address().create(0);
    let deploy = sign(
        deployer,
        0,
        0,
        Call {
            to: TxKind::Create,
            value: U256::ZERO,
            input: initcode.into(),
            gas_limit: DEPLOY_GAS,
        },
        fees,
    )?;
    let distribution: Vec<SignedTx> = addresses
        .par_iter()
        .enumerate()
        .map(|(i, to)| {
            let call = Call {
                to: TxKind::Call(token),
                value: U256::ZERO,
                input: transfer_call(*to, U256::from(TOKENS_PER_ACCOUNT)),
                gas_limit: DISTRIBUTION_GAS,
            };
            sign(deployer, 0, i as u64 + 1, call, fees)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut rounds = vec![vec![deploy]];
    let mut rest = distribution.into_iter().peekable();
    while rest.peek().is_some() {
        let last = rounds.last_mut().context("rounds")?;
        if last.len() >= DISTRIBUTION_ROUND {
            rounds.push(Vec::new());
            continue;
        }
        last.extend(rest.by_ref().take(DISTRIBUTION_ROUND - last.len()));
    }
    Ok(TokenSetup { token, rounds })
}
