//! The peg's withdrawal contract: a native contract at [`WITHDRAWAL_CONTRACT`], executed by
//! revm as a precompile so that it can check Bitcoin addresses with rust-bitcoin's parser.
//!
//! ```solidity
//! function withdraw(string bitcoinAddress) payable;
//! event WithdrawalRequested(address indexed sender, string bitcoinAddress, uint256 amountSat);
//! ```
//!
//! `withdraw` takes the call's value, which must be a whole number of satoshis and at least
//! the chain's minimum, for an address of a supported type (P2PKH, P2SH, P2WPKH, P2WSH,
//! P2TR) on the network's Bitcoin network. The value stays in the contract's account, which
//! no key controls: that balance is the BTC burned and not yet paid out on Bitcoin. Anything
//! else reverts with an `Error(string)` reason, as a Solidity `require` would.

use alloy_primitives::{Address, Bytes, Log, U256, address};
use alloy_sol_types::{SolCall, SolError, SolEvent, sol};
use bitcoin::address::AddressType;
use cairn_primitives::{L1Network, WithdrawalSpec, units::WEI_PER_SAT};
use revm::context::Cfg;
use revm::context_interface::{ContextTr, JournalTr};
use revm::handler::{EthPrecompiles, PrecompileProvider};
use revm::interpreter::{CallInputs, CallScheme, Gas, InstructionResult, InterpreterResult};
use revm::primitives::AddressSet;

/// Where the withdrawal contract lives (the address OP Stack chains use for their L2→L1
/// message passer, so tooling that knows it recognises it).
pub const WITHDRAWAL_CONTRACT: Address = address!("0x4200000000000000000000000000000000000016");

/// Gas a withdrawal costs: about a Solidity contract's price for the checks, a log with
/// two topics and the address string.
pub const WITHDRAW_GAS: u64 = 30_000;

sol! {
    /// The withdrawal contract's interface.
    function withdraw(string bitcoinAddress) payable;
    /// Emitted for each accepted withdrawal.
    event WithdrawalRequested(address indexed sender, string bitcoinAddress, uint256 amountSat);
    /// Solidity's revert reason.
    error Error(string reason);
}

/// A withdrawal request as its log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRequest {
    /// Who burned the BTC.
    pub sender: Address,
    /// Where to pay it on Bitcoin.
    pub bitcoin_address: String,
    /// How much, in satoshis.
    pub amount_sat: u64,
}

impl WithdrawalRequest {
    /// The request a log of the withdrawal contract records, if it is one.
    pub fn from_log(log: &Log) -> Option<Self> {
        if log.address != WITHDRAWAL_CONTRACT {
            return None;
        }
        let event = WithdrawalRequested::decode_log(log).ok()?;
        Some(Self {
            sender: event.sender,
            bitcoin_address: event.bitcoinAddress.clone(),
            amount_sat: u64::try_from(event.amountSat).ok()?,
        })
    }
}

/// rust-bitcoin's name for a Bitcoin network as `rollup.json` spells it.
pub fn bitcoin_network(network: L1Network) -> bitcoin::Network {
    match network {
        L1Network::Main => bitcoin::Network::Bitcoin,
        L1Network::Test => bitcoin::Network::Testnet,
        L1Network::Testnet4 => bitcoin::Network::Testnet4,
        L1Network::Signet => bitcoin::Network::Signet,
        L1Network::Regtest => bitcoin::Network::Regtest,
    }
}

/// Checks a payout address; `Err` is the revert reason.
pub fn check_bitcoin_address(address: &str, network: L1Network) -> Result<(), String> {
    let parsed: bitcoin::Address<bitcoin::address::NetworkUnchecked> = address
        .parse()
        .map_err(|e| format!("invalid Bitcoin address {address:?}: {e}"))?;
    let network = bitcoin_network(network);
    let checked = parsed.require_network(network).map_err(|_| {
        format!(
            "Bitcoin address {address} is not for {}",
            network.to_core_arg()
        )
    })?;
    match checked.address_type() {
        Some(
            AddressType::P2pkh
            | AddressType::P2sh
            | AddressType::P2wpkh
            | AddressType::P2wsh
            | AddressType::P2tr,
        ) => Ok(()),
        _ => Err(format!(
            "unsupported Bitcoin address type: {address} (use P2PKH, P2SH, P2WPKH, P2WSH or P2TR)"
        )),
    }
}

/// Why a call to the contract fails, before anything is emitted.
fn check_call(
    inputs: &CallInputs,
    calldata: &[u8],
    spec: &WithdrawalSpec,
) -> Result<(String, u64), String> {
    if inputs.scheme != CallScheme::Call || inputs.target_address != WITHDRAWAL_CONTRACT {
        return Err("the withdrawal contract must be called directly".into());
    }
    if inputs.is_static {
        return Err("withdraw cannot run in a static call".into());
    }
    let call = withdrawCall::abi_decode(calldata).map_err(|_| {
        "unknown function: the contract has withdraw(string bitcoinAddress)".to_owned()
    })?;
    let value = inputs.value.get();
    let wei_per_sat = U256::from(WEI_PER_SAT);
    if !(value % wei_per_sat).is_zero() {
        return Err("the amount must be a whole number of satoshis (10^10 wei)".into());
    }
    let sats = u64::try_from(value / wei_per_sat).map_err(|_| "amount too large".to_owned())?;
    if sats < spec.min_sat {
        return Err(format!(
            "withdrawal of {sats} sat is below the minimum of {} sat",
            spec.min_sat
        ));
    }
    check_bitcoin_address(&call.bitcoinAddress, spec.network)?;
    Ok((call.bitcoinAddress, sats))
}

/// Ethereum's precompiles plus the withdrawal contract.
#[derive(Debug, Clone)]
pub struct CairnPrecompiles {
    eth: EthPrecompiles,
    withdrawals: Option<WithdrawalSpec>,
    warm: AddressSet,
}

impl CairnPrecompiles {
    /// The precompiles of `spec`, with the withdrawal contract if `withdrawals` is set.
    pub fn new(
        spec: revm::primitives::hardfork::SpecId,
        withdrawals: Option<WithdrawalSpec>,
    ) -> Self {
        let eth = EthPrecompiles::new(spec);
        let warm = Self::warm_set(&eth, withdrawals.is_some());
        Self {
            eth,
            withdrawals,
            warm,
        }
    }

    fn warm_set(eth: &EthPrecompiles, with_contract: bool) -> AddressSet {
        let mut warm = eth.warm_addresses().clone();
        if with_contract {
            warm.insert(WITHDRAWAL_CONTRACT);
        }
        warm
    }

    fn withdraw<CTX: ContextTr>(
        spec: &WithdrawalSpec,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> InterpreterResult {
        let mut gas = Gas::new_with_regular_gas_and_reservoir(inputs.gas_limit, inputs.reservoir);
        if !gas.record_regular_cost(WITHDRAW_GAS) {
            gas.spend_all();
            return InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), gas);
        }
        let calldata = inputs.input.as_bytes(context).to_vec();
        match check_call(inputs, &calldata, spec) {
            Ok((bitcoin_address, sats)) => {
                let event = WithdrawalRequested {
                    sender: inputs.caller,
                    bitcoinAddress: bitcoin_address,
                    amountSat: U256::from(sats),
                };
                context.journal_mut().log(Log {
                    address: WITHDRAWAL_CONTRACT,
                    data: event.encode_log_data(),
                });
                InterpreterResult::new(InstructionResult::Return, Bytes::new(), gas)
            }
            Err(reason) => {
                let data = Error { reason }.abi_encode();
                InterpreterResult::new(InstructionResult::Revert, Bytes::from(data), gas)
            }
        }
    }
}

impl<CTX: ContextTr> PrecompileProvider<CTX> for CairnPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm = Self::warm_set(&self.eth, self.withdrawals.is_some());
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        if inputs.bytecode_address == WITHDRAWAL_CONTRACT
            && let Some(spec) = &self.withdrawals
        {
            return Ok(Some(Self::withdraw(spec, context, inputs)));
        }
        <EthPrecompiles as PrecompileProvider<CTX>>::run(&mut self.eth, context, inputs)
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payout_addresses_of_every_supported_type_and_network() {
        use bitcoin::key::{CompressedPublicKey, Secp256k1};
        let secp = Secp256k1::new();
        let secret = bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).expect("key");
        let public = CompressedPublicKey(secret.public_key(&secp));
        let script = bitcoin::ScriptBuf::new_p2wpkh(&public.wpubkey_hash());
        let x_only = secret.x_only_public_key(&secp).0;
        let net = bitcoin::Network::Regtest;
        let addresses = [
            bitcoin::Address::p2pkh(public, net),
            bitcoin::Address::p2sh(&script, net).expect("p2sh"),
            bitcoin::Address::p2wpkh(&public, net),
            bitcoin::Address::p2wsh(&script, net),
            bitcoin::Address::p2tr(&secp, x_only, None, net),
        ];
        for address in &addresses {
            let text = address.to_string();
            assert_eq!(
                check_bitcoin_address(&text, L1Network::Regtest),
                Ok(()),
                "{text}"
            );
        }
        let mainnet = bitcoin::Address::p2wpkh(&public, bitcoin::Network::Bitcoin).to_string();
        let err = check_bitcoin_address(&mainnet, L1Network::Regtest).expect_err("mainnet");
        assert!(err.contains("is not for regtest"), "{err}");
        assert_eq!(check_bitcoin_address(&mainnet, L1Network::Main), Ok(()));
        let err =
            check_bitcoin_address("bcrt1qnotanaddress", L1Network::Regtest).expect_err("junk");
        assert!(err.starts_with("invalid Bitcoin address"), "{err}");
        // A witness version Bitcoin does not pay to yet.
        let program =
            bitcoin::WitnessProgram::new(bitcoin::WitnessVersion::V2, &[7u8; 32]).expect("program");
        let future = bitcoin::Address::from_witness_program(program, bitcoin::KnownHrp::Regtest);
        let err = check_bitcoin_address(&future.to_string(), L1Network::Regtest).expect_err("v2");
        assert!(err.contains("unsupported Bitcoin address type"), "{err}");
    }
}
