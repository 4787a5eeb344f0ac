//! Forcing a transaction through Bitcoin (`cairn force-send`): a signed L2 transaction
//! posted in a forced-transaction envelope (`cairn_da::envelope::forced`), so that it
//! reaches the chain without the sequencer. A bitcoind wallet pays a one-leaf taproot
//! commit output; a reveal spending it through the envelope leaf (signed by a one-time
//! key) puts the transaction in its witness and returns the rest to the wallet.

use alloy_consensus::Transaction as _;
use alloy_primitives::B256;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, FeeRate, OutPoint, Txid};
use cairn_da::envelope::{build_reveal, commit_output, forced_leaf, reveal_weight};

/// What a forced send put on Bitcoin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedSend {
    /// The L2 transaction's hash.
    pub l2_hash: B256,
    /// The wallet's payment to the envelope's commit output.
    pub commit: Txid,
    /// The reveal carrying the transaction.
    pub reveal: Txid,
}

/// Why a forced send did not go out.
#[derive(Debug, thiserror::Error)]
pub enum ForceSendError {
    #[error("not a signed L2 transaction: {0}")]
    NotATransaction(String),
    #[error(
        "the transaction is for chain {found:?}, not --chain-id {expected}: the network would skip it"
    )]
    WrongChain { found: Option<u64>, expected: u64 },
    #[error(transparent)]
    Envelope(#[from] cairn_da::Error),
    #[error("{what}: {source}")]
    Bitcoin {
        what: &'static str,
        source: cairn_l1::Error,
    },
    #[error("{0}")]
    Commit(String),
}

fn bitcoin_err(what: &'static str) -> impl FnOnce(cairn_l1::Error) -> ForceSendError {
    move |source| ForceSendError::Bitcoin { what, source }
}

/// Checks `raw` is a signed transaction for `chain_id`, then commits and reveals it
/// through `bitcoin`'s wallet at `fee_rate`.
pub async fn force_send(
    bitcoin: &cairn_l1::Client,
    network: bitcoin::Network,
    chain_id: u64,
    raw: &[u8],
    fee_rate: FeeRate,
) -> Result<ForcedSend, ForceSendError> {
    let tx = cairn_primitives::decode_raw_transaction(raw)
        .map_err(|e| ForceSendError::NotATransaction(e.to_string()))?;
    if tx.envelope.chain_id() != Some(chain_id) {
        return Err(ForceSendError::WrongChain {
            found: tx.envelope.chain_id(),
            expected: chain_id,
        });
    }
    let keypair = Keypair::from_seckey_slice(&Secp256k1::new(), &rand::random::<[u8; 32]>())
        .map_err(|e| ForceSendError::Commit(format!("a one-time key: {e}")))?;
    let key = keypair.x_only_public_key().0;
    let leaf = forced_leaf(&key, chain_id, raw)?;
    let (commit_script, spend_info) = commit_output(&leaf, key);
    let destination = bitcoin
        .get_new_address(Some("cairn-force"), None)
        .await
        .map_err(bitcoin_err(
            "the Bitcoin wallet could not give a change address",
        ))?
        .script_pubkey();
    let reveal_fee = fee_rate
        .fee_wu(reveal_weight(&leaf, &destination))
        .ok_or_else(|| ForceSendError::Commit("reveal fee overflows".into()))?;
    let amount = reveal_fee + destination.minimal_non_dust() + Amount::from_sat(1_000);
    let commit_address = bitcoin::Address::from_script(&commit_script, network)
        .map_err(|e| ForceSendError::Commit(format!("the commit output has no address: {e}")))?;
    let commit = bitcoin
        .send_to_address(&commit_address, amount)
        .await
        .map_err(bitcoin_err(
            "the Bitcoin wallet could not pay the commit output",
        ))?;
    let commit_tx = bitcoin
        .get_raw_transaction(&commit)
        .await
        .map_err(bitcoin_err("cannot read the commit transaction"))?
        .ok_or_else(|| {
            ForceSendError::Commit("the wallet's commit transaction is not in the node".into())
        })?;
    let vout = commit_tx
        .output
        .iter()
        .position(|o| o.script_pubkey == commit_script)
        .ok_or_else(|| {
            ForceSendError::Commit("the commit transaction does not pay the commit output".into())
        })?;
    let reveal = build_reveal(
        OutPoint::new(commit, vout as u32),
        &commit_tx.output[vout],
        &leaf,
        &spend_info,
        &keypair,
        destination,
        reveal_fee,
    )?;
    let reveal = bitcoin
        .send_raw_transaction(&reveal)
        .await
        .map_err(bitcoin_err("bitcoind refused the reveal"))?;
    Ok(ForcedSend {
        l2_hash: tx.hash,
        commit,
        reveal,
    })
}
