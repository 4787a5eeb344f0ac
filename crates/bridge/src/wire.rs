//! The signer link: what the coordinator sends a signer and what it answers, as a typed
//! JSON-RPC trait. `cairn signer` serves [`SignerApiServer`] on its own authenticated
//! listener ([`crate::server`]); the coordinator calls it through the generated
//! [`SignerApiClient`].

use bitcoin::Transaction;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::{Hash as _, HashEngine as _, sha256};
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{Message, Secp256k1, XOnlyPublicKey, schnorr};
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
    /// The proposing sequencer's x-only key, hex: signers sign only for the member of the
    /// sequencer set that their own derivation makes active.
    pub sequencer: String,
    /// Its BIP340 signature of [`proposal_digest`], hex.
    pub authorization: String,
}

/// What a sequencer signs to propose a payout: SHA-256 of `"cairn/payout-proposal/v1"`,
/// the unsigned transaction's txid (which commits to all of it) and each withdrawal id
/// (big-endian u64).
pub fn proposal_digest(proposal: &PayoutProposal) -> [u8; 32] {
    let mut engine = sha256::Hash::engine();
    engine.input(b"cairn/payout-proposal/v1");
    engine.input(proposal.tx.compute_txid().as_byte_array());
    for id in &proposal.withdrawals {
        engine.input(&id.to_be_bytes());
    }
    sha256::Hash::from_engine(engine).to_byte_array()
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
    /// The wire form of `proposal`, authorized by the sequencer key `sequencer`.
    pub fn of(proposal: &PayoutProposal, sequencer: &Keypair) -> Self {
        let message = Message::from_digest(proposal_digest(proposal));
        let signature = Secp256k1::new().sign_schnorr(&message, sequencer);
        Self {
            tx: serialize_hex(&proposal.tx),
            withdrawals: proposal.withdrawals.clone(),
            sequencer: sequencer.x_only_public_key().0.to_string(),
            authorization: hex::encode(signature.as_ref()),
        }
    }

    /// The sequencer key that authorized `proposal` (decoded from this wire form), if
    /// the authorization is valid.
    pub fn authorized_by(&self, proposal: &PayoutProposal) -> Result<XOnlyPublicKey> {
        let invalid = |what: &str| Error::InvalidProposal(format!("authorization: {what}"));
        let key: XOnlyPublicKey = self
            .sequencer
            .parse()
            .map_err(|_| invalid("sequencer is not an x-only key"))?;
        let bytes = hex::decode(&self.authorization).map_err(|_| invalid("not hex"))?;
        let signature =
            schnorr::Signature::from_slice(&bytes).map_err(|_| invalid("not a signature"))?;
        let message = Message::from_digest(proposal_digest(proposal));
        Secp256k1::verification_only()
            .verify_schnorr(&signature, &message, &key)
            .map_err(|_| invalid("the signature does not verify"))?;
        Ok(key)
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
