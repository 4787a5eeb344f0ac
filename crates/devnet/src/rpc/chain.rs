//! Chain, transaction, mempool, mining and network methods.

use std::collections::{HashMap, HashSet};

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxOut, Txid};
use serde_json::{Map, Value, json};

use super::RpcError;
use super::params::{self, Params};
use crate::chain::{Accepted, Chain};
use crate::error::{Error, Reject, RejectKind};
use crate::json::{self, TxDetail, amount, feerate_btc_kvb};
use crate::params::{INCREMENTAL_RELAY_FEE, MIN_RELAY_FEE};
use crate::state::State;
use crate::validation::Coin;

/// bitcoind's default `maxfeerate` for `sendrawtransaction`/`testmempoolaccept`: 0.10 BTC/kvB.
const DEFAULT_MAX_FEERATE_SAT_KVB: u64 = 10_000_000;
/// IBD ends once the tip is younger than this (bitcoind's `-maxtipage`).
const MAX_TIP_AGE: u32 = 24 * 60 * 60;
/// Fewer paid transactions than this in the window is "insufficient data", as on a fresh
/// bitcoind.
const MIN_FEE_SAMPLES: usize = 10;
const TX_NOT_FOUND: &str =
    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.";

fn block_not_found() -> RpcError {
    RpcError::new(-5, "Block not found")
}

fn min_relay_sat_kvb() -> u64 {
    MIN_RELAY_FEE.to_sat_per_kwu() * 4
}

/// Maps a devnet error onto bitcoind's codes.
pub(super) fn devnet_error(err: Error) -> RpcError {
    match err {
        Error::UnknownBlock(_) => block_not_found(),
        Error::Reject(r) => RpcError::new(r.rpc_code(), r.rpc_message()),
        other => RpcError::new(-1, other.to_string()),
    }
}

// ---- chain ---------------------------------------------------------------------------------

pub(super) fn getblockchaininfo(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    let chain = state.devnet.chain();
    let tip = chain.tip();
    let entry = chain.block(&tip).ok_or_else(block_not_found)?;
    let header = json::header_json(chain, entry);
    let size_on_disk =
        std::fs::metadata(state.devnet.dir().join("blocks.dat")).map_or(0, |m| m.len());
    let ibd = entry.block.header.time < state.devnet.now().saturating_sub(MAX_TIP_AGE);
    Ok(json!({
        "chain": "regtest",
        "blocks": chain.height(),
        "headers": chain.height(),
        "bestblockhash": tip.to_string(),
        "bits": header["bits"],
        "target": header["target"],
        "difficulty": header["difficulty"],
        "time": header["time"],
        "mediantime": header["mediantime"],
        "verificationprogress": 1,
        "initialblockdownload": ibd,
        "chainwork": header["chainwork"],
        "size_on_disk": size_on_disk,
        "pruned": false,
        "warnings": [],
    }))
}

pub(super) fn getblockcount(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(state.devnet.chain().height()))
}

pub(super) fn getbestblockhash(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(state.devnet.chain().tip().to_string()))
}

pub(super) fn getdifficulty(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    let chain = state.devnet.chain();
    let entry = chain.block(&chain.tip()).ok_or_else(block_not_found)?;
    Ok(json!(json::difficulty(
        entry.block.header.bits.to_consensus()
    )))
}

pub(super) fn getblockhash(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let height = p.int(0)?;
    u32::try_from(height)
        .ok()
        .and_then(|h| state.devnet.chain().block_hash_at(h))
        .map(|h| json!(h.to_string()))
        .ok_or_else(|| RpcError::new(-8, "Block height out of range"))
}

fn block_arg(p: &Params, name: &str) -> Result<BlockHash, RpcError> {
    params::block_hash(p.get(0).unwrap_or(&Value::Null), name)
}

pub(super) fn getblockheader(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let hash = block_arg(p, "hash")?;
    let chain = state.devnet.chain();
    let entry = chain.block(&hash).ok_or_else(block_not_found)?;
    if !p.bool_or(1, true) {
        return Ok(json!(serialize_hex(&entry.block.header)));
    }
    Ok(Value::Object(json::header_json(chain, entry)))
}

/// The coins an active block's transactions spent, by outpoint.
fn block_spent(chain: &Chain, hash: &BlockHash) -> Option<HashMap<OutPoint, Coin>> {
    chain
        .spent_coins(hash)
        .map(|coins| coins.iter().cloned().collect())
}

/// The spent coins of `tx` in input order, if all are known.
fn spent_of(tx: &Transaction, coins: &HashMap<OutPoint, Coin>) -> Option<Vec<Coin>> {
    if tx.is_coinbase() {
        return None;
    }
    tx.input
        .iter()
        .map(|i| coins.get(&i.previous_output).cloned())
        .collect()
}

pub(super) fn getblock(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let hash = block_arg(p, "blockhash")?;
    let verbosity = p.verbosity_or(1, 1)?;
    let chain = state.devnet.chain();
    let entry = chain.block(&hash).ok_or_else(block_not_found)?;
    let block = &entry.block;
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(block)));
    }
    let mut out = json::header_json(chain, entry);
    // weight = 3 * stripped size + total size
    let stripped = (block.weight().to_wu() - block.total_size() as u64) / 3;
    out.insert("strippedsize".into(), json!(stripped));
    out.insert("size".into(), json!(block.total_size()));
    out.insert("weight".into(), json!(block.weight().to_wu()));
    let txs: Vec<Value> = if verbosity == 1 {
        block
            .txdata
            .iter()
            .map(|tx| json!(tx.compute_txid().to_string()))
            .collect()
    } else {
        let coins = block_spent(chain, &hash).unwrap_or_default();
        block
            .txdata
            .iter()
            .map(|tx| {
                let spent = spent_of(tx, &coins);
                Value::Object(json::tx_json(
                    tx,
                    TxDetail {
                        spent: spent.as_deref(),
                        prevouts: verbosity >= 3,
                        hex: true,
                    },
                ))
            })
            .collect()
    };
    out.insert("tx".into(), Value::Array(txs));
    Ok(Value::Object(out))
}

pub(super) fn getchaintips(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    let chain = state.devnet.chain();
    let parents: HashSet<BlockHash> = chain
        .blocks()
        .filter(|e| e.height > 0)
        .map(|e| e.block.header.prev_blockhash)
        .collect();
    let invalid = chain.invalid_blocks();
    let mut tips: Vec<(u32, Value)> = Vec::new();
    for entry in chain.blocks() {
        let hash = entry.block.block_hash();
        if parents.contains(&hash) && hash != chain.tip() {
            continue;
        }
        let (mut cursor, mut branch_invalid) = (entry, false);
        while !chain.is_active(&cursor.block.block_hash()) {
            branch_invalid |= invalid.contains(&cursor.block.block_hash());
            match chain.block(&cursor.block.header.prev_blockhash) {
                Some(parent) => cursor = parent,
                None => break,
            }
        }
        let status = if hash == chain.tip() {
            "active"
        } else if branch_invalid {
            "invalid"
        } else {
            "valid-fork"
        };
        tips.push((
            entry.height,
            json!({
                "height": entry.height,
                "hash": hash.to_string(),
                "branchlen": entry.height - cursor.height,
                "status": status,
            }),
        ));
    }
    tips.sort_by_key(|(h, _)| std::cmp::Reverse(*h));
    Ok(Value::Array(tips.into_iter().map(|(_, t)| t).collect()))
}

// ---- transactions ----------------------------------------------------------------------------

pub(super) fn gettxout(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let txid = params::txid(p.get(0).unwrap_or(&Value::Null), "txid")?;
    let Ok(vout) = u32::try_from(p.int(1)?) else {
        return Ok(Value::Null);
    };
    let include_mempool = p.bool_or(2, true);
    let outpoint = OutPoint::new(txid, vout);
    let chain = state.devnet.chain();
    let mempool = chain.mempool();
    if include_mempool && mempool.spender(&outpoint).is_some() {
        return Ok(Value::Null);
    }
    let (output, confirmations, coinbase) = match chain.utxo(&outpoint) {
        Some(coin) => (
            coin.output.clone(),
            chain.height() - coin.height + 1,
            coin.is_coinbase,
        ),
        None => match mempool.output(&outpoint).filter(|_| include_mempool) {
            Some(out) => (out.clone(), 0, false),
            None => return Ok(Value::Null),
        },
    };
    Ok(json!({
        "bestblock": chain.tip().to_string(),
        "confirmations": confirmations,
        "value": amount(output.value),
        "scriptPubKey": json::script_pubkey(&output.script_pubkey),
        "coinbase": coinbase,
    }))
}

/// Finds a transaction: in `block` if given, else the mempool, else the chain's index.
fn find_tx(
    chain: &Chain,
    txid: &Txid,
    block: Option<BlockHash>,
) -> Result<(Transaction, Option<BlockHash>), RpcError> {
    let in_block = |hash: BlockHash| {
        chain.block(&hash).and_then(|e| {
            e.block
                .txdata
                .iter()
                .find(|tx| tx.compute_txid() == *txid)
                .map(|tx| (tx.clone(), Some(hash)))
        })
    };
    if let Some(hash) = block {
        if chain.block(&hash).is_none() {
            return Err(RpcError::new(-5, "Block hash not found"));
        }
        return in_block(hash).ok_or_else(|| {
            RpcError::new(
                -5,
                "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
            )
        });
    }
    if let Some(entry) = chain.mempool().get(txid) {
        return Ok((entry.tx.clone(), None));
    }
    chain
        .tx_block(txid)
        .and_then(in_block)
        .ok_or_else(|| RpcError::new(-5, TX_NOT_FOUND))
}

pub(super) fn getrawtransaction(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let txid = params::txid(p.get(0).unwrap_or(&Value::Null), "parameter 1")?;
    let verbosity = p.verbosity_or(1, 0)?;
    let given_block = p
        .get(2)
        .map(|v| params::block_hash(v, "parameter 3"))
        .transpose()?;
    let chain = state.devnet.chain();
    let (tx, block) = find_tx(chain, &txid, given_block)?;
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(&tx)));
    }
    // Like bitcoind, prevouts and fee come from block undo data: confirmed transactions only.
    let spent = block
        .filter(|_| verbosity >= 2)
        .and_then(|hash| block_spent(chain, &hash))
        .and_then(|c| spent_of(&tx, &c));
    let mut out = Map::new();
    if let Some(hash) = given_block {
        out.insert("in_active_chain".into(), json!(chain.is_active(&hash)));
    }
    out.extend(json::tx_json(
        &tx,
        TxDetail {
            spent: spent.as_deref(),
            prevouts: verbosity >= 2,
            hex: true,
        },
    ));
    if let Some(entry) = block.and_then(|h| chain.block(&h)) {
        out.insert(
            "blockhash".into(),
            json!(entry.block.block_hash().to_string()),
        );
        out.insert(
            "confirmations".into(),
            json!(json::confirmations(chain, entry).max(0)),
        );
        out.insert("time".into(), json!(entry.block.header.time));
        out.insert("blocktime".into(), json!(entry.block.header.time));
    }
    Ok(Value::Object(out))
}

pub(super) fn decoderawtransaction(_: &mut State, p: &Params) -> Result<Value, RpcError> {
    let tx = params::decode_tx(p.str(0).unwrap_or_default())
        .ok_or_else(|| RpcError::new(-22, "TX decode failed"))?;
    Ok(Value::Object(json::tx_json(&tx, TxDetail::default())))
}

pub(super) fn createrawtransaction(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let lock_time = p.int_or(2, 0)?;
    let lock_time = u32::try_from(lock_time)
        .map_err(|_| RpcError::new(-8, "Invalid parameter, locktime out of range"))?;
    let replaceable = p.bool_or(3, true);
    let default_sequence = if replaceable {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    } else if lock_time != 0 {
        Sequence::ENABLE_LOCKTIME_NO_RBF
    } else {
        Sequence::MAX
    };
    let empty = Vec::new();
    let inputs = p.get(0).and_then(Value::as_array).unwrap_or(&empty);
    let input = inputs
        .iter()
        .map(|i| raw_input(i, default_sequence))
        .collect::<Result<Vec<_>, _>>()?;
    let output = raw_outputs(p.get(1).unwrap_or(&Value::Null))?;
    let _ = state;
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::from_consensus(lock_time),
        input,
        output,
    };
    Ok(json!(serialize_hex(&tx)))
}

fn raw_input(value: &Value, default_sequence: Sequence) -> Result<bitcoin::TxIn, RpcError> {
    let obj = value
        .as_object()
        .ok_or_else(|| RpcError::new(-8, "Invalid parameter, expected object"))?;
    let txid = params::txid(obj.get("txid").unwrap_or(&Value::Null), "txid")?;
    let vout = match obj.get("vout") {
        None => return Err(RpcError::new(-8, "Invalid parameter, missing vout key")),
        Some(v) if !v.is_number() => {
            return Err(RpcError::new(
                -8,
                "Invalid parameter, vout must be a number",
            ));
        }
        Some(v) => u32::try_from(v.as_i64().unwrap_or(-1))
            .map_err(|_| RpcError::new(-8, "Invalid parameter, vout cannot be negative"))?,
    };
    let sequence =
        match obj.get("sequence") {
            None => default_sequence,
            Some(v) => Sequence(v.as_i64().and_then(|s| u32::try_from(s).ok()).ok_or_else(
                || RpcError::new(-8, "Invalid parameter, sequence number is out of range"),
            )?),
        };
    Ok(bitcoin::TxIn {
        previous_output: OutPoint::new(txid, vout),
        script_sig: ScriptBuf::new(),
        sequence,
        witness: bitcoin::Witness::new(),
    })
}

/// `createrawtransaction` outputs: `{address: amount, "data": hex}` or an array of such
/// single-key objects.
fn raw_outputs(value: &Value) -> Result<Vec<TxOut>, RpcError> {
    let pairs: Vec<(&String, &Value)> = match value {
        Value::Object(map) => map.iter().collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.iter().next())
                    .ok_or_else(|| {
                        RpcError::new(
                            -8,
                            "Invalid parameter, key-value pair must contain exactly one key",
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(RpcError::new(
                -8,
                "Invalid parameter, output argument must be non-null",
            ));
        }
    };
    let mut seen = HashSet::new();
    let mut outputs = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        if !seen.insert(key.as_str()) {
            let what = if key == "data" {
                "duplicate key: data"
            } else {
                "duplicated address: "
            };
            let detail = if key == "data" {
                String::new()
            } else {
                key.clone()
            };
            return Err(RpcError::new(
                -8,
                format!("Invalid parameter, {what}{detail}"),
            ));
        }
        if key == "data" {
            let data = value
                .as_str()
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(|| {
                    RpcError::new(
                        -8,
                        format!(
                            "Data must be hexadecimal string (not '{}')",
                            value.as_str().unwrap_or_default()
                        ),
                    )
                })?;
            let push = bitcoin::script::PushBytesBuf::try_from(data)
                .map_err(|_| RpcError::new(-8, "Data too long"))?;
            outputs.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(push),
            });
        } else {
            let address = params::address(key)?;
            outputs.push(TxOut {
                value: params::amount(value)?,
                script_pubkey: address.script_pubkey(),
            });
        }
    }
    Ok(outputs)
}

// ---- mempool ---------------------------------------------------------------------------------

fn max_feerate(p: &Params, i: usize) -> Result<u64, RpcError> {
    p.get(i).map_or(Ok(DEFAULT_MAX_FEERATE_SAT_KVB), |v| {
        params::amount(v).map(Amount::to_sat)
    })
}

fn exceeds(accepted: &Accepted, max_sat_kvb: u64) -> bool {
    max_sat_kvb > 0 && accepted.fee.to_sat() > (max_sat_kvb * accepted.vsize).div_ceil(1000)
}

pub(super) fn sendrawtransaction(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let tx = params::decode_tx(p.str(0).unwrap_or_default()).ok_or_else(|| {
        RpcError::new(
            -22,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    let max_fee = max_feerate(p, 1)?;
    let max_burn = p.get(2).map_or(Ok(Amount::ZERO), params::amount)?;
    if tx
        .output
        .iter()
        .any(|o| o.script_pubkey.is_op_return() && o.value > max_burn)
    {
        return Err(RpcError::new(
            -25,
            "Unspendable output exceeds maximum configured by user (maxburnamount)",
        ));
    }
    let txid = tx.compute_txid();
    let reject = |r: Reject| {
        if r.kind == RejectKind::AlreadyInMempool {
            Ok(json!(txid.to_string()))
        } else {
            Err(RpcError::new(r.rpc_code(), r.rpc_message()))
        }
    };
    match state.devnet.test_transaction(&tx) {
        Ok(accepted) if exceeds(&accepted, max_fee) => {
            return Err(RpcError::new(
                -25,
                "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
            ));
        }
        Ok(_) => {}
        Err(r) => return reject(r),
    }
    match state.devnet.send_transaction(&tx) {
        Ok(_) => {
            let (now, height) = (state.devnet.now(), state.devnet.chain().height());
            state.arrivals.insert(txid, (now, height));
            state.forget_confirmed();
            Ok(json!(txid.to_string()))
        }
        Err(r) => reject(r),
    }
}

pub(super) fn testmempoolaccept(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let empty = Vec::new();
    let raw = p.get(0).and_then(Value::as_array).unwrap_or(&empty);
    if raw.is_empty() || raw.len() > 25 {
        return Err(RpcError::new(
            -8,
            "Array must contain between 1 and 25 transactions.",
        ));
    }
    let max_fee = max_feerate(p, 1)?;
    let txs = raw
        .iter()
        .map(|v| {
            let text = v.as_str().unwrap_or_default();
            params::decode_tx(text).ok_or_else(|| {
                RpcError::new(
                    -22,
                    format!("TX decode failed: {text} Make sure the tx has at least one input."),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let results: Vec<(Transaction, Result<Accepted, Reject>)> = if txs.len() == 1 {
        let result = state.devnet.test_transaction(&txs[0]);
        txs.into_iter().map(|tx| (tx, result.clone())).collect()
    } else {
        // A package: test each against a scratch copy holding its predecessors.
        let mut scratch = state.devnet.chain().clone();
        txs.into_iter()
            .map(|tx| {
                let r = scratch.accept_transaction(&tx, false);
                (tx, r)
            })
            .collect()
    };
    let items: Vec<Value> = results
        .into_iter()
        .map(|(tx, result)| test_result(&tx, result, max_fee))
        .collect();
    Ok(Value::Array(items))
}

fn test_result(tx: &Transaction, result: Result<Accepted, Reject>, max_fee: u64) -> Value {
    let (txid, wtxid) = (
        tx.compute_txid().to_string(),
        tx.compute_wtxid().to_string(),
    );
    match result {
        Ok(a) if exceeds(&a, max_fee) => json!({
            "txid": txid, "wtxid": wtxid, "allowed": false, "reject-reason": "max-fee-exceeded",
        }),
        Ok(a) => json!({
            "txid": txid,
            "wtxid": wtxid,
            "allowed": true,
            "vsize": a.vsize,
            "fees": {
                "base": amount(a.fee),
                "effective-feerate": feerate_btc_kvb(a.fee.to_sat() * 1000 / a.vsize.max(1)),
                "effective-includes": [wtxid],
            },
        }),
        Err(r) => json!({
            "txid": txid,
            "wtxid": wtxid,
            "allowed": false,
            "reject-reason": r.test_accept_reason(),
            "reject-details": r.message(),
        }),
    }
}

pub(super) fn getmempoolinfo(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    let mempool = state.devnet.chain().mempool();
    let ids = mempool.txids();
    let entries: Vec<_> = ids.iter().filter_map(|id| mempool.get(id)).collect();
    let bytes: u64 = entries.iter().map(|e| e.vsize).sum();
    let usage: u64 = entries.iter().map(|e| e.tx.total_size() as u64 + 900).sum();
    let total_fee: Amount = entries.iter().map(|e| e.fee).sum();
    Ok(json!({
        "loaded": true,
        "size": entries.len(),
        "bytes": bytes,
        "usage": usage,
        "total_fee": amount(total_fee),
        "maxmempool": 300_000_000,
        "mempoolminfee": feerate_btc_kvb(min_relay_sat_kvb()),
        "minrelaytxfee": feerate_btc_kvb(min_relay_sat_kvb()),
        "incrementalrelayfee": feerate_btc_kvb(INCREMENTAL_RELAY_FEE.to_sat_per_kwu() * 4),
        "unbroadcastcount": entries.len(),
        "fullrbf": true,
    }))
}

fn mempool_entry(state: &State, txid: &Txid) -> Option<Value> {
    let chain = state.devnet.chain();
    let mempool = chain.mempool();
    let entry = mempool.get(txid)?;
    let sum = |ids: &HashSet<Txid>| {
        ids.iter()
            .filter_map(|id| mempool.get(id))
            .fold((0u64, Amount::ZERO), |(s, f), e| (s + e.vsize, f + e.fee))
    };
    let ancestors = mempool.with_ancestors(txid);
    let descendants = mempool.with_descendants(txid);
    let (ancestor_size, ancestor_fee) = sum(&ancestors);
    let (descendant_size, descendant_fee) = sum(&descendants);
    let signals = ancestors
        .iter()
        .filter_map(|id| mempool.get(id))
        .any(|e| e.tx.input.iter().any(|i| i.sequence.is_rbf()));
    let (time, height) = state
        .arrivals
        .get(txid)
        .copied()
        .unwrap_or((state.devnet.now(), chain.height()));
    let ids = |v: Vec<Txid>| v.iter().map(|t| json!(t.to_string())).collect::<Vec<_>>();
    Some(json!({
        "vsize": entry.vsize,
        "weight": entry.weight.to_wu(),
        "time": time,
        "height": height,
        "descendantcount": descendants.len(),
        "descendantsize": descendant_size,
        "ancestorcount": ancestors.len(),
        "ancestorsize": ancestor_size,
        "wtxid": entry.tx.compute_wtxid().to_string(),
        "fees": {
            "base": amount(entry.fee),
            "modified": amount(entry.fee),
            "ancestor": amount(ancestor_fee),
            "descendant": amount(descendant_fee),
        },
        "depends": ids(mempool.parents(txid)),
        "spentby": ids(mempool.children(txid)),
        "bip125-replaceable": signals,
        "unbroadcast": true,
    }))
}

pub(super) fn getrawmempool(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let verbose = p.bool_or(0, false);
    if p.bool_or(1, false) {
        return Err(RpcError::new(
            -8,
            "mempool_sequence is not supported by the devnet",
        ));
    }
    let ids = state.devnet.chain().mempool().txids();
    if !verbose {
        return Ok(json!(
            ids.iter().map(ToString::to_string).collect::<Vec<_>>()
        ));
    }
    let mut out = Map::new();
    for id in ids {
        if let Some(entry) = mempool_entry(state, &id) {
            out.insert(id.to_string(), entry);
        }
    }
    Ok(Value::Object(out))
}

pub(super) fn getmempoolentry(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let txid = params::txid(p.get(0).unwrap_or(&Value::Null), "txid")?;
    mempool_entry(state, &txid).ok_or_else(|| RpcError::new(-5, "Transaction not in mempool"))
}

/// A fee rate estimate (sat/kvB) from the fee rates paid in the last blocks: the median
/// for distant targets, higher percentiles for near ones; `None` without data.
pub(super) fn estimate_fee(chain: &Chain, target: u32) -> Option<u64> {
    let window = (2 * target).clamp(6, 144);
    let mut rates = Vec::new();
    let tip = chain.height();
    for height in tip.saturating_sub(window - 1)..=tip {
        let Some(hash) = chain.block_hash_at(height) else {
            continue;
        };
        let (Some(entry), Some(coins)) = (chain.block(&hash), block_spent(chain, &hash)) else {
            continue;
        };
        for tx in entry.block.txdata.iter().skip(1) {
            if let Some(spent) = spent_of(tx, &coins) {
                let input: u64 = spent.iter().map(|c| c.output.value.to_sat()).sum();
                let output: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
                let vsize = tx.vsize() as u64;
                rates.push(input.saturating_sub(output) * 1000 / vsize.max(1));
            }
        }
    }
    if rates.len() < MIN_FEE_SAMPLES {
        return None;
    }
    rates.sort_unstable();
    let percentile = if target <= 2 {
        85
    } else if target <= 6 {
        60
    } else {
        50
    };
    let rate = rates[(rates.len() - 1) * percentile / 100];
    Some(rate.max(min_relay_sat_kvb()))
}

pub(super) fn estimatesmartfee(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let target = p.int(0)?;
    let target = u32::try_from(target)
        .ok()
        .filter(|t| (1..=1008).contains(t))
        .ok_or_else(|| RpcError::new(-8, "Invalid conf_target, must be between 1 and 1008"))?;
    if let Some(mode) = p.str(1)
        && !["unset", "economical", "conservative"].contains(&mode.to_ascii_lowercase().as_str())
    {
        return Err(RpcError::new(
            -8,
            "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
        ));
    }
    Ok(match estimate_fee(state.devnet.chain(), target) {
        Some(rate) => json!({ "feerate": feerate_btc_kvb(rate), "blocks": target.max(2) }),
        None => json!({ "errors": ["Insufficient data or no feerate found"], "blocks": 0 }),
    })
}

// ---- mining and reorgs -----------------------------------------------------------------------

pub(super) fn generatetoaddress(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let count = p.int(0)?;
    let address = params::mining_address(p.str(1).unwrap_or_default())?;
    let count = u32::try_from(count.max(0)).unwrap_or(0);
    let hashes = state
        .mine(count, &address.script_pubkey())
        .map_err(devnet_error)?;
    Ok(json!(
        hashes.iter().map(ToString::to_string).collect::<Vec<_>>()
    ))
}

/// `generateblock`'s output: an address, or an `addr(...)`/`raw(...)` descriptor.
fn output_script(text: &str) -> Option<ScriptBuf> {
    let body = text.split_once('#').map_or(text, |(b, _)| b);
    if let Some(addr) = body.strip_prefix("addr(").and_then(|r| r.strip_suffix(')')) {
        return crate::wallet::parse_address(addr).map(|a| a.script_pubkey());
    }
    if let Some(raw) = body.strip_prefix("raw(").and_then(|r| r.strip_suffix(')')) {
        return hex::decode(raw).ok().map(ScriptBuf::from_bytes);
    }
    crate::wallet::parse_address(text).map(|a| a.script_pubkey())
}

pub(super) fn generateblock(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let script = output_script(p.str(0).unwrap_or_default())
        .ok_or_else(|| RpcError::new(-5, "Error: Invalid address or descriptor"))?;
    let empty = Vec::new();
    let chain = state.devnet.chain();
    let txs = p
        .get(1)
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .map(|v| {
            let text = v.as_str().unwrap_or_default();
            if text.len() == 64 && let Ok(txid) = params::txid(v, "txid") && params::decode_tx(text).is_none() {
                return chain
                    .mempool()
                    .get(&txid)
                    .map(|e| e.tx.clone())
                    .ok_or_else(|| RpcError::new(-5, format!("Transaction {txid} not in mempool.")));
            }
            params::decode_tx(text).ok_or_else(|| {
                RpcError::new(-22, format!("Transaction decode failed for {text}. Make sure the tx has at least one input."))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tip = chain.tip();
    if !p.bool_or(2, true) {
        let block = chain
            .create_block(tip, &script, Some(txs), state.devnet.now())
            .map_err(devnet_error)?;
        return Ok(json!({ "hash": block.block_hash().to_string(), "hex": serialize_hex(&block) }));
    }
    let hash = state
        .devnet
        .mine_block_on(tip, &script, txs)
        .map_err(|e| match e {
            Error::Reject(r) => {
                RpcError::new(-25, format!("TestBlockValidity failed: {}", r.message()))
            }
            other => devnet_error(other),
        })?;
    state.forget_confirmed();
    Ok(json!({ "hash": hash.to_string() }))
}

pub(super) fn submitblock(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let block: Block = hex::decode(p.str(0).unwrap_or_default())
        .ok()
        .and_then(|b| deserialize(&b).ok())
        .ok_or_else(|| RpcError::new(-22, "Block decode failed"))?;
    if block.txdata.first().is_none_or(|tx| !tx.is_coinbase()) {
        return Err(RpcError::new(-22, "Block does not start with a coinbase"));
    }
    let hash = block.block_hash();
    let result = state.devnet.submit_block(block);
    state.forget_confirmed();
    Ok(match result {
        Ok(true) if state.devnet.chain().is_active(&hash) => Value::Null,
        Ok(true) => json!("inconclusive"),
        Ok(false) => json!("duplicate"),
        Err(Error::Reject(r))
            if state.devnet.chain().invalid_blocks().contains(&hash) && r.reason.is_empty() =>
        {
            json!("duplicate-invalid")
        }
        Err(Error::Reject(r)) => json!(r.reason),
        Err(other) => return Err(devnet_error(other)),
    })
}

pub(super) fn invalidateblock(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let hash = block_arg(p, "blockhash")?;
    state.devnet.invalidate_block(&hash).map_err(devnet_error)?;
    Ok(Value::Null)
}

pub(super) fn reconsiderblock(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let hash = block_arg(p, "blockhash")?;
    state.devnet.reconsider_block(&hash).map_err(devnet_error)?;
    state.forget_confirmed();
    Ok(Value::Null)
}

// ---- node ------------------------------------------------------------------------------------

pub(super) fn getnetworkinfo(_: &mut State, _: &Params) -> Result<Value, RpcError> {
    let network = |name: &str, reachable: bool| json!({ "name": name, "limited": !reachable, "reachable": reachable, "proxy": "", "proxy_randomize_credentials": false });
    Ok(json!({
        "version": 290_200,
        "subversion": concat!("/Satoshi:29.2.0(cairn-devnet ", env!("CARGO_PKG_VERSION"), ")/"),
        "protocolversion": 70016,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [
            network("ipv4", true), network("ipv6", true), network("onion", false),
            network("i2p", false), network("cjdns", false),
        ],
        "relayfee": feerate_btc_kvb(min_relay_sat_kvb()),
        "incrementalfee": feerate_btc_kvb(INCREMENTAL_RELAY_FEE.to_sat_per_kwu() * 4),
        "localaddresses": [],
        "warnings": [],
    }))
}

pub(super) fn uptime(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    Ok(json!(state.started.elapsed().as_secs()))
}

pub(super) fn setmocktime(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let time = p.int(0)?;
    if time < 0 {
        return Err(RpcError::new(
            -8,
            format!("Mocktime cannot be negative: {time}."),
        ));
    }
    let time = u32::try_from(time).map_err(|_| RpcError::new(-8, "Mocktime out of range"))?;
    state.devnet.set_mock_time((time != 0).then_some(time));
    Ok(Value::Null)
}
