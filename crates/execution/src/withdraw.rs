//! The peg's withdrawal contract: a native contract at [`WITHDRAWAL_CONTRACT`], executed by
//! revm as a precompile so that it can check Bitcoin addresses with rust-bitcoin's parser.
//!
//! ```solidity
//! function withdraw(string bitcoinAddress) payable;
//! event WithdrawalRequested(uint256 indexed id, address indexed sender, string bitcoinAddress, uint256 amountSat);
//! ```
//!
//! `withdraw` takes the call's value, which must be a whole number of satoshis and at least
//! the chain's minimum, for an address of a supported type (P2PKH, P2SH, P2WPKH, P2WSH,
//! P2TR) on the network's Bitcoin network. The value stays in the contract's account, which
//! no key controls: that balance is the BTC burned and not yet paid out on Bitcoin. Anything
//! else reverts with an `Error(string)` reason, as a Solidity `require` would.
//!
//! Each request gets the next id (0, 1, 2, …) and is recorded in the contract's storage,
//! so the state root commits to every request and to which Bitcoin transaction paid it:
//!
//! | slot | value |
//! |---|---|
//! | `0` | number of requests so far |
//! | `1` | total of the requests paid so far (sat) |
//! | `keccak256(abi.encode(id, 1)) + 0` | `amountSat ‖ l2Block << 64 ‖ scriptLength << 128` |
//! | `… + 1`, `… + 2` | the payout `scriptPubKey`, left-aligned |
//! | `… + 3` | the Bitcoin txid that paid it (internal byte order), 0 until paid |
//!
//! A payout recorded in an L2 block ([`apply_payout`]) sets the txid and takes the paid
//! amounts out of the contract's balance: the burn is complete.

use alloy_primitives::{Address, B256, Bytes, Log, U256, address, keccak256};
use alloy_sol_types::{SolCall, SolError, SolEvent, sol};
use bitcoin::address::AddressType;
use cairn_primitives::{L1Network, WithdrawalSpec, units::WEI_PER_SAT};
use revm::context::Cfg;
use revm::context_interface::{Block as _, ContextTr, JournalTr};
use revm::handler::{EthPrecompiles, PrecompileProvider};
use revm::interpreter::{CallInputs, CallScheme, Gas, InstructionResult, InterpreterResult};
use revm::primitives::AddressSet;

/// Where the withdrawal contract lives (the address OP Stack chains use for their L2→L1
/// message passer, so tooling that knows it recognises it).
pub const WITHDRAWAL_CONTRACT: Address = address!("0x4200000000000000000000000000000000000016");

/// Gas a withdrawal costs: about a Solidity contract's price for the checks, a log with
/// three topics and the address string, and the request's four new storage slots.
pub const WITHDRAW_GAS: u64 = 120_000;

sol! {
    /// The withdrawal contract's interface.
    function withdraw(string bitcoinAddress) payable;
    /// Emitted for each accepted withdrawal.
    event WithdrawalRequested(uint256 indexed id, address indexed sender, string bitcoinAddress, uint256 amountSat);
    /// Solidity's revert reason.
    error Error(string reason);
}

/// A withdrawal request as its log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRequest {
    /// The request's id (0, 1, 2, … in the order of the chain).
    pub id: u64,
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
            id: u64::try_from(event.id).ok()?,
            sender: event.sender,
            bitcoin_address: event.bitcoinAddress.clone(),
            amount_sat: u64::try_from(event.amountSat).ok()?,
        })
    }
}

/// A request as the contract's storage records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRecord {
    /// Its id.
    pub id: u64,
    /// The burned amount.
    pub amount_sat: u64,
    /// The L2 block that burned it.
    pub l2_block: u64,
    /// Where to pay it.
    pub script_pubkey: bitcoin::ScriptBuf,
    /// The Bitcoin transaction that paid it (internal byte order), once recorded on L2.
    pub paid_by: Option<B256>,
}

/// The storage slot holding the number of requests.
pub const COUNT_SLOT: U256 = U256::ZERO;

/// The storage slot holding the total paid out on Bitcoin so far (sat).
pub const PAID_TOTAL_SLOT: U256 = U256::from_limbs([1, 0, 0, 0]);

/// The first of the four slots of request `id`.
pub fn record_slot(id: u64) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[24..32].copy_from_slice(&id.to_be_bytes());
    preimage[63] = 1;
    U256::from_be_bytes(keccak256(preimage).0)
}

/// The slot of request `id` that holds the txid paying it.
pub fn paid_slot(id: u64) -> U256 {
    record_slot(id).wrapping_add(U256::from(3))
}

/// Longest payout script the record holds (P2WSH and P2TR are 34 bytes).
const MAX_SCRIPT_LEN: usize = 64;

/// The four slot values recording a request.
fn encode_record(amount_sat: u64, l2_block: u64, script: &[u8]) -> [U256; 3] {
    let head = U256::from(amount_sat)
        | (U256::from(l2_block) << 64)
        | (U256::from(script.len() as u64) << 128);
    let mut bytes = [0u8; MAX_SCRIPT_LEN];
    bytes[..script.len()].copy_from_slice(script);
    [
        head,
        U256::from_be_slice(&bytes[..32]),
        U256::from_be_slice(&bytes[32..]),
    ]
}

impl WithdrawalRecord {
    /// Request `id` as `slot` (the contract's storage) holds it, if it exists.
    pub fn read(id: u64, slot: impl Fn(U256) -> U256) -> Option<Self> {
        if id >= request_count(&slot) {
            return None;
        }
        let base = record_slot(id);
        let head = slot(base);
        let low = |shift: usize| u64::try_from((head >> shift) & U256::from(u64::MAX)).ok();
        let len = (low(128)? as usize).min(MAX_SCRIPT_LEN);
        let mut bytes = [0u8; MAX_SCRIPT_LEN];
        bytes[..32].copy_from_slice(&slot(base + U256::from(1)).to_be_bytes::<32>());
        bytes[32..].copy_from_slice(&slot(base + U256::from(2)).to_be_bytes::<32>());
        let paid = slot(base + U256::from(3));
        Some(Self {
            id,
            amount_sat: low(0)?,
            l2_block: low(64)?,
            script_pubkey: bitcoin::ScriptBuf::from_bytes(bytes[..len].to_vec()),
            paid_by: (!paid.is_zero()).then(|| B256::from(paid.to_be_bytes::<32>())),
        })
    }
}

/// How many requests `slot` (the contract's storage) records.
pub fn request_count(slot: impl Fn(U256) -> U256) -> u64 {
    u64::try_from(slot(COUNT_SLOT)).unwrap_or(u64::MAX)
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

/// Checks a payout address and gives its `scriptPubKey`; `Err` is the revert reason.
pub fn check_bitcoin_address(
    address: &str,
    network: L1Network,
) -> Result<bitcoin::ScriptBuf, String> {
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
        ) => Ok(checked.script_pubkey()),
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
) -> Result<(String, bitcoin::ScriptBuf, u64), String> {
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
    let script = check_bitcoin_address(&call.bitcoinAddress, spec.network)?;
    Ok((call.bitcoinAddress, script, sats))
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

    /// Stores a new request; its id.
    fn record<CTX: ContextTr>(
        context: &mut CTX,
        script: &bitcoin::ScriptBuf,
        sats: u64,
    ) -> Result<u64, InstructionResult> {
        let block = context.block().number().saturating_to::<u64>();
        let journal = context.journal_mut();
        let fatal = |_| InstructionResult::FatalExternalError;
        let count = journal
            .sload(WITHDRAWAL_CONTRACT, COUNT_SLOT)
            .map_err(fatal)?
            .data;
        let id = u64::try_from(count).map_err(|_| InstructionResult::FatalExternalError)?;
        let base = record_slot(id);
        for (offset, value) in encode_record(sats, block, script.as_bytes())
            .into_iter()
            .enumerate()
        {
            journal
                .sstore(WITHDRAWAL_CONTRACT, base + U256::from(offset), value)
                .map_err(fatal)?;
        }
        journal
            .sstore(WITHDRAWAL_CONTRACT, COUNT_SLOT, U256::from(id + 1))
            .map_err(fatal)?;
        Ok(id)
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
            Ok((bitcoin_address, script, sats)) => {
                let id = match Self::record(context, &script, sats) {
                    Ok(id) => id,
                    Err(fatal) => {
                        return InterpreterResult::new(fatal, Bytes::new(), gas);
                    }
                };
                let event = WithdrawalRequested {
                    id: U256::from(id),
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
                Ok(address.script_pubkey()),
                "{text}"
            );
        }
        let mainnet = bitcoin::Address::p2wpkh(&public, bitcoin::Network::Bitcoin).to_string();
        let err = check_bitcoin_address(&mainnet, L1Network::Regtest).expect_err("mainnet");
        assert!(err.contains("is not for regtest"), "{err}");
        assert!(check_bitcoin_address(&mainnet, L1Network::Main).is_ok());
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
