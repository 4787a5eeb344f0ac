//! Transaction receipts as execution produces them and the store keeps them.

use alloy_consensus::{Eip658Value, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::{Address, Bloom, Log};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

/// Errors decoding stored receipts.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptDecodeError {
    #[error("unknown receipt encoding version {0}")]
    Version(u8),
    #[error("corrupt receipt encoding: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    #[error("unknown transaction type {0}")]
    TxType(u8),
}

/// The outcome of one transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Receipt {
    pub tx_type: u8,
    pub success: bool,
    pub cumulative_gas_used: u64,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    /// Address of the contract a creation deployed (zero address if none).
    pub contract_address: Address,
    pub logs: Vec<Log>,
}

const RECEIPTS_ENCODING_V1: u8 = 1;

impl Receipt {
    pub fn contract_address(&self) -> Option<Address> {
        (!self.contract_address.is_zero()).then_some(self.contract_address)
    }

    pub fn bloom(&self) -> Bloom {
        alloy_primitives::logs_bloom(self.logs.iter())
    }

    /// The consensus receipt (what the receipts root commits to).
    pub fn to_envelope(&self) -> Result<ReceiptEnvelope, ReceiptDecodeError> {
        let tx_type =
            TxType::try_from(self.tx_type).map_err(|_| ReceiptDecodeError::TxType(self.tx_type))?;
        let receipt = alloy_consensus::Receipt {
            status: Eip658Value::Eip658(self.success),
            cumulative_gas_used: self.cumulative_gas_used,
            logs: self.logs.clone(),
        };
        let with_bloom = ReceiptWithBloom {
            logs_bloom: self.bloom(),
            receipt,
        };
        Ok(match tx_type {
            TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
        })
    }

    /// Versioned encoding of a block's receipts.
    pub fn encode_block(receipts: &[Self]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + receipts.len() * 64);
        out.push(RECEIPTS_ENCODING_V1);
        receipts.to_vec().encode(&mut out);
        out
    }

    pub fn decode_block(bytes: &[u8]) -> Result<Vec<Self>, ReceiptDecodeError> {
        let (version, mut rest) = bytes.split_first().ok_or(alloy_rlp::Error::InputTooShort)?;
        if *version != RECEIPTS_ENCODING_V1 {
            return Err(ReceiptDecodeError::Version(*version));
        }
        Ok(Vec::<Self>::decode(&mut rest)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{B256, Bytes, LogData};

    #[test]
    fn receipts_round_trip() {
        let log = Log {
            address: Address::repeat_byte(9),
            data: LogData::new_unchecked(vec![B256::repeat_byte(1)], Bytes::from_static(b"hi")),
        };
        let receipts = vec![Receipt {
            tx_type: 2,
            success: true,
            cumulative_gas_used: 50_000,
            gas_used: 50_000,
            effective_gas_price: 7,
            contract_address: Address::ZERO,
            logs: vec![log],
        }];
        let bytes = Receipt::encode_block(&receipts);
        assert_eq!(Receipt::decode_block(&bytes).expect("decodes"), receipts);
        assert!(Receipt::decode_block(&bytes[..bytes.len() - 2]).is_err());
        assert!(matches!(
            Receipt::decode_block(&[7]),
            Err(ReceiptDecodeError::Version(7))
        ));
        assert!(
            receipts[0]
                .bloom()
                .contains_input(alloy_primitives::BloomInput::Raw(&[9; 20]))
        );
    }
}
