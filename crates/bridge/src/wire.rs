//! The signer link: what the coordinator sends a signer and what it answers, as a typed
//! JSON-RPC trait. `cairn signer` serves [`SignerApiServer`] on its own authenticated
//! listener ([`crate::server`]); the coordinator calls it through the generated
//! [`SignerApiClient`].

use bitcoin::Transaction;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use cairn_peg::policy::PayoutProposal;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A payout proposal as `cairn_signPayout` carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProposalWire {
    /// The unsigned transaction, hex.
    pub tx: String,
    /// The withdrawal ids its leading outputs pay.
    pub withdrawals: Vec<u64>,
}

/// A signer's answer: its key and one BIP340 signature per input, hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureSet {
    /// The signer's x-only key.
    pub signer: String,
    /// Signature of each input, in input order.
    pub signatures: Vec<String>,
}

impl ProposalWire {
    /// The wire form of `proposal`.
    pub fn of(proposal: &PayoutProposal) -> Self {
        Self {
            tx: serialize_hex(&proposal.tx),
            withdrawals: proposal.withdrawals.clone(),
        }
    }

    /// The proposal it carries.
    pub fn decode(&self) -> Result<PayoutProposal> {
        let tx: Transaction = deserialize_hex(&self.tx)
            .map_err(|e| Error::InvalidProposal(format!("undecodable transaction: {e}")))?;
        Ok(PayoutProposal {
            tx,
            withdrawals: self.withdrawals.clone(),
        })
    }
}

/// A federation signer's JSON-RPC (`cairn_signPayout`).
#[rpc(server, client, namespace = "cairn")]
pub trait SignerApi {
    /// This signer's signatures of the payout, or error `-32000 refused: …` with the
    /// policy's reason unless the signer's own derived state justifies it.
    #[method(name = "signPayout")]
    async fn sign_payout(&self, proposal: ProposalWire) -> RpcResult<SignatureSet>;
}
