//! A scripted chain of rust-bitcoin blocks (no proof of work), served by the fake bitcoind
//! as `getbestblockhash`/`getblockhash`/`getblockheader`/`getblock`, and readable directly
//! as a [`ChainReader`].

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash as _;
use bitcoin::script::Builder;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Witness, absolute, transaction,
};
use cairn_l1::{ChainReader, Error, Result};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::fake::{Call, Reply};

/// Every block ever made, and which of them form the best chain.
#[derive(Debug)]
pub struct FakeChain {
    blocks: HashMap<BlockHash, (u32, Block)>,
    /// The best chain, genesis first.
    active: Vec<BlockHash>,
}

impl FakeChain {
    /// Only the regtest genesis block.
    pub fn new() -> Arc<Mutex<Self>> {
        let genesis = bitcoin::constants::genesis_block(Network::Regtest);
        let hash = genesis.block_hash();
        Arc::new(Mutex::new(Self {
            blocks: HashMap::from([(hash, (0, genesis))]),
            active: vec![hash],
        }))
    }

    /// The best chain's block at `height`.
    pub fn hash_at(&self, height: u32) -> BlockHash {
        self.active[height as usize]
    }

    pub fn block(&self, hash: &BlockHash) -> Block {
        self.blocks[hash].1.clone()
    }

    pub fn tip_height(&self) -> u32 {
        u32::try_from(self.active.len() - 1).expect("small chain")
    }

    /// Mines `n` blocks on the best chain; `branch` makes them differ from other branches.
    pub fn mine(&mut self, n: u32, branch: u8) -> Vec<BlockHash> {
        let tip = *self.active.last().expect("genesis");
        let hashes = self.fork(tip, n, branch);
        self.active.extend(&hashes);
        hashes
    }

    /// Makes `n` blocks on top of `parent` without changing the best chain.
    pub fn fork(&mut self, parent: BlockHash, n: u32, branch: u8) -> Vec<BlockHash> {
        let (mut height, _) = self.blocks[&parent];
        let mut prev = parent;
        let mut hashes = Vec::new();
        for _ in 0..n {
            height += 1;
            let block = make_block(prev, height, branch);
            prev = block.block_hash();
            self.blocks.insert(prev, (height, block));
            hashes.push(prev);
        }
        hashes
    }

    /// Makes the chain ending in `tip` the best chain (a reorganisation).
    pub fn activate(&mut self, tip: BlockHash) {
        let mut chain = vec![tip];
        let mut hash = tip;
        while let Some((height, block)) = self.blocks.get(&hash)
            && *height > 0
        {
            hash = block.header.prev_blockhash;
            chain.push(hash);
        }
        chain.reverse();
        self.active = chain;
    }

    fn entry(&self, hash: &BlockHash) -> Result<&(u32, Block)> {
        self.blocks.get(hash).ok_or_else(|| Error::Rpc {
            code: -5,
            message: "Block not found".into(),
        })
    }

    /// Answers a call as bitcoind would.
    pub fn answer(&self, call: &Call) -> Reply {
        let hash_param = || {
            call.params[0]
                .as_str()
                .unwrap_or_default()
                .parse::<BlockHash>()
        };
        let result = match call.method.as_str() {
            "getbestblockhash" => Ok(json!(self.active.last().expect("genesis").to_string())),
            "getblockhash" => {
                let height = call.params[0].as_u64().unwrap_or(u64::MAX);
                match self
                    .active
                    .get(usize::try_from(height).unwrap_or(usize::MAX))
                {
                    Some(hash) => Ok(json!(hash.to_string())),
                    None => return Reply::Error(-8, "Block height out of range".into()),
                }
            }
            "getblockheader" => hash_param()
                .map_err(|e| Error::Inconsistent(e.to_string()))
                .and_then(|hash| self.header_json(&hash, call.params[1] != json!(false))),
            "getblock" => hash_param()
                .map_err(|e| Error::Inconsistent(e.to_string()))
                .and_then(|hash| self.entry(&hash))
                .map(|(_, block)| json!(serialize_hex(block))),
            _ => return Reply::Error(-32601, "Method not found".into()),
        };
        match result {
            Ok(value) => Reply::Result(value),
            Err(Error::Rpc { code, message }) => Reply::Error(code, message),
            Err(e) => Reply::Error(-8, e.to_string()),
        }
    }

    /// `getblockheader` in Core's verbose shape, or raw hex.
    fn header_json(&self, hash: &BlockHash, verbose: bool) -> Result<Value> {
        let (height, block) = self.entry(hash)?;
        if !verbose {
            return Ok(json!(serialize_hex(&block.header)));
        }
        let on_active = self.active.get(*height as usize) == Some(hash);
        let confirmations = if on_active {
            i64::from(self.tip_height()) - i64::from(*height) + 1
        } else {
            -1
        };
        let mut info = json!({
            "hash": hash.to_string(),
            "confirmations": confirmations,
            "height": height,
            "version": block.header.version.to_consensus(),
            "versionHex": format!("{:08x}", block.header.version.to_consensus()),
            "merkleroot": block.header.merkle_root.to_string(),
            "time": block.header.time,
            "mediantime": block.header.time,
            "nonce": block.header.nonce,
            "bits": format!("{:08x}", block.header.bits.to_consensus()),
            "difficulty": 4.656542373906925e-10,
            "chainwork": format!("{:064x}", height + 1),
            "nTx": block.txdata.len(),
        });
        if *height > 0 {
            info["previousblockhash"] = json!(block.header.prev_blockhash.to_string());
        }
        if on_active && let Some(next) = self.active.get(*height as usize + 1) {
            info["nextblockhash"] = json!(next.to_string());
        }
        Ok(info)
    }
}

/// A block at `height` on `prev` whose coinbase carries `height` and `branch`, so that
/// blocks of different branches at the same height differ.
fn make_block(prev: BlockHash, height: u32, branch: u8) -> Block {
    let coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(height))
                .push_int(i64::from(branch))
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_int_btc(50),
            script_pubkey: ScriptBuf::new_op_return([branch]),
        }],
    };
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000 + height,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: vec![coinbase],
    };
    block.header.merkle_root = block.compute_merkle_root().expect("one transaction");
    block
}

/// The chain read directly, without HTTP: the second [`ChainReader`].
#[derive(Debug, Clone)]
pub struct InMemory(pub Arc<Mutex<FakeChain>>);

impl ChainReader for InMemory {
    async fn best_block_hash(&self) -> Result<BlockHash> {
        Ok(*self.0.lock().active.last().expect("genesis"))
    }

    async fn block_height(&self, hash: &BlockHash) -> Result<u32> {
        Ok(self.0.lock().entry(hash)?.0)
    }

    async fn block_hash(&self, height: u32) -> Result<BlockHash> {
        let chain = self.0.lock();
        chain
            .active
            .get(height as usize)
            .copied()
            .ok_or_else(|| Error::Rpc {
                code: -8,
                message: "Block height out of range".into(),
            })
    }

    async fn block_header(&self, hash: &BlockHash) -> Result<Header> {
        Ok(self.0.lock().entry(hash)?.1.header)
    }

    async fn block(&self, hash: &BlockHash) -> Result<Block> {
        Ok(self.0.lock().entry(hash)?.1.clone())
    }
}
