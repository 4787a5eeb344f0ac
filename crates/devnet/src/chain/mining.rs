//! Block assembly: coinbase with BIP34 height and witness commitment, CPFP selection,
//! nonce grinding.

use std::collections::HashMap;

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash as _;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness, absolute,
};

use crate::error::{Error, Result};
use crate::params::{
    BLOCK_VERSION, COINBASE_WEIGHT_RESERVE, MAX_BLOCK_WEIGHT, block_subsidy, regtest_bits,
};

use super::Chain;

impl Chain {
    // ---- mining --------------------------------------------------------------------------

    /// Assembles and grinds a block on `parent` paying `script_pubkey`. With `txs: None` on
    /// the tip it takes the mempool by ancestor fee rate; otherwise exactly `txs` (fees are
    /// claimed only when building on the tip). `time` is raised above the parent's median
    /// time past. The block is not submitted.
    pub fn create_block(
        &self,
        parent: BlockHash,
        script_pubkey: &Script,
        txs: Option<Vec<Transaction>>,
        time: u32,
    ) -> Result<Block> {
        let Some(parent_entry) = self.index.get(&parent) else {
            return Err(Error::UnknownBlock(parent));
        };
        let height = parent_entry.height + 1;
        let on_tip = parent == self.tip();
        let txs = match txs {
            Some(txs) => txs,
            None if on_tip => self
                .mempool
                .select(MAX_BLOCK_WEIGHT - COINBASE_WEIGHT_RESERVE)
                .iter()
                .filter_map(|id| self.mempool.get(id).map(|e| e.tx.clone()))
                .collect(),
            None => Vec::new(),
        };
        let fees = if on_tip {
            self.fees_of(&txs)
        } else {
            Amount::ZERO
        };
        let time = time.max(self.median_time_past(&parent) + 1);
        let reward = block_subsidy(height)
            .checked_add(fees)
            .unwrap_or(Amount::MAX_MONEY);
        // Like bitcoind's block assembler, always commit to the witnesses (even with none).
        for extra_nonce in 0i64.. {
            let coinbase = Transaction {
                version: Version::TWO,
                lock_time: absolute::LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint::null(),
                    script_sig: Builder::new()
                        .push_int(i64::from(height))
                        .push_int(extra_nonce)
                        .into_script(),
                    sequence: Sequence::MAX,
                    witness: Witness::from_slice(&[[0u8; 32]]),
                }],
                output: vec![TxOut {
                    value: reward,
                    script_pubkey: script_pubkey.to_owned(),
                }],
            };
            let mut txdata = Vec::with_capacity(txs.len() + 1);
            txdata.push(coinbase);
            txdata.extend(txs.iter().cloned());
            let header = Header {
                version: BlockVersion::from_consensus(BLOCK_VERSION),
                prev_blockhash: parent,
                merkle_root: TxMerkleNode::all_zeros(),
                time,
                bits: regtest_bits(),
                nonce: 0,
            };
            let mut block = Block { header, txdata };
            let root = block.witness_root().expect("block has a coinbase");
            let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
            let mut data = vec![0xaa, 0x21, 0xa9, 0xed];
            data.extend_from_slice(commitment.as_byte_array());
            let data = PushBytesBuf::try_from(data).expect("36 bytes fit a push");
            block.txdata[0].output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(data),
            });
            block.header.merkle_root = block.compute_merkle_root().expect("block has a coinbase");
            grind(&mut block.header);
            if !self.index.contains_key(&block.block_hash()) {
                return Ok(block);
            }
        }
        unreachable!("some extra nonce gives a new block")
    }

    /// Fees of `txs` spending the UTXO set or each other; unknown inputs count as zero fee.
    fn fees_of(&self, txs: &[Transaction]) -> Amount {
        let mut outputs: HashMap<OutPoint, Amount> = HashMap::new();
        let mut total = Amount::ZERO;
        for tx in txs {
            let txid = tx.compute_txid();
            let value_in = tx.input.iter().try_fold(Amount::ZERO, |acc, i| {
                let v = self
                    .utxo
                    .get(&i.previous_output)
                    .map(|c| c.output.value)
                    .or_else(|| outputs.get(&i.previous_output).copied())?;
                acc.checked_add(v)
            });
            let value_out = tx
                .output
                .iter()
                .try_fold(Amount::ZERO, |acc, o| acc.checked_add(o.value));
            if let (Some(i), Some(o)) = (value_in, value_out) {
                total = total
                    .checked_add(i.checked_sub(o).unwrap_or(Amount::ZERO))
                    .unwrap_or(total);
            }
            for (vout, o) in tx.output.iter().enumerate() {
                if let Ok(vout) = u32::try_from(vout) {
                    outputs.insert(OutPoint { txid, vout }, o.value);
                }
            }
        }
        total
    }
}

/// Searches the nonce (then the time) until the header meets its target.
pub(super) fn grind(header: &mut Header) {
    loop {
        if header.validate_pow(header.target()).is_ok() {
            return;
        }
        header.nonce = match header.nonce.checked_add(1) {
            Some(n) => n,
            None => {
                header.time = header.time.saturating_add(1);
                0
            }
        };
    }
}
