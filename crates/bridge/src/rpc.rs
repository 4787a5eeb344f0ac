//! What the public RPC reads of the peg: [`cairn_rpc::PegSource`] for [`Peg`].

use alloy_primitives::{Address, B256, U64};
use bitcoin::BlockHash;
use bitcoin::hashes::Hash as _;
use cairn_peg::PegOutput;
use cairn_peg::policy::{BUMP_AFTER_BLOCKS, MAX_PAYOUT_WITHDRAWALS};
use cairn_rpc::{DepositAddressInfo, DepositInfo, PegCoins, PegServiceError, PegSource};

use crate::Peg;

impl PegSource for Peg {
    fn deposit_address(
        &self,
        recipient: Address,
        reclaim_key: Option<B256>,
    ) -> Result<DepositAddressInfo, PegServiceError> {
        let output = self.register(recipient, reclaim_key)?;
        Ok(DepositAddressInfo {
            address: output.tree().address(self.network).to_string(),
            recipient,
            reclaim_key,
            reclaim_delay: U64::from(if reclaim_key.is_some() {
                self.spec.reclaim_delay
            } else {
                self.spec.recovery.delay
            }),
            confirmations: U64::from(self.spec.deposit_confirmations),
            min_deposit_sat: U64::from(self.spec.min_deposit_sat),
        })
    }

    fn deposits_of(&self, recipient: Address) -> Vec<DepositInfo> {
        let state = self.state.read();
        state
            .found
            .iter()
            .filter(|(_, f)| f.deposit.recipient == recipient)
            .map(|((txid, vout), f)| {
                let credited = self
                    .storage
                    .deposit_location(&f.deposit.txid, *vout)
                    .ok()
                    .flatten()
                    .map(|(block, _)| block);
                DepositInfo {
                    txid: txid.to_string(),
                    vout: U64::from(*vout),
                    amount_sat: U64::from(f.deposit.amount_sat),
                    recipient,
                    l1_block_hash: BlockHash::from_byte_array(f.deposit.l1_block.0).to_string(),
                    l1_height: U64::from(f.height),
                    confirmations: U64::from(state.confirmations(f.height)),
                    status: if credited.is_some() {
                        "credited"
                    } else {
                        "confirming"
                    }
                    .to_owned(),
                    l2_block_number: credited.map(U64::from),
                }
            })
            .collect()
    }

    fn bridge_info(&self) -> serde_json::Value {
        let current = self.current_epoch();
        let federation = self.federation();
        let peg_address = PegOutput::new(federation)
            .map(|o| o.tree().address(self.network).to_string())
            .ok();
        let sets: Vec<serde_json::Value> = self
            .epochs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                serde_json::json!({
                    "epoch": i,
                    "fromL1Height": e.from_l1_height,
                    "signers": e.federation.signers.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "threshold": e.federation.signers.threshold,
                    "pegAddress": PegOutput::new(&e.federation).ok().map(|o| o.tree().address(self.network).to_string()),
                })
            })
            .collect();
        serde_json::json!({
            "network": self.network.to_core_arg(),
            "signers": federation.signers.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "threshold": federation.signers.threshold,
            "epoch": current,
            "signerSets": sets,
            "signatureScheme": "tapscript OP_CHECKSIGADD M-of-N",
            "pegAddress": peg_address,
            "recovery": {
                "keys": self.spec.recovery.keys,
                "threshold": self.spec.recovery.threshold,
                "delayBlocks": self.spec.recovery.delay,
            },
            "reclaimDelayBlocks": self.spec.reclaim_delay,
            "depositConfirmations": self.spec.deposit_confirmations,
            "minDepositSat": self.spec.min_deposit_sat,
            "minWithdrawalSat": self.min_withdrawal_sat,
            "depositsCredited": "as EIP-4895 withdrawals in the crediting block (1 sat = 10 gwei)",
            "withdrawalContract": self.min_withdrawal_sat.map(|_| format!("{:#x}", cairn_execution::withdraw::WITHDRAWAL_CONTRACT)),
            "payouts": {
                "feeRule": "the payout's Bitcoin fee is split equally among the withdrawals it pays (remainder to the first); each receives its amount minus its share",
                "paidAfter": "the burn's L2 block is finalized",
                "maxWithdrawalsPerPayout": MAX_PAYOUT_WITHDRAWALS,
                "replacedAfterBlocks": BUMP_AFTER_BLOCKS,
                "commitment": "OP_RETURN \"cairnpay\" ‖ SHA-256(chain id ‖ withdrawal ids), after the withdrawal outputs",
            },
        })
    }

    fn coins(&self) -> Result<PegCoins, PegServiceError> {
        let ledger = self.ledger(0)?;
        Ok(PegCoins {
            peg_outputs_sat: ledger.peg_outputs_sat,
            unswept_deposits_sat: ledger.unswept_deposits_sat,
            peg_fees_sat: ledger.peg_fees_sat,
        })
    }
}
