//! Bitcoin Core's JSON renderings of amounts, scripts, transactions and block headers
//! (`ValueFromAmount`, `ScriptToUniv`, `TxToUniv`, `blockheaderToJSON`), field for field and
//! in Core's key order, so that clients written against `bitcoind` read the devnet's answers
//! unchanged.

use bitcoin::hashes::Hash as _;
use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_RETURN};
use bitcoin::script::Instruction;
use bitcoin::{Address, Amount, Network, Script, Transaction};
use serde_json::{Map, Value, json};

use crate::chain::{BlockEntry, Chain};
use crate::validation::Coin;

/// An amount as bitcoind prints it: a JSON number of BTC.
pub fn amount(value: Amount) -> Value {
    json!(value.to_btc())
}

/// A fee rate in sat/kvB as a JSON number of BTC/kvB.
pub fn feerate_btc_kvb(sat_per_kvb: u64) -> Value {
    json!(Amount::from_sat(sat_per_kvb).to_btc())
}

/// bitcoind's `GetDifficulty`: how much harder `bits` is than the lowest mainnet difficulty.
pub fn difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = f64::from(0x0000_ffff_u32) / f64::from((bits & 0x00ff_ffff).max(1));
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

// ---- scripts -----------------------------------------------------------------------------

/// bitcoind's `ScriptToAsmStr`: small pushes as numbers, larger ones as hex (signatures with
/// their sighash type decoded when `decode_sighash`), opcodes by Core's names.
pub fn script_asm(script: &Script, decode_sighash: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    let unspendable = script.as_bytes().first() == Some(&OP_RETURN.to_u8());
    for instruction in script.instructions() {
        match instruction {
            Err(_) => {
                parts.push("[error]".to_owned());
                break;
            }
            Ok(Instruction::PushBytes(bytes)) => {
                let bytes = bytes.as_bytes();
                if bytes.len() <= 4 {
                    parts.push(script_num(bytes).to_string());
                } else if decode_sighash && !unspendable {
                    parts.push(push_with_sighash(bytes));
                } else {
                    parts.push(hex::encode(bytes));
                }
            }
            Ok(Instruction::Op(op)) => parts.push(opcode_name(op.to_u8())),
        }
    }
    parts.join(" ")
}

/// A minimally-sized script number as `CScriptNum` reads up to 4 bytes.
fn script_num(bytes: &[u8]) -> i64 {
    let Some(&last) = bytes.last() else {
        return 0;
    };
    let mut value: i64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        value |= i64::from(*b) << (8 * i);
    }
    if last & 0x80 != 0 {
        let sign_bit = 0x80_i64 << (8 * (bytes.len() - 1));
        -(value & !sign_bit)
    } else {
        value
    }
}

/// A push printed as hex, with a trailing `[ALL]`-style suffix when it is a strictly
/// DER-encoded signature with a defined sighash type.
fn push_with_sighash(bytes: &[u8]) -> String {
    let Some((&hash_type, der)) = bytes.split_last() else {
        return String::new();
    };
    let name = match hash_type {
        0x01 => "ALL",
        0x02 => "NONE",
        0x03 => "SINGLE",
        0x81 => "ALL|ANYONECANPAY",
        0x82 => "NONE|ANYONECANPAY",
        0x83 => "SINGLE|ANYONECANPAY",
        _ => return hex::encode(bytes),
    };
    if is_strict_der(bytes) {
        format!("{}[{name}]", hex::encode(der))
    } else {
        hex::encode(bytes)
    }
}

/// BIP66's strict DER rule for `<DER signature><sighash byte>`.
fn is_strict_der(sig: &[u8]) -> bool {
    let len = sig.len();
    if !(9..=73).contains(&len) || sig[0] != 0x30 || usize::from(sig[1]) != len - 3 {
        return false;
    }
    let len_r = usize::from(sig[3]);
    if 5 + len_r >= len {
        return false;
    }
    let len_s = usize::from(sig[5 + len_r]);
    if len_r + len_s + 7 != len || sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0 && sig[5] & 0x80 == 0 {
        return false;
    }
    let s = 6 + len_r;
    if sig[s - 2] != 0x02 || len_s == 0 || sig[s] & 0x80 != 0 {
        return false;
    }
    !(len_s > 1 && sig[s] == 0 && sig[s + 1] & 0x80 == 0)
}

/// bitcoind's `GetOpName` for a non-push opcode.
fn opcode_name(op: u8) -> String {
    match op {
        0x4f => "-1".to_owned(),
        0x51..=0x60 => (op - 0x50).to_string(),
        0xb0 => "OP_NOP1".to_owned(),
        0xb1 => "OP_CHECKLOCKTIMEVERIFY".to_owned(),
        0xb2 => "OP_CHECKSEQUENCEVERIFY".to_owned(),
        0xb3..=0xb9 => format!("OP_NOP{}", op - 0xb3 + 4),
        0xba => "OP_CHECKSIGADD".to_owned(),
        0xff => "OP_INVALIDOPCODE".to_owned(),
        0xbb..=0xfe => "OP_UNKNOWN".to_owned(),
        _ => bitcoin::opcodes::Opcode::from(op).to_string(),
    }
}

/// bitcoind's output type names (`GetTxnOutputType`).
pub fn script_type(script: &Script) -> &'static str {
    if script.is_p2pkh() {
        "pubkeyhash"
    } else if script.is_p2sh() {
        "scripthash"
    } else if script.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if script.is_p2wsh() {
        "witness_v0_scripthash"
    } else if script.is_p2tr() {
        "witness_v1_taproot"
    } else if is_anchor(script) {
        "anchor"
    } else if script.is_witness_program() {
        "witness_unknown"
    } else if is_null_data(script) {
        "nulldata"
    } else if script.is_p2pk() {
        "pubkey"
    } else if multisig_keys(script).is_some() {
        "multisig"
    } else {
        "nonstandard"
    }
}

/// Pay-to-anchor: `OP_1 <0x4e73>`.
fn is_anchor(script: &Script) -> bool {
    script.as_bytes() == [0x51, 0x02, 0x4e, 0x73]
}

/// `OP_RETURN` followed by pushes only.
fn is_null_data(script: &Script) -> bool {
    let bytes = script.as_bytes();
    bytes.first() == Some(&OP_RETURN.to_u8())
        && Script::from_bytes(&bytes[1..]).instructions().all(|i| {
            matches!(i, Ok(Instruction::PushBytes(_)))
                || matches!(i, Ok(Instruction::Op(op)) if op.to_u8() <= 0x60)
        })
}

/// The threshold and keys of a bare `m <keys> n OP_CHECKMULTISIG` script.
fn multisig_keys(script: &Script) -> Option<(u8, Vec<Vec<u8>>)> {
    let ops: Vec<Instruction> = script.instructions().collect::<Result<_, _>>().ok()?;
    let (first, rest) = ops.split_first()?;
    let (last, middle) = rest.split_last()?;
    let (count, keys) = middle.split_last()?;
    let small = |i: &Instruction| match i {
        Instruction::Op(op) if (0x51..=0x60).contains(&op.to_u8()) => Some(op.to_u8() - 0x50),
        _ => None,
    };
    let (m, n) = (small(first)?, small(count)?);
    if !matches!(last, Instruction::Op(op) if *op == OP_CHECKMULTISIG)
        || usize::from(n) != keys.len()
        || m > n
    {
        return None;
    }
    let keys = keys
        .iter()
        .map(|k| match k {
            Instruction::PushBytes(b) if matches!(b.len(), 33 | 65) => Some(b.as_bytes().to_vec()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((m, keys))
}

/// The address of an output script on regtest, if it has one.
pub fn address_of(script: &Script) -> Option<Address> {
    if is_null_data(script) {
        return None;
    }
    Address::from_script(script, Network::Regtest).ok()
}

/// bitcoind's `InferDescriptor` for a script with no wallet knowledge, with its checksum.
pub fn infer_descriptor(script: &Script) -> String {
    let body = if script.is_p2tr() {
        format!("rawtr({})", hex::encode(&script.as_bytes()[2..]))
    } else if script.is_p2pk() {
        let key = script
            .p2pk_public_key()
            .map(|k| k.to_string())
            .unwrap_or_default();
        format!("pk({key})")
    } else if let Some((m, keys)) = multisig_keys(script) {
        let keys: Vec<String> = keys.iter().map(hex::encode).collect();
        format!("multi({m},{})", keys.join(","))
    } else if let Some(address) = address_of(script) {
        format!("addr({address})")
    } else {
        format!("raw({})", hex::encode(script.as_bytes()))
    };
    with_checksum(&body)
}

const DESC_INPUT_CHARSET: &str = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
const DESC_CHECKSUM_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// One step of BIP380's descriptor checksum polynomial.
fn desc_polymod(c: u64, value: u64) -> u64 {
    const GEN: [u64; 5] = [
        0xf5_dee5_1989,
        0xa9_fdca_3312,
        0x1b_ab10_e32d,
        0x37_06b1_677a,
        0x64_4d62_6ffd,
    ];
    let top = c >> 35;
    let mut c = ((c & 0x7_ffff_ffff) << 5) ^ value;
    for (bit, g) in GEN.iter().enumerate() {
        if (top >> bit) & 1 == 1 {
            c ^= g;
        }
    }
    c
}

/// `desc#checksum` (BIP380). Characters outside the descriptor charset leave it unsuffixed.
pub fn with_checksum(desc: &str) -> String {
    let mut c = 1_u64;
    let (mut class, mut class_count) = (0_u64, 0);
    for ch in desc.chars() {
        let Some(pos) = DESC_INPUT_CHARSET.find(ch) else {
            return desc.to_owned();
        };
        let pos = pos as u64;
        c = desc_polymod(c, pos & 31);
        class = class * 3 + (pos >> 5);
        class_count += 1;
        if class_count == 3 {
            c = desc_polymod(c, class);
            (class, class_count) = (0, 0);
        }
    }
    if class_count > 0 {
        c = desc_polymod(c, class);
    }
    for _ in 0..8 {
        c = desc_polymod(c, 0);
    }
    c ^= 1;
    let checksum: String = (0..8)
        .map(|j| char::from(DESC_CHECKSUM_CHARSET[((c >> (5 * (7 - j))) & 31) as usize]))
        .collect();
    format!("{desc}#{checksum}")
}

/// bitcoind's `ScriptToUniv` for an output script: asm, desc, hex, address, type.
pub fn script_pubkey(script: &Script) -> Value {
    let mut out = Map::new();
    out.insert("asm".into(), json!(script_asm(script, false)));
    out.insert("desc".into(), json!(infer_descriptor(script)));
    out.insert("hex".into(), json!(hex::encode(script.as_bytes())));
    if let Some(address) = address_of(script) {
        out.insert("address".into(), json!(address.to_string()));
    }
    out.insert("type".into(), json!(script_type(script)));
    Value::Object(out)
}

// ---- transactions ------------------------------------------------------------------------

/// How much of a transaction `tx_json` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxDetail<'a> {
    /// The coins it spends, in input order (undo data or the UTXO set); enables `fee`.
    pub spent: Option<&'a [Coin]>,
    /// Show each input's `prevout` (needs `spent`).
    pub prevouts: bool,
    /// Append the raw `hex`.
    pub hex: bool,
}

/// bitcoind's `TxToUniv`.
pub fn tx_json(tx: &Transaction, detail: TxDetail<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("txid".into(), json!(tx.compute_txid().to_string()));
    out.insert("hash".into(), json!(tx.compute_wtxid().to_string()));
    out.insert("version".into(), json!(tx.version.0));
    out.insert("size".into(), json!(tx.total_size()));
    out.insert("vsize".into(), json!(tx.vsize()));
    out.insert("weight".into(), json!(tx.weight().to_wu()));
    out.insert("locktime".into(), json!(tx.lock_time.to_consensus_u32()));
    let spent = detail.spent.filter(|s| s.len() == tx.input.len());
    let vin: Vec<Value> = tx
        .input
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let prevout = spent.filter(|_| detail.prevouts).map(|s| &s[i]);
            input_json(tx, input, prevout)
        })
        .collect();
    out.insert("vin".into(), Value::Array(vin));
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, o)| json!({ "value": amount(o.value), "n": n, "scriptPubKey": script_pubkey(&o.script_pubkey) }))
        .collect();
    out.insert("vout".into(), Value::Array(vout));
    if let Some(spent) = spent.filter(|_| !tx.is_coinbase()) {
        let inputs: u64 = spent.iter().map(|c| c.output.value.to_sat()).sum();
        let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        out.insert(
            "fee".into(),
            amount(Amount::from_sat(inputs.saturating_sub(outputs))),
        );
    }
    if detail.hex {
        out.insert(
            "hex".into(),
            json!(bitcoin::consensus::encode::serialize_hex(tx)),
        );
    }
    out
}

fn input_json(tx: &Transaction, input: &bitcoin::TxIn, prevout: Option<&Coin>) -> Value {
    let mut out = Map::new();
    if tx.is_coinbase() {
        out.insert(
            "coinbase".into(),
            json!(hex::encode(input.script_sig.as_bytes())),
        );
    } else {
        out.insert("txid".into(), json!(input.previous_output.txid.to_string()));
        out.insert("vout".into(), json!(input.previous_output.vout));
        out.insert(
            "scriptSig".into(),
            json!({ "asm": script_asm(&input.script_sig, true), "hex": hex::encode(input.script_sig.as_bytes()) }),
        );
    }
    if !input.witness.is_empty() {
        let items: Vec<String> = input.witness.iter().map(hex::encode).collect();
        out.insert("txinwitness".into(), json!(items));
    }
    if let Some(coin) = prevout {
        out.insert(
            "prevout".into(),
            json!({
                "generated": coin.is_coinbase,
                "height": coin.height,
                "value": amount(coin.output.value),
                "scriptPubKey": script_pubkey(&coin.output.script_pubkey),
            }),
        );
    }
    out.insert("sequence".into(), json!(input.sequence.0));
    Value::Object(out)
}

// ---- blocks ------------------------------------------------------------------------------

/// Confirmations of a block: depth in the active chain, or -1 off it.
pub fn confirmations(chain: &Chain, entry: &BlockEntry) -> i64 {
    let hash = entry.block.block_hash();
    if chain.is_active(&hash) {
        i64::from(chain.height()) - i64::from(entry.height) + 1
    } else {
        -1
    }
}

/// bitcoind's `blockheaderToJSON` (shared by `getblockheader` and `getblock`).
pub fn header_json(chain: &Chain, entry: &BlockEntry) -> Map<String, Value> {
    let header = &entry.block.header;
    let hash = header.block_hash();
    let bits = header.bits.to_consensus();
    let mut out = Map::new();
    out.insert("hash".into(), json!(hash.to_string()));
    out.insert("confirmations".into(), json!(confirmations(chain, entry)));
    out.insert("height".into(), json!(entry.height));
    out.insert("version".into(), json!(header.version.to_consensus()));
    out.insert(
        "versionHex".into(),
        json!(format!("{:08x}", header.version.to_consensus())),
    );
    out.insert("merkleroot".into(), json!(header.merkle_root.to_string()));
    out.insert("time".into(), json!(header.time));
    out.insert("mediantime".into(), json!(chain.median_time_past(&hash)));
    out.insert("nonce".into(), json!(header.nonce));
    out.insert("bits".into(), json!(format!("{bits:08x}")));
    out.insert(
        "target".into(),
        json!(hex::encode(header.target().to_be_bytes())),
    );
    out.insert("difficulty".into(), json!(difficulty(bits)));
    out.insert(
        "chainwork".into(),
        json!(hex::encode(entry.chainwork.to_be_bytes())),
    );
    out.insert("nTx".into(), json!(entry.block.txdata.len()));
    if entry.height > 0 {
        out.insert(
            "previousblockhash".into(),
            json!(header.prev_blockhash.to_string()),
        );
    }
    if chain.is_active(&hash)
        && let Some(next) = chain.block_hash_at(entry.height + 1)
    {
        out.insert("nextblockhash".into(), json!(next.to_string()));
    }
    out
}

/// The all-zero hash bitcoind prints where there is none.
pub fn zero_hash() -> String {
    bitcoin::BlockHash::all_zeros().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::ScriptBuf;

    fn script(hex_str: &str) -> ScriptBuf {
        ScriptBuf::from_bytes(hex::decode(hex_str).unwrap())
    }

    #[test]
    fn descriptors_and_checksums_match_core() {
        // Values recorded from Bitcoin Core 29.2.
        assert_eq!(
            infer_descriptor(&script("00149f2745346cab2ef9d1d7b183045ea4cbd9f1c1d4")),
            "addr(bcrt1qnun52drv4vh0n5whkxpsgh4ye0vlrsw5n23wxz)#seqwtg3r"
        );
        assert_eq!(
            infer_descriptor(&script(
                "512002ea201f62309e8dd2129aadc354ea95714d5f2cb71deb382372bd9cbfac8023"
            )),
            "rawtr(02ea201f62309e8dd2129aadc354ea95714d5f2cb71deb382372bd9cbfac8023)#75dwnvzx"
        );
        assert_eq!(
            infer_descriptor(&script(
                "6a24aa21a9edd861fbfc53473eee110e11814125183b723a87d24403787c0a1f39d2deddf457"
            )),
            "raw(6a24aa21a9edd861fbfc53473eee110e11814125183b723a87d24403787c0a1f39d2deddf457)#6vgx8vsm"
        );
    }

    #[test]
    fn asm_and_types_match_core() {
        let wpkh = script("00149f2745346cab2ef9d1d7b183045ea4cbd9f1c1d4");
        assert_eq!(
            script_asm(&wpkh, false),
            "0 9f2745346cab2ef9d1d7b183045ea4cbd9f1c1d4"
        );
        assert_eq!(script_type(&wpkh), "witness_v0_keyhash");
        let op_return =
            script("6a24aa21a9edd861fbfc53473eee110e11814125183b723a87d24403787c0a1f39d2deddf457");
        assert_eq!(
            script_asm(&op_return, false),
            "OP_RETURN aa21a9edd861fbfc53473eee110e11814125183b723a87d24403787c0a1f39d2deddf457"
        );
        assert_eq!(script_type(&op_return), "nulldata");
        // A small push prints as a number, a negative one with its sign.
        assert_eq!(
            script_asm(&script("01814fb175"), false),
            "-1 -1 OP_CHECKLOCKTIMEVERIFY OP_DROP"
        );
        assert_eq!(script_type(&script("51024e73")), "anchor");
        assert_eq!(script_asm(&script("4c"), false), "[error]");
    }

    #[test]
    fn regtest_difficulty_matches_core() {
        assert!((difficulty(0x207f_ffff) - 4.656_542_373_906_925e-10).abs() < 1e-24);
        assert!((difficulty(0x1d00_ffff) - 1.0).abs() < 1e-12);
    }
}
