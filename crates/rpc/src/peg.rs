//! The peg's `cairn_` methods:
//!
//! - `cairn_getDepositAddress(l2Address, reclaimKey?)`: the Bitcoin taproot address that
//!   credits `l2Address`, from any wallet, with no special transaction format. With a
//!   BIP340 x-only `reclaimKey` the depositor can take uncredited coins back after the
//!   reclaim delay. Asking registers the address with the node, which watches it.
//! - `cairn_getDeposits(l2Address)`: deposits to that recipient's addresses found on
//!   Bitcoin: `confirming` (below the required confirmations) or `credited` (with the L2
//!   block that credited them).
//! - `cairn_getBridgeInfo`: signers, threshold, recovery set, peg address, rules.
//! - `cairn_getSupply`: the L2's BTC supply against genesis allocations and credited
//!   deposits, and how much of it withdrawals have burned (the peg's invariant).
//! - `cairn_getWithdrawalStatus(txHash)`: the withdrawals a transaction requested from the
//!   withdrawal contract, and how far each has come.
//!
//! `cairn_signPayout` is not here: a signer serves it on its own authenticated listener
//! (`cairn-bridge`'s signer server), never on the public port.
//!
//! A node whose network has no peg answers with error -32000 `this network has no peg`.

use alloy_primitives::{Address, B256, U64, U256};
use cairn_primitives::units::sats_to_wei;
use std::sync::Arc;

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::types::error::INVALID_PARAMS_CODE;
use serde::{Deserialize, Serialize};

use cairn_execution::withdraw::{
    PAID_TOTAL_SLOT, WITHDRAWAL_CONTRACT, WithdrawalRecord, WithdrawalRequest,
};

use crate::RpcContext;

/// A deposit address and what it commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositAddressInfo {
    /// The taproot address to pay.
    pub address: String,
    /// The L2 account credited.
    pub recipient: Address,
    /// The depositor's reclaim key, if any.
    pub reclaim_key: Option<B256>,
    /// Blocks after which the reclaim key (or, without one, the recovery set) may move
    /// an uncredited deposit.
    pub reclaim_delay: U64,
    /// Confirmations before crediting.
    pub confirmations: U64,
    /// Smallest deposit credited, in satoshis.
    pub min_deposit_sat: U64,
}

/// A deposit found on Bitcoin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositInfo {
    /// The deposit transaction (display order).
    pub txid: String,
    /// The output.
    pub vout: U64,
    /// Its value in satoshis.
    pub amount_sat: U64,
    /// The L2 account credited.
    pub recipient: Address,
    /// The Bitcoin block holding it (display order) and its height.
    pub l1_block_hash: String,
    /// Height of that block.
    pub l1_height: U64,
    /// Its confirmations now.
    pub confirmations: U64,
    /// `confirming` or `credited`.
    pub status: String,
    /// The L2 block that credited it.
    pub l2_block_number: Option<U64>,
}

/// `cairn_getSupply`: the L2's BTC against what backs it. `unbackedWei` and `missingWei`
/// are both zero while the peg's accounting holds (fees move BTC between accounts, never
/// create or destroy it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupplyView {
    /// The head the figures are for.
    pub block_number: U64,
    /// Every balance summed.
    pub l2_supply_wei: U256,
    /// The genesis allocations declared in the chain config.
    pub genesis_allocations_wei: U256,
    /// Deposits credited so far.
    pub deposits_credited: U64,
    /// Their total.
    pub deposits_credited_sat: U64,
    /// BTC burned by withdrawals and not yet paid out (the withdrawal contract's balance,
    /// part of the supply above).
    pub withdrawals_burned_wei: U256,
    /// Withdrawals paid on Bitcoin and recorded on L2 (they left the supply).
    pub withdrawals_paid_sat: U64,
    /// The supply minus what is burned.
    pub circulating_wei: U256,
    /// Peg coins in peg outputs (payout change), from this node's L2 records.
    pub peg_outputs_sat: Option<U64>,
    /// Peg coins that are credited deposits not yet swept into a peg output.
    pub unswept_deposits_sat: Option<U64>,
    /// Bitcoin fees the peg paid itself (signer set rotations): BTC the L2 supply counts
    /// and the peg no longer holds.
    pub peg_fees_sat: Option<U64>,
    /// Supply above genesis + deposits − paid withdrawals.
    pub unbacked_wei: U256,
    /// Supply below genesis + deposits − paid withdrawals.
    pub missing_wei: U256,
}

/// Why the peg could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PegServiceError {
    /// The request names something invalid (a bad reclaim key): `-32602`.
    #[error("{0}")]
    InvalidParams(String),
    /// The peg cannot answer now (its state could not be read or persisted): `-32000`.
    #[error("{0}")]
    Unavailable(String),
}

impl From<PegServiceError> for ErrorObjectOwned {
    fn from(e: PegServiceError) -> Self {
        let code = match e {
            PegServiceError::InvalidParams(_) => INVALID_PARAMS_CODE,
            PegServiceError::Unavailable(_) => -32000,
        };
        ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
    }
}

/// The peg's coins from a node's L2 records, sat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PegCoins {
    /// In peg outputs (payout change).
    pub peg_outputs_sat: u64,
    /// Credited deposits not yet swept.
    pub unswept_deposits_sat: u64,
    /// Bitcoin fees the peg paid itself.
    pub peg_fees_sat: u64,
}

/// Where the RPC reads the peg from (the node's peg watcher).
pub trait PegSource: Send + Sync {
    /// The deposit address of `recipient` (registered for watching).
    fn deposit_address(
        &self,
        recipient: Address,
        reclaim_key: Option<B256>,
    ) -> Result<DepositAddressInfo, PegServiceError>;
    /// Deposits to `recipient` found on Bitcoin.
    fn deposits_of(&self, recipient: Address) -> Vec<DepositInfo>;
    /// `cairn_getBridgeInfo`'s answer.
    fn bridge_info(&self) -> serde_json::Value;
    /// The peg's coins from this node's L2 records.
    fn coins(&self) -> Result<PegCoins, PegServiceError>;
}

fn no_peg() -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, "this network has no peg", None::<()>)
}

fn peg(ctx: &RpcContext) -> RpcResult<&dyn PegSource> {
    ctx.peg.as_deref().ok_or_else(no_peg)
}

/// The peg's `cairn_` methods.
#[rpc(server, client, namespace = "cairn")]
pub trait PegApi {
    /// The taproot address crediting `l2_address` (registered for watching).
    #[method(name = "getDepositAddress")]
    fn get_deposit_address(
        &self,
        l2_address: Address,
        reclaim_key: Option<B256>,
    ) -> RpcResult<DepositAddressInfo>;
    /// Deposits to `l2_address` found on Bitcoin.
    #[method(name = "getDeposits")]
    fn get_deposits(&self, l2_address: Address) -> RpcResult<Vec<DepositInfo>>;
    /// Signers, threshold, recovery set, peg address and rules.
    #[method(name = "getBridgeInfo")]
    fn get_bridge_info(&self) -> RpcResult<serde_json::Value>;
    /// The L2's BTC against what backs it.
    #[method(name = "getSupply", blocking)]
    fn get_supply(&self) -> RpcResult<SupplyView>;
    /// The withdrawals transaction `hash` requested, and how far each has come.
    #[method(name = "getWithdrawalStatus")]
    fn get_withdrawal_status(&self, hash: B256) -> RpcResult<Vec<WithdrawalView>>;
}

/// Serves [`PegApi`] from the node's context.
pub(crate) struct PegRpc(pub(crate) Arc<RpcContext>);

impl PegApiServer for PegRpc {
    fn get_deposit_address(
        &self,
        recipient: Address,
        reclaim: Option<B256>,
    ) -> RpcResult<DepositAddressInfo> {
        Ok(peg(&self.0)?.deposit_address(recipient, reclaim)?)
    }

    fn get_deposits(&self, recipient: Address) -> RpcResult<Vec<DepositInfo>> {
        Ok(peg(&self.0)?.deposits_of(recipient))
    }

    fn get_bridge_info(&self) -> RpcResult<serde_json::Value> {
        Ok(peg(&self.0)?.bridge_info())
    }

    fn get_supply(&self) -> RpcResult<SupplyView> {
        let c = &self.0;
        peg(c)?;
        let genesis = c
            .spec
            .alloc
            .values()
            .fold(U256::ZERO, |sum, a| sum.saturating_add(a.balance));
        let (count, sat) = c
            .storage
            .credited_deposits()
            .map_err(|e| ErrorObjectOwned::from(crate::RpcError::from(e)))?;
        let supply = c.storage.total_balance();
        let state = c.storage.latest_state();
        let paid = u64::try_from(state.storage(&WITHDRAWAL_CONTRACT, &PAID_TOTAL_SLOT))
            .unwrap_or(u64::MAX);
        let backing = genesis
            .saturating_add(sats_to_wei(sat))
            .saturating_sub(sats_to_wei(paid));
        let burned = state
            .account(&WITHDRAWAL_CONTRACT)
            .map_or(U256::ZERO, |a| a.balance);
        let coins = peg(c)?.coins().ok();
        Ok(SupplyView {
            block_number: U64::from(c.storage.head_number()),
            l2_supply_wei: supply,
            genesis_allocations_wei: genesis,
            deposits_credited: U64::from(count),
            deposits_credited_sat: U64::from(sat),
            withdrawals_burned_wei: burned,
            withdrawals_paid_sat: U64::from(paid),
            circulating_wei: supply.saturating_sub(burned),
            peg_outputs_sat: coins.map(|c| U64::from(c.peg_outputs_sat)),
            unswept_deposits_sat: coins.map(|c| U64::from(c.unswept_deposits_sat)),
            peg_fees_sat: coins.map(|c| U64::from(c.peg_fees_sat)),
            unbacked_wei: supply.saturating_sub(backing),
            missing_wei: backing.saturating_sub(supply),
        })
    }

    fn get_withdrawal_status(&self, hash: B256) -> RpcResult<Vec<WithdrawalView>> {
        let c = &self.0;
        peg(c)?;
        let storage_error = |e| ErrorObjectOwned::from(crate::RpcError::from(e));
        let Some((number, index)) = c
            .storage
            .transaction_location(&hash)
            .map_err(storage_error)?
        else {
            return Ok(Vec::new());
        };
        let Some(block) = c.storage.block_by_number(number).map_err(storage_error)? else {
            return Ok(Vec::new());
        };
        let finalized = c.storage.finality().map_or(number, |f| f.finalized);
        let state = c.storage.latest_state();
        let slot = |index| state.storage(&WITHDRAWAL_CONTRACT, &index);
        Ok(block
            .receipts
            .get(index)
            .map(|r| r.logs.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(WithdrawalRequest::from_log)
            .map(|w| {
                let paid_by = WithdrawalRecord::read(w.id, slot).and_then(|r| r.paid_by);
                let status = match paid_by {
                    Some(_) => "paid",
                    None if number <= finalized => "finalized",
                    None => "requested",
                };
                (w, status, paid_by)
            })
            .map(|(w, status, paid_by)| WithdrawalView {
                id: U64::from(w.id),
                status: status.to_owned(),
                bitcoin_txid: paid_by.map(|txid| {
                    // Bitcoin shows txids byte-reversed.
                    let mut bytes = txid.0;
                    bytes.reverse();
                    hex::encode(bytes)
                }),
                sender: w.sender,
                bitcoin_address: w.bitcoin_address,
                amount_sat: U64::from(w.amount_sat),
                l2_block_number: U64::from(number),
                transaction_hash: hash,
            })
            .collect())
    }
}

/// One withdrawal a transaction requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawalView {
    /// The withdrawal's id in the contract.
    pub id: U64,
    /// `requested` (burned on L2), `finalized` (its L2 block is final: it waits for the
    /// federation's payout), `paid` (the payout is confirmed on Bitcoin and recorded on
    /// L2).
    pub status: String,
    /// The Bitcoin transaction that paid it (display order), once paid.
    pub bitcoin_txid: Option<String>,
    /// Who burned the BTC.
    pub sender: Address,
    /// Where it is paid.
    pub bitcoin_address: String,
    /// How much, in satoshis.
    pub amount_sat: U64,
    /// The L2 block of the burn.
    pub l2_block_number: U64,
    /// The burning transaction.
    pub transaction_hash: B256,
}
