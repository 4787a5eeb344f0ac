//! Translating Cairn's transactions and blocks into revm's environment.

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::U256;
use cairn_primitives::{Header, RecoveredTx};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::primitives::hardfork::SpecId;

/// The EVM rules Cairn runs: Osaka, the latest hardfork on Ethereum mainnet.
pub const EVM_SPEC: SpecId = SpecId::OSAKA;

/// revm's configuration for a chain id.
pub fn cfg_env(chain_id: u64) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(EVM_SPEC);
    cfg.chain_id = chain_id;
    cfg
}

/// revm's block environment for a header being built or replayed.
pub fn block_env(header: &Header) -> BlockEnv {
    BlockEnv {
        number: U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee_per_gas.unwrap_or_default(),
        difficulty: U256::ZERO,
        prevrandao: Some(header.mix_hash),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
        ..Default::default()
    }
}

/// revm's transaction environment for a signed, recovered transaction.
pub fn tx_env(tx: &RecoveredTx) -> TxEnv {
    let envelope = &tx.envelope;
    let mut env = TxEnv {
        tx_type: envelope.tx_type() as u8,
        caller: tx.sender,
        gas_limit: envelope.gas_limit(),
        gas_price: envelope.max_fee_per_gas(),
        kind: envelope.kind(),
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        access_list: envelope.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: envelope.max_priority_fee_per_gas(),
        ..Default::default()
    };
    if let TxEnvelope::Eip7702(signed) = envelope {
        env.set_signed_authorization(signed.tx().authorization_list.clone());
    }
    env
}

/// The EVM Cairn runs: mainnet instructions at [`EVM_SPEC`], Ethereum's precompiles and, on
/// chains with a peg, the withdrawal contract.
pub(crate) fn evm<CTX>(
    ctx: CTX,
    withdrawals: Option<cairn_primitives::WithdrawalSpec>,
) -> CairnEvm<CTX, ()>
where
    CTX: revm::context_interface::ContextTr,
{
    inspecting_evm(ctx, withdrawals, ())
}

/// revm's EVM type for Cairn's instructions and precompiles, with inspector `I`.
pub(crate) type CairnEvm<CTX, I> = revm::context::Evm<
    CTX,
    I,
    revm::handler::instructions::EthInstructions<
        revm::interpreter::interpreter::EthInterpreter,
        CTX,
    >,
    crate::withdraw::CairnPrecompiles,
    revm::handler::EthFrame,
>;

/// [`evm`] with `inspector` watching every step: for tracers, access lists and simulations.
pub(crate) fn inspecting_evm<CTX, I>(
    ctx: CTX,
    withdrawals: Option<cairn_primitives::WithdrawalSpec>,
    inspector: I,
) -> CairnEvm<CTX, I>
where
    CTX: revm::context_interface::ContextTr,
{
    revm::context::Evm::new_with_inspector(
        ctx,
        inspector,
        revm::handler::instructions::EthInstructions::new_mainnet_with_spec(EVM_SPEC),
        crate::withdraw::CairnPrecompiles::new(EVM_SPEC, withdrawals),
    )
}
