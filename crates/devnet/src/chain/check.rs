//! Block checks that need no UTXO set: bitcoind's `CheckBlock`, the contextual header
//! and block checks, and the witness commitment.

use std::collections::HashSet;

use bitcoin::hashes::Hash as _;
use bitcoin::script::Builder;
use bitcoin::{Block, Transaction};

use crate::error::{Reject, Result};
use crate::params::{MAX_BLOCK_SIGOPS_COST, MAX_BLOCK_WEIGHT, regtest_bits};
use crate::validation::{check_transaction, is_final};

use super::Chain;

impl Chain {
    pub(super) fn check_block(&self, block: &Block) -> Result<(), Reject> {
        self.check_block_inner(block, false)
    }

    /// bitcoind's `CheckBlock` plus `ContextualCheckBlockHeader` / `ContextualCheckBlock`.
    pub(super) fn check_block_inner(
        &self,
        block: &Block,
        allow_invalid_parent: bool,
    ) -> Result<(), Reject> {
        let header = &block.header;
        if header.bits != regtest_bits() {
            return Err(Reject::invalid("bad-diffbits").with_details("incorrect proof of work"));
        }
        if header.validate_pow(header.target()).is_err() {
            return Err(Reject::invalid("high-hash").with_details("proof of work failed"));
        }
        let Some(parent) = self.index.get(&header.prev_blockhash) else {
            return Err(Reject::invalid("prev-blk-not-found"));
        };
        if !allow_invalid_parent && !self.chain_valid(&header.prev_blockhash) {
            return Err(Reject::invalid("bad-prevblk"));
        }
        let height = parent.height + 1;
        if header.version.to_consensus() < 4 {
            return Err(Reject::invalid(format!(
                "bad-version(0x{:08x})",
                header.version.to_consensus()
            ))
            .with_details("rejected nVersion block"));
        }
        let prev_mtp = self.median_time_past(&header.prev_blockhash);
        if header.time <= prev_mtp {
            return Err(
                Reject::invalid("time-too-old").with_details("block's timestamp is too early")
            );
        }
        let Some(coinbase) = block.txdata.first().filter(|t| t.is_coinbase()) else {
            return Err(Reject::invalid("bad-cb-missing").with_details("first tx is not coinbase"));
        };
        if block.txdata.iter().skip(1).any(Transaction::is_coinbase) {
            return Err(Reject::invalid("bad-cb-multiple").with_details("more than one coinbase"));
        }
        if !block.check_merkle_root() {
            return Err(Reject::invalid("bad-txnmrklroot").with_details("hashMerkleRoot mismatch"));
        }
        let mut txids = HashSet::with_capacity(block.txdata.len());
        if !block.txdata.iter().all(|t| txids.insert(t.compute_txid())) {
            return Err(Reject::invalid("bad-txns-duplicate").with_details("duplicate transaction"));
        }
        for tx in &block.txdata {
            check_transaction(tx).map_err(|r| {
                r.with_details(format!(
                    "Transaction check failed (tx hash {})",
                    tx.compute_txid()
                ))
            })?;
        }
        let stripped: u64 = block
            .txdata
            .iter()
            .map(|t| t.base_size() as u64)
            .sum::<u64>()
            + 80;
        if block.txdata.len() as u64 * 4 > MAX_BLOCK_WEIGHT || stripped * 4 > MAX_BLOCK_WEIGHT {
            return Err(Reject::invalid("bad-blk-length").with_details("size limits failed"));
        }
        if block.weight().to_wu() > MAX_BLOCK_WEIGHT {
            return Err(Reject::invalid("bad-blk-weight").with_details("weight limit failed"));
        }
        let legacy_sigops: usize = block
            .txdata
            .iter()
            .flat_map(|t| {
                t.input
                    .iter()
                    .map(|i| i.script_sig.count_sigops_legacy())
                    .chain(
                        t.output
                            .iter()
                            .map(|o| o.script_pubkey.count_sigops_legacy()),
                    )
            })
            .sum();
        if (legacy_sigops as u64).saturating_mul(4) > MAX_BLOCK_SIGOPS_COST {
            return Err(Reject::invalid("bad-blk-sigops").with_details("out-of-bounds SigOpCount"));
        }
        let expect = Builder::new().push_int(i64::from(height)).into_script();
        if !coinbase.input[0]
            .script_sig
            .as_bytes()
            .starts_with(expect.as_bytes())
        {
            return Err(
                Reject::invalid("bad-cb-height").with_details("block height mismatch in coinbase")
            );
        }
        for tx in &block.txdata {
            if !is_final(tx, height, prev_mtp) {
                return Err(
                    Reject::invalid("bad-txns-nonfinal").with_details("non-final transaction")
                );
            }
        }
        check_witness_commitment(block)
    }
}

/// The witness commitment's output script prefix: `OP_RETURN`, push 36, `aa21a9ed`.
const WITNESS_COMMITMENT_MAGIC: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// bitcoind's `CheckWitnessMalleation`.
fn check_witness_commitment(block: &Block) -> Result<(), Reject> {
    let coinbase = &block.txdata[0];
    let commitment_pos = coinbase.output.iter().rposition(|o| {
        o.script_pubkey.len() >= 38 && o.script_pubkey.as_bytes()[..6] == WITNESS_COMMITMENT_MAGIC
    });
    match commitment_pos {
        Some(pos) => {
            let witness = &coinbase.input[0].witness;
            let reserved = match witness.iter().collect::<Vec<_>>().as_slice() {
                [r] if r.len() == 32 => r.to_vec(),
                _ => {
                    return Err(Reject::invalid("bad-witness-nonce-size").with_details(
                        "CheckWitnessMalleation : invalid witness reserved value size",
                    ));
                }
            };
            let root = block
                .witness_root()
                .ok_or_else(|| Reject::invalid("bad-witness-merkle-match"))?;
            let expected = Block::compute_witness_commitment(&root, &reserved);
            if coinbase.output[pos].script_pubkey.as_bytes()[6..38] != expected.as_byte_array()[..]
            {
                return Err(Reject::invalid("bad-witness-merkle-match")
                    .with_details("CheckWitnessMalleation : witness merkle commitment mismatch"));
            }
            Ok(())
        }
        None => {
            if block
                .txdata
                .iter()
                .any(|t| t.input.iter().any(|i| !i.witness.is_empty()))
            {
                return Err(Reject::invalid("unexpected-witness")
                    .with_details("CheckWitnessMalleation : unexpected witness data found"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash as _;
    use bitcoin::script::Builder;
    use bitcoin::{Amount, Block, BlockHash, CompactTarget, ScriptBuf};

    use crate::chain::Chain;
    use crate::chain::mining::grind;
    use crate::error::Error;

    const TIME: u32 = 1_700_000_000;

    fn anyone() -> ScriptBuf {
        ScriptBuf::from_bytes(vec![0x51])
    }

    fn next(chain: &Chain) -> Block {
        chain
            .create_block(chain.tip(), &anyone(), None, TIME)
            .unwrap()
    }

    fn reseal(block: &mut Block) {
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        grind(&mut block.header);
    }

    fn refused(chain: &mut Chain, block: Block) -> String {
        match chain.submit_block(block) {
            Err(Error::Reject(r)) => r.reason,
            other => panic!("expected a reject, got {other:?}"),
        }
    }

    #[test]
    fn valid_block_connects_once() {
        let mut chain = Chain::new();
        let block = next(&chain);
        assert!(chain.submit_block(block.clone()).unwrap());
        assert_eq!(chain.height(), 1);
        assert_eq!(chain.tip(), block.block_hash());
        assert!(!chain.submit_block(block).unwrap());
        assert_eq!(chain.utxos().len(), 1);
        assert_eq!(chain.block(&chain.tip()).unwrap().block.header.time, TIME);
    }

    #[test]
    fn coinbase_may_not_overpay() {
        let mut chain = Chain::new();
        let mut block = next(&chain);
        block.txdata[0].output[0].value += Amount::from_sat(1);
        reseal(&mut block);
        let hash = block.block_hash();
        assert_eq!(refused(&mut chain, block), "bad-cb-amount");
        assert_eq!(chain.height(), 0);
        assert!(chain.invalid_blocks().contains(&hash));
        assert!(chain.utxos().is_empty());
        // Building on it is refused outright.
        let child = chain.create_block(hash, &anyone(), None, TIME).unwrap();
        assert_eq!(refused(&mut chain, child), "bad-prevblk");
    }

    #[test]
    fn header_and_coinbase_rules() {
        let mut chain = Chain::new();
        let good = next(&chain);

        let mut b = good.clone();
        b.txdata[0].input[0].script_sig = Builder::new().push_int(2).push_int(0).into_script();
        reseal(&mut b);
        assert_eq!(refused(&mut chain, b), "bad-cb-height");

        let mut b = good.clone();
        b.header.bits = CompactTarget::from_consensus(0x1d00_ffff);
        assert_eq!(refused(&mut chain, b), "bad-diffbits");

        let mut b = good.clone();
        while b.header.validate_pow(b.header.target()).is_ok() {
            b.header.nonce += 1;
        }
        assert_eq!(refused(&mut chain, b), "high-hash");

        let mut b = good.clone();
        b.header.time = chain.median_time_past(&chain.tip());
        reseal(&mut b);
        assert_eq!(refused(&mut chain, b), "time-too-old");

        let mut b = good.clone();
        b.header.merkle_root = bitcoin::TxMerkleNode::all_zeros();
        grind(&mut b.header);
        assert_eq!(refused(&mut chain, b), "bad-txnmrklroot");

        // A coinbase witness without the witness commitment output.
        let mut b = good.clone();
        b.txdata[0].output.truncate(1);
        reseal(&mut b);
        assert_eq!(refused(&mut chain, b), "unexpected-witness");

        let mut b = good.clone();
        b.header.version = bitcoin::block::Version::ONE;
        grind(&mut b.header);
        assert_eq!(refused(&mut chain, b), "bad-version(0x00000001)");

        let mut b = good.clone();
        b.header.prev_blockhash = BlockHash::all_zeros();
        grind(&mut b.header);
        assert_eq!(refused(&mut chain, b), "prev-blk-not-found");

        let mut b = good.clone();
        b.txdata[0].output.push(bitcoin::TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0xac; 20_001]),
        });
        reseal(&mut b);
        assert_eq!(refused(&mut chain, b), "bad-blk-sigops");

        assert_eq!(chain.height(), 0);
        assert!(chain.submit_block(good).unwrap());
        assert_eq!(chain.height(), 1);
    }
}
