//! The built-in wallet's methods.

use std::collections::HashSet;

use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut};
use serde_json::{Value, json};

use super::RpcError;
use super::chain::estimate_fee;
use super::params::{self, Params};
use crate::json::amount;
use crate::params::MIN_RELAY_FEE;
use crate::state::State;
use crate::validation::verify_scripts;
use crate::wallet::{AddressType, WALLET_NAME, WalletError};

/// The fee rate the wallet pays without an estimate (bitcoind's `-fallbackfee=0.0002`).
const FALLBACK_FEE_SAT_KVB: u64 = 20_000;

fn wallet_error(e: WalletError) -> RpcError {
    RpcError::new(e.rpc_code(), e.to_string())
}

/// The address type of `getnewaddress` without one: bitcoind's default, `bech32`. (The
/// wallet's own coinbase and mining addresses are BIP86 taproot.)
fn address_type(p: &Params, i: usize) -> Result<AddressType, RpcError> {
    match p.str(i) {
        None => Ok(AddressType::Bech32),
        Some(name) => AddressType::parse(name)
            .ok_or_else(|| RpcError::new(-5, format!("Unknown address type '{name}'"))),
    }
}

pub(super) fn getnewaddress(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let label = p.str(0).unwrap_or_default();
    if label == "*" {
        return Err(RpcError::new(-11, "Invalid label name"));
    }
    let kind = address_type(p, 1)?;
    let address = state
        .wallet
        .new_address(kind, label)
        .map_err(wallet_error)?;
    Ok(json!(address.to_string()))
}

pub(super) fn getrawchangeaddress(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let kind = address_type(p, 0)?;
    let address = state.wallet.new_address(kind, "").map_err(wallet_error)?;
    Ok(json!(address.to_string()))
}

pub(super) fn getbalance(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    if p.str(0).is_some_and(|d| d != "*") {
        return Err(RpcError::new(
            -32,
            "dummy first argument must be excluded or set to \"*\".",
        ));
    }
    let minconf = u32::try_from(p.int_or(1, 0)?.max(0)).unwrap_or(u32::MAX);
    Ok(amount(state.wallet.balance(state.devnet.chain(), minconf)))
}

pub(super) fn getbalances(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    let chain = state.devnet.chain();
    let coins = state.wallet.coins(chain);
    let sum = |f: &dyn Fn(&crate::wallet::WalletCoin) -> bool| {
        coins
            .iter()
            .filter(|c| f(c))
            .map(|c| c.output.value)
            .sum::<Amount>()
    };
    Ok(json!({
        "mine": {
            "trusted": amount(sum(&|c| c.trusted && c.mature())),
            "untrusted_pending": amount(sum(&|c| !c.trusted)),
            "immature": amount(sum(&|c| !c.mature())),
        },
        "lastprocessedblock": { "hash": chain.tip().to_string(), "height": chain.height() },
    }))
}

/// The fee rate for a wallet send: explicit `fee_rate` (sat/vB), else an estimate for
/// `conf_target`, else the fallback.
fn send_feerate(
    state: &State,
    p: &Params,
    target_at: usize,
    rate_at: usize,
) -> Result<u64, RpcError> {
    if let Some(rate) = p.get(rate_at) {
        if p.get(target_at).is_some() {
            return Err(RpcError::new(
                -8,
                "Cannot specify both conf_target and fee_rate. Please provide either a confirmation target in blocks for automatic fee estimation, or an explicit fee rate.",
            ));
        }
        let sat_kvb = params::sat_per_vb(rate)?;
        let min = MIN_RELAY_FEE.to_sat_per_kwu() * 4;
        if sat_kvb < min {
            return Err(RpcError::new(
                -6,
                format!(
                    "Fee rate ({:.3} sat/vB) is lower than the minimum fee rate setting ({:.3} sat/vB)",
                    sat_kvb as f64 / 1000.0,
                    min as f64 / 1000.0
                ),
            ));
        }
        return Ok(sat_kvb);
    }
    let target = u32::try_from(p.int_or(target_at, 6)?)
        .unwrap_or(6)
        .clamp(1, 1008);
    Ok(estimate_fee(state.devnet.chain(), target).unwrap_or(FALLBACK_FEE_SAT_KVB))
}

pub(super) fn sendtoaddress(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let address = params::address(p.str(0).unwrap_or_default())?;
    let value = params::amount(p.get(1).unwrap_or(&Value::Null))?;
    if value == Amount::ZERO {
        return Err(RpcError::new(-3, "Invalid amount for send"));
    }
    let subtract_fee = p.bool_or(4, false);
    let feerate = send_feerate(state, p, 6, 9)?;
    let lock_time = state.devnet.chain().height();
    let tx = state
        .wallet
        .fund(
            state.devnet.chain(),
            &[(address.script_pubkey(), value)],
            feerate,
            subtract_fee,
            lock_time,
        )
        .map_err(wallet_error)?;
    let txid = tx.compute_txid();
    state
        .devnet
        .send_transaction(&tx)
        .map_err(|r| RpcError::new(-4, format!("Transaction rejected: {}", r.message())))?;
    let (now, height) = (state.devnet.now(), state.devnet.chain().height());
    state.arrivals.insert(txid, (now, height));
    if p.bool_or(10, false) {
        return Ok(json!({ "txid": txid.to_string(), "fee_reason": "Fallback fee" }));
    }
    Ok(json!(txid.to_string()))
}

pub(super) fn listunspent(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let minconf = p.int_or(0, 1)?.max(0);
    let maxconf = p.int_or(1, 9_999_999)?;
    let mut filter: Option<HashSet<ScriptBuf>> = None;
    if let Some(list) = p.get(2).and_then(Value::as_array) {
        let mut set = HashSet::new();
        for item in list {
            let text = item.as_str().unwrap_or_default();
            let script = params::address(text)?.script_pubkey();
            if !set.insert(script) {
                return Err(RpcError::new(
                    -8,
                    format!("Invalid parameter, duplicated address: {text}"),
                ));
            }
        }
        filter = Some(set);
    }
    let include_unsafe = p.bool_or(3, true);
    let options = p.get(4).and_then(Value::as_object);
    let option_amount = |key: &str| {
        options
            .and_then(|o| o.get(key))
            .map(params::amount)
            .transpose()
    };
    let min_amount = option_amount("minimumAmount")?.unwrap_or(Amount::ZERO);
    let max_amount = option_amount("maximumAmount")?.unwrap_or(Amount::MAX_MONEY);
    let max_count = options
        .and_then(|o| o.get("maximumCount"))
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);

    let chain = state.devnet.chain();
    let wallet = &state.wallet;
    let mut coins = wallet.coins(chain);
    coins.sort_by_key(|c| c.outpoint);
    let mut out = Vec::new();
    for coin in coins {
        let confirmations = i64::from(coin.confirmations);
        let script = &coin.output.script_pubkey;
        if confirmations < minconf
            || confirmations > maxconf
            || !coin.mature()
            || (!include_unsafe && !coin.trusted)
            || filter.as_ref().is_some_and(|f| !f.contains(script))
            || coin.output.value < min_amount
            || coin.output.value > max_amount
        {
            continue;
        }
        if out.len() as u64 >= max_count {
            break;
        }
        out.push(unspent_json(
            state,
            &coin.outpoint,
            &coin.output,
            coin.confirmations,
            coin.trusted,
        ));
    }
    Ok(Value::Array(out))
}

fn unspent_json(
    state: &State,
    outpoint: &OutPoint,
    output: &TxOut,
    confirmations: u32,
    safe: bool,
) -> Value {
    let address = crate::json::address_of(&output.script_pubkey)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (desc, parent) = state
        .wallet
        .descriptors(&output.script_pubkey)
        .unwrap_or_default();
    let mut entry = serde_json::Map::new();
    entry.insert("txid".into(), json!(outpoint.txid.to_string()));
    entry.insert("vout".into(), json!(outpoint.vout));
    entry.insert("address".into(), json!(address));
    entry.insert("label".into(), json!(state.wallet.label(&address)));
    if let Some(redeem) = state.wallet.redeem_script(&output.script_pubkey) {
        entry.insert("redeemScript".into(), json!(hex::encode(redeem.as_bytes())));
    }
    entry.insert(
        "scriptPubKey".into(),
        json!(hex::encode(output.script_pubkey.as_bytes())),
    );
    entry.insert("amount".into(), amount(output.value));
    entry.insert("confirmations".into(), json!(confirmations));
    entry.insert("spendable".into(), json!(true));
    entry.insert("solvable".into(), json!(true));
    entry.insert("desc".into(), json!(desc));
    entry.insert("parent_descs".into(), json!([parent]));
    entry.insert("safe".into(), json!(safe));
    Value::Object(entry)
}

pub(super) fn getreceivedbyaddress(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    let script = params::address(p.str(0).unwrap_or_default())?.script_pubkey();
    if !state.wallet.is_mine(&script) {
        return Err(RpcError::new(-4, "Address not found in wallet"));
    }
    let minconf = u32::try_from(p.int_or(1, 1)?.max(0)).unwrap_or(u32::MAX);
    let immature = p.bool_or(2, false);
    Ok(amount(crate::wallet::Wallet::received_by(
        state.devnet.chain(),
        &script,
        minconf,
        immature,
    )))
}

pub(super) fn signrawtransactionwithwallet(
    state: &mut State,
    p: &Params,
) -> Result<Value, RpcError> {
    let mut tx = params::decode_tx(p.str(0).unwrap_or_default()).ok_or_else(|| {
        RpcError::new(
            -22,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    if let Some(kind) = p.str(2)
        && !matches!(kind, "DEFAULT" | "ALL")
    {
        return Err(RpcError::new(
            -8,
            format!("The devnet wallet signs with DEFAULT/ALL only, not {kind}"),
        ));
    }
    let chain = state.devnet.chain();
    let mut given = std::collections::HashMap::new();
    for prev in p.get(1).and_then(Value::as_array).into_iter().flatten() {
        let txid = params::txid(prev.get("txid").unwrap_or(&Value::Null), "txid")?;
        let vout = prev
            .get("vout")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| RpcError::new(-8, "vout cannot be negative"))?;
        let script = prev
            .get("scriptPubKey")
            .and_then(Value::as_str)
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| RpcError::new(-8, "scriptPubKey must be hexadecimal string"))?;
        let value = prev
            .get("amount")
            .map(params::amount)
            .transpose()?
            .unwrap_or(Amount::ZERO);
        given.insert(
            OutPoint::new(txid, vout),
            TxOut {
                value,
                script_pubkey: ScriptBuf::from_bytes(script),
            },
        );
    }
    let spent: Vec<Option<TxOut>> = tx
        .input
        .iter()
        .map(|i| {
            chain
                .utxo(&i.previous_output)
                .map(|c| c.output.clone())
                .or_else(|| chain.mempool().output(&i.previous_output).cloned())
                .or_else(|| given.get(&i.previous_output).cloned())
        })
        .collect();
    let unsigned = state.wallet.sign(&mut tx, &spent);
    let all: Option<Vec<TxOut>> = spent.iter().cloned().collect();
    let complete = all
        .as_deref()
        .is_some_and(|s| verify_scripts(&tx, s).is_ok());
    let mut out = serde_json::Map::new();
    out.insert(
        "hex".into(),
        json!(bitcoin::consensus::encode::serialize_hex(&tx)),
    );
    out.insert("complete".into(), json!(complete));
    if !complete {
        let errors: Vec<Value> = tx
            .input
            .iter()
            .enumerate()
            .filter(|(i, _)| unsigned.contains(i) || spent[*i].is_none())
            .map(|(i, input)| {
                let error = if spent[i].is_none() {
                    "Input not found or already spent"
                } else {
                    "Unable to sign input, invalid stack size (possibly missing key)"
                };
                json!({
                    "txid": input.previous_output.txid.to_string(),
                    "vout": input.previous_output.vout,
                    "witness": input.witness.iter().map(hex::encode).collect::<Vec<_>>(),
                    "scriptSig": hex::encode(input.script_sig.as_bytes()),
                    "sequence": input.sequence.0,
                    "error": error,
                })
            })
            .collect();
        out.insert("errors".into(), Value::Array(errors));
    }
    Ok(Value::Object(out))
}

pub(super) fn listwallets(_: &mut State, _: &Params) -> Result<Value, RpcError> {
    Ok(json!([WALLET_NAME]))
}

pub(super) fn getwalletinfo(state: &mut State, _: &Params) -> Result<Value, RpcError> {
    let chain = state.devnet.chain();
    Ok(json!({
        "walletname": WALLET_NAME,
        "walletversion": 169_900,
        "format": "json",
        "balance": amount(state.wallet.balance(chain, 0)),
        "keypoolsize": 0,
        "paytxfee": 0.0,
        "private_keys_enabled": true,
        "avoid_reuse": false,
        "scanning": false,
        "descriptors": true,
        "external_signer": false,
        "blank": false,
        "lastprocessedblock": { "hash": chain.tip().to_string(), "height": chain.height() },
    }))
}

pub(super) fn listdescriptors(state: &mut State, p: &Params) -> Result<Value, RpcError> {
    if p.bool_or(0, false) {
        return Err(RpcError::new(
            -4,
            "The devnet wallet does not export private descriptors",
        ));
    }
    let descriptors: Vec<Value> = state
        .wallet
        .range_descriptors()
        .into_iter()
        .map(|(desc, internal)| json!({ "desc": desc, "timestamp": 0, "active": true, "internal": internal }))
        .collect();
    Ok(json!({ "wallet_name": WALLET_NAME, "descriptors": descriptors }))
}
