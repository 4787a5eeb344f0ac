//! L2 blocks and transactions as the sequencer seals them and the store keeps them.

use std::sync::Arc;

use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, Transaction, TxEnvelope, transaction::SignerRecoverable,
};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::{Decodable, Encodable, Header as RlpHeader};

use crate::deposit::{DEPOSIT_ENCODED_LEN, DEPOSIT_V1_ENCODED_LEN, Deposit};
use crate::payout::Payout;

/// Largest raw transaction accepted (geth's txMaxSize: 4 slots of 32 KiB).
pub const MAX_TX_SIZE: usize = 128 * 1024;

/// Why raw transaction bytes were refused. The messages are geth's, so Ethereum
/// tooling recognises them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxDecodeError {
    #[error("oversized data")]
    Oversized,
    #[error("rlp: {0}")]
    Rlp(String),
    #[error("transaction type not supported")]
    TypeNotSupported,
    #[error("invalid sender")]
    InvalidSender,
}

/// A signed transaction with its sender recovered once, its hash and its
/// EIP-2718 bytes (what goes into blocks, batches and `eth_getRawTransaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTx {
    pub envelope: TxEnvelope,
    pub sender: Address,
    pub hash: B256,
    pub encoded: Bytes,
}

impl RecoveredTx {
    /// `tx` sent as `sender` without their key (`cairn dev`'s impersonation, simulations):
    /// it carries a signature no key made, whose `r` is the sender so that the same
    /// transaction from two senders has two hashes. Only this node can take its sender on
    /// trust: no follower can recover it.
    pub fn impersonated(tx: alloy_consensus::TypedTransaction, sender: Address) -> Self {
        use alloy_consensus::SignableTransaction as _;
        let mut r = [0u8; 32];
        r[0] = 0x01;
        r[12..].copy_from_slice(sender.as_slice());
        let signature = alloy_primitives::Signature::new(
            alloy_primitives::U256::from_be_bytes(r),
            alloy_primitives::U256::from(1),
            false,
        );
        Self::from_signed(tx.into_signed(signature).into(), sender)
    }

    /// A transaction this node signed (or impersonated) itself, with its sender known.
    pub fn from_signed(envelope: TxEnvelope, sender: Address) -> Self {
        Self {
            hash: *envelope.tx_hash(),
            encoded: envelope.encoded_2718().into(),
            envelope,
            sender,
        }
    }

    pub fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }
    pub fn gas_limit(&self) -> u64 {
        self.envelope.gas_limit()
    }
    pub fn max_fee_per_gas(&self) -> u128 {
        self.envelope.max_fee_per_gas()
    }
    pub fn max_priority_fee_per_gas(&self) -> u128 {
        self.envelope
            .max_priority_fee_per_gas()
            .unwrap_or_else(|| self.envelope.max_fee_per_gas())
    }
    /// What the sender pays per gas in a block with `base_fee`.
    pub fn effective_gas_price(&self, base_fee: u64) -> u128 {
        self.envelope.effective_gas_price(Some(base_fee))
    }
    /// Tip per gas that reaches the fee recipient at `base_fee`, `None` if the
    /// transaction cannot pay the base fee.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        self.envelope.effective_tip_per_gas(base_fee)
    }
}

/// Decode and check the bytes of `eth_sendRawTransaction`.
pub fn decode_raw_transaction(raw: &[u8]) -> Result<RecoveredTx, TxDecodeError> {
    if raw.len() > MAX_TX_SIZE {
        return Err(TxDecodeError::Oversized);
    }
    let envelope =
        TxEnvelope::decode_2718_exact(raw).map_err(|e| TxDecodeError::Rlp(e.to_string()))?;
    recover(envelope, Bytes::copy_from_slice(raw))
}

fn recover(envelope: TxEnvelope, encoded: Bytes) -> Result<RecoveredTx, TxDecodeError> {
    if envelope.is_eip4844() {
        return Err(TxDecodeError::TypeNotSupported);
    }
    let sender = envelope
        .recover_signer()
        .map_err(|_| TxDecodeError::InvalidSender)?;
    let hash = *envelope.tx_hash();
    Ok(RecoveredTx {
        envelope,
        sender,
        hash,
        encoded,
    })
}

/// A sealed L2 block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub header: Header,
    pub hash: B256,
    pub transactions: Vec<Arc<RecoveredTx>>,
    /// Bitcoin deposits credited before the transactions ran (the header's
    /// `withdrawalsRoot` commits to them).
    pub deposits: Vec<Deposit>,
    /// Bitcoin payouts recorded after the deposits (the state root commits to their
    /// effect on the withdrawal contract).
    pub payouts: Vec<Payout>,
}

const BLOCK_ENCODING_V1: u8 = 1;
/// V1 followed by the deposits: `rlp(bytes(deposit‖deposit‖…))`.
const BLOCK_ENCODING_V2: u8 = 2;
/// V2 followed by the payouts: `rlp(bytes(payout‖payout‖…))` (deposits may be empty).
const BLOCK_ENCODING_V3: u8 = 3;
/// V3 whose deposit records are always [`DEPOSIT_ENCODED_LEN`] (130) bytes. V2 and V3
/// were written with 128-byte records (before signer sets) and later with 130-byte ones:
/// they are read by the records' total length (a multiple of 130 first).
const BLOCK_ENCODING_V4: u8 = 4;

/// Decodes one deposit record of a given layout.
type DepositDecoder = fn(&[u8]) -> Option<Deposit>;

impl Block {
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// Versioned storage encoding: `0x01 ‖ rlp(header) ‖ rlp([[sender, tx]…])`, or with
    /// deposits `0x02 ‖ … ‖ rlp(deposits)`. Senders are kept so that reading a block never
    /// re-runs signature recovery.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(600 + self.transactions.len() * 140);
        let version = if !self.payouts.is_empty() || !self.deposits.is_empty() {
            BLOCK_ENCODING_V4
        } else {
            BLOCK_ENCODING_V1
        };
        out.push(version);
        self.header.encode(&mut out);
        let mut body = Vec::with_capacity(self.transactions.len() * 140);
        for tx in &self.transactions {
            let inner_len = tx.sender.length() + tx.encoded.as_ref().length();
            RlpHeader {
                list: true,
                payload_length: inner_len,
            }
            .encode(&mut body);
            tx.sender.encode(&mut body);
            tx.encoded.as_ref().encode(&mut body);
        }
        RlpHeader {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut out);
        out.extend_from_slice(&body);
        if version >= BLOCK_ENCODING_V2 {
            let mut deposits = Vec::with_capacity(self.deposits.len() * DEPOSIT_ENCODED_LEN);
            for deposit in &self.deposits {
                deposit.encode(&mut deposits);
            }
            deposits.as_slice().encode(&mut out);
        }
        if version >= BLOCK_ENCODING_V3 {
            Payout::encode_all(&self.payouts)
                .as_slice()
                .encode(&mut out);
        }
        out
    }

    /// Decode [`Block::encode`] output. Hostile bytes give an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let (version, mut buf) = bytes.split_first().ok_or(alloy_rlp::Error::InputTooShort)?;
        if !(BLOCK_ENCODING_V1..=BLOCK_ENCODING_V4).contains(version) {
            return Err(alloy_rlp::Error::Custom("unknown block encoding version"));
        }
        let header = Header::decode(&mut buf)?;
        let list = RlpHeader::decode(&mut buf)?;
        if !list.list || list.payload_length > buf.len() {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let (mut body, mut rest) = buf.split_at(list.payload_length);
        let mut transactions = Vec::new();
        while !body.is_empty() {
            let item = RlpHeader::decode(&mut body)?;
            if !item.list {
                return Err(alloy_rlp::Error::UnexpectedString);
            }
            let sender = Address::decode(&mut body)?;
            let encoded = Bytes::decode(&mut body)?;
            let envelope = TxEnvelope::decode_2718_exact(&encoded)
                .map_err(|_| alloy_rlp::Error::Custom("bad transaction in stored block"))?;
            let hash = *envelope.tx_hash();
            transactions.push(Arc::new(RecoveredTx {
                envelope,
                sender,
                hash,
                encoded,
            }));
        }
        let mut deposits = Vec::new();
        if *version >= BLOCK_ENCODING_V2 {
            let raw = Bytes::decode(&mut rest)?;
            let bad = alloy_rlp::Error::Custom("bad deposits in stored block");
            let (record_len, decode): (usize, DepositDecoder) =
                if raw.len().is_multiple_of(DEPOSIT_ENCODED_LEN) {
                    (DEPOSIT_ENCODED_LEN, Deposit::decode)
                } else if *version < BLOCK_ENCODING_V4
                    && raw.len().is_multiple_of(DEPOSIT_V1_ENCODED_LEN)
                {
                    (DEPOSIT_V1_ENCODED_LEN, Deposit::decode_v1)
                } else {
                    return Err(bad);
                };
            for chunk in raw.chunks(record_len) {
                deposits.push(decode(chunk).ok_or(bad)?);
            }
        }
        let mut payouts = Vec::new();
        if *version >= BLOCK_ENCODING_V3 {
            let raw = Bytes::decode(&mut rest)?;
            payouts = Payout::decode_all(&raw)
                .ok_or(alloy_rlp::Error::Custom("bad payouts in stored block"))?;
        }
        let hash = header.hash_slow();
        Ok(Self {
            header,
            hash,
            transactions,
            deposits,
            payouts,
        })
    }
}

/// A header with the fields of the latest Ethereum forks at their neutral values
/// (no withdrawals, blobs, beacon roots or EL requests on Cairn), so that
/// Ethereum clients parse it as a current mainnet-shaped header.
pub fn header_template() -> Header {
    Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        base_fee_per_gas: Some(0),
        withdrawals_root: Some(alloy_consensus::EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// EIP-2718 bytes of an envelope (for building blocks from locally signed txs).
pub fn encode_envelope(envelope: &TxEnvelope) -> Bytes {
    envelope.encoded_2718().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_rlp_error_not_a_panic() {
        for raw in [
            &[][..],
            &[0x02][..],
            &[0xf8, 0xff, 0x00][..],
            &[0x03, 0xc0][..],
        ] {
            let err = decode_raw_transaction(raw).unwrap_err();
            assert!(matches!(err, TxDecodeError::Rlp(_)), "{raw:?}: {err:?}");
        }
        let big = vec![0u8; MAX_TX_SIZE + 1];
        assert_eq!(
            decode_raw_transaction(&big).unwrap_err(),
            TxDecodeError::Oversized
        );
    }

    #[test]
    fn block_encoding_round_trips_and_rejects_junk() {
        let mut header = header_template();
        header.number = 7;
        let block = Block {
            hash: header.hash_slow(),
            header,
            transactions: vec![],
            deposits: vec![],
            payouts: vec![],
        };
        let bytes = block.encode();
        assert_eq!(bytes[0], BLOCK_ENCODING_V1);
        assert_eq!(Block::decode(&bytes).expect("decodes"), block);
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Block::decode(&[9, 1, 2]).is_err());
        assert!(Block::decode(&[]).is_err());
        // With deposits: version 2, every field back.
        let deposit = Deposit {
            l1_block: B256::repeat_byte(1),
            txid: B256::repeat_byte(2),
            vout: 3,
            amount_sat: 4,
            recipient: Address::repeat_byte(5),
            reclaim_key: Some(B256::repeat_byte(6)),
            epoch: 0,
        };
        let with = Block {
            deposits: vec![deposit, Deposit { vout: 4, ..deposit }],
            ..block.clone()
        };
        let bytes = with.encode();
        assert_eq!(bytes[0], BLOCK_ENCODING_V4);
        assert_eq!(Block::decode(&bytes).expect("decodes"), with);
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
        // Blocks stored by earlier versions still read: V2 with 128-byte records (before
        // signer sets: set 0) and with 130-byte ones, V3 likewise.
        let plain = block.encode();
        for (version, record_len) in [
            (BLOCK_ENCODING_V2, 128),
            (BLOCK_ENCODING_V2, 130),
            (BLOCK_ENCODING_V3, 128),
        ] {
            let mut records = Vec::new();
            for d in &with.deposits {
                let mut one = Vec::new();
                Deposit { epoch: 0, ..*d }.encode(&mut one);
                records.extend_from_slice(&one[..record_len]);
            }
            let mut old = vec![version];
            old.extend_from_slice(&plain[1..]);
            records.as_slice().encode(&mut old);
            if version == BLOCK_ENCODING_V3 {
                Payout::encode_all(&[]).as_slice().encode(&mut old);
            }
            assert_eq!(
                Block::decode(&old).expect("an old block decodes"),
                with,
                "v{version}, {record_len}-byte records"
            );
        }
        // V4 refuses 128-byte records.
        let mut short = vec![BLOCK_ENCODING_V4];
        short.extend_from_slice(&plain[1..]);
        vec![0u8; 128].as_slice().encode(&mut short);
        Payout::encode_all(&[]).as_slice().encode(&mut short);
        assert!(Block::decode(&short).is_err());
        // With a payout and no deposit: version 4 too.
        let payout = Payout {
            l1_block: B256::repeat_byte(7),
            txid: B256::repeat_byte(8),
            inputs: vec![(B256::repeat_byte(9), 1)],
            change: Some((1, 5_000)),
            epoch: 0,
            withdrawals: vec![3],
        };
        let paid = Block {
            payouts: vec![payout],
            ..block
        };
        let bytes = paid.encode();
        assert_eq!(bytes[0], BLOCK_ENCODING_V4);
        assert_eq!(Block::decode(&bytes).expect("decodes"), paid);
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
