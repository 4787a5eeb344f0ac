//! Method arguments as bitcoind checks them: declared names and types (so named parameters
//! work and type errors read `Wrong type passed: {"Position 1 (height)": ...}`), help text
//! on a wrong argument count, and Core's parsers for hashes, hex, amounts and addresses.

use std::str::FromStr as _;

use bitcoin::consensus::encode::deserialize;
use bitcoin::{Address, Amount, BlockHash, Denomination, Transaction, Txid};
use serde_json::{Map, Value};

use super::RpcError;
use crate::wallet::parse_address;

/// The JSON type an argument takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON number.
    Num,
    /// A JSON string.
    Str,
    /// A JSON bool.
    Bool,
    /// A JSON array.
    Arr,
    /// A JSON object.
    Obj,
    /// An amount: a number or a numeric string.
    Amount,
    /// A verbosity: a number or a bool.
    NumOrBool,
    /// A JSON object or array (`createrawtransaction` outputs).
    ObjOrArr,
    /// Anything.
    Any,
}

impl Kind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            Self::Num => value.is_number(),
            Self::Str => value.is_string(),
            Self::Bool => value.is_boolean(),
            Self::Arr => value.is_array(),
            Self::Obj => value.is_object(),
            Self::Amount => value.is_number() || value.is_string(),
            Self::NumOrBool => value.is_number() || value.is_boolean(),
            Self::ObjOrArr => value.is_object() || value.is_array(),
            Self::Any => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Num => "number",
            Self::Str => "string",
            Self::Bool => "bool",
            Self::Arr => "array",
            Self::Obj => "object",
            Self::Amount => "number or string",
            Self::NumOrBool => "number or bool",
            Self::ObjOrArr => "object or array",
            Self::Any => "any",
        }
    }
}

/// UniValue's type names, as bitcoind prints them in type errors.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One declared argument.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// Its name (for named parameters and error messages).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it must be given.
    pub required: bool,
}

/// A required argument.
pub const fn req(name: &'static str, kind: Kind) -> Arg {
    Arg {
        name,
        kind,
        required: true,
    }
}

/// An optional argument.
pub const fn opt(name: &'static str, kind: Kind) -> Arg {
    Arg {
        name,
        kind,
        required: false,
    }
}

/// The checked positional arguments of one call (`null` counts as omitted).
#[derive(Debug)]
pub struct Params {
    values: Vec<Value>,
}

impl Params {
    /// Checks `params` (array or named object) against `args`; a wrong count answers with
    /// `help` (code -1) and wrong types with code -3, as bitcoind does.
    pub fn check(params: Value, args: &[Arg], help: &str) -> Result<Self, RpcError> {
        let values = match params {
            Value::Null => Vec::new(),
            Value::Array(values) => values,
            Value::Object(named) => from_named(named, args)?,
            _ => {
                return Err(RpcError::invalid_request(
                    "Params must be an array or object",
                ));
            }
        };
        let required = args.iter().filter(|a| a.required).count();
        if values.len() > args.len() || values.len() < required {
            return Err(RpcError::new(-1, help));
        }
        let mut wrong = Map::new();
        for (i, (value, arg)) in values.iter().zip(args).enumerate() {
            if !value.is_null() && !arg.kind.accepts(value) {
                wrong.insert(
                    format!("Position {} ({})", i + 1, arg.name),
                    Value::String(format!(
                        "JSON value of type {} is not of expected type {}",
                        json_type(value),
                        arg.kind.name()
                    )),
                );
            } else if value.is_null() && arg.required {
                return Err(RpcError::new(-1, help));
            }
        }
        if !wrong.is_empty() {
            let text = pretty(&Value::Object(wrong));
            return Err(RpcError::new(-3, format!("Wrong type passed:\n{text}")));
        }
        Ok(Self { values })
    }

    /// Argument `i`, or `None` when omitted or null.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    /// A string argument (type already checked).
    pub fn str(&self, i: usize) -> Option<&str> {
        self.get(i).and_then(Value::as_str)
    }

    /// A bool argument with a default.
    pub fn bool_or(&self, i: usize, default: bool) -> bool {
        self.get(i).and_then(Value::as_bool).unwrap_or(default)
    }

    /// An integer argument with a default; fractional numbers are refused like UniValue's
    /// `getInt` does.
    pub fn int_or(&self, i: usize, default: i64) -> Result<i64, RpcError> {
        match self.get(i) {
            None => Ok(default),
            Some(v) => int(v),
        }
    }

    /// A required integer argument.
    pub fn int(&self, i: usize) -> Result<i64, RpcError> {
        self.get(i)
            .map_or(Err(RpcError::new(-1, "missing argument")), int)
    }

    /// A verbosity argument (number or bool), with a default.
    pub fn verbosity_or(&self, i: usize, default: i64) -> Result<i64, RpcError> {
        match self.get(i) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(i64::from(*b)),
            Some(v) => int(v),
        }
    }
}

/// JSON indented by 4 spaces, as UniValue's `write(4)` prints it.
fn pretty(value: &Value) -> String {
    use serde::Serialize as _;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if value.serialize(&mut serializer).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

fn int(value: &Value) -> Result<i64, RpcError> {
    value
        .as_i64()
        .ok_or_else(|| RpcError::new(-1, "JSON integer out of range"))
}

/// Maps named parameters onto positions, refusing unknown names as bitcoind does.
fn from_named(mut named: Map<String, Value>, args: &[Arg]) -> Result<Vec<Value>, RpcError> {
    let mut values = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if let Some(v) = named.remove(arg.name) {
            values.resize(i, Value::Null);
            values.push(v);
        }
    }
    if let Some(unknown) = named.keys().next() {
        return Err(RpcError::new(
            -8,
            format!("Unknown named parameter {unknown}"),
        ));
    }
    Ok(values)
}

/// bitcoind's `ParseHashV`.
pub fn hash(value: &Value, name: &str) -> Result<[u8; 32], RpcError> {
    let text = value.as_str().unwrap_or_default();
    if text.len() != 64 {
        return Err(RpcError::new(
            -8,
            format!(
                "{name} must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        ));
    }
    let mut bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            RpcError::new(
                -8,
                format!("{name} must be hexadecimal string (not '{text}')"),
            )
        })?;
    bytes.reverse();
    Ok(bytes)
}

/// A block hash argument.
pub fn block_hash(value: &Value, name: &str) -> Result<BlockHash, RpcError> {
    use bitcoin::hashes::Hash as _;
    hash(value, name).map(BlockHash::from_byte_array)
}

/// A txid argument.
pub fn txid(value: &Value, name: &str) -> Result<Txid, RpcError> {
    use bitcoin::hashes::Hash as _;
    hash(value, name).map(Txid::from_byte_array)
}

/// Decodes a hex transaction; `None` if it is not hex or not a whole transaction.
pub fn decode_tx(text: &str) -> Option<Transaction> {
    let bytes = hex::decode(text).ok()?;
    deserialize::<Transaction>(&bytes).ok()
}

/// bitcoind's `AmountFromValue`: a non-negative number or numeric string with at most 8
/// decimals.
pub fn amount(value: &Value) -> Result<Amount, RpcError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(RpcError::new(-3, "Amount is not a number or string")),
    };
    let text = normalize_exponent(&text).unwrap_or(text);
    if text.starts_with('-') {
        return Err(RpcError::new(-3, "Amount out of range"));
    }
    let amount = Amount::from_str_in(&text, Denomination::Bitcoin)
        .map_err(|_| RpcError::new(-3, "Invalid amount"))?;
    if amount > Amount::MAX_MONEY {
        return Err(RpcError::new(-3, "Amount out of range"));
    }
    Ok(amount)
}

/// Rewrites `1e-05`-style numbers (as serde prints small floats) in plain decimal.
fn normalize_exponent(text: &str) -> Option<String> {
    let (mantissa, exp) = text.split_once(['e', 'E'])?;
    let exp: i32 = exp.parse().ok()?;
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches(['-', '+']);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let point = i32::try_from(int_part.len()).ok()? + exp;
    let plain = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).ok()?))
    } else if usize::try_from(point).ok()? >= digits.len() {
        format!(
            "{digits}{}",
            "0".repeat(usize::try_from(point).ok()? - digits.len())
        )
    } else {
        let (a, b) = digits.split_at(usize::try_from(point).ok()?);
        format!("{a}.{b}")
    };
    Some(if negative { format!("-{plain}") } else { plain })
}

/// A regtest address argument; anything else is `Invalid Bitcoin address: ...` (-5).
pub fn address(text: &str) -> Result<Address, RpcError> {
    parse_address(text).ok_or_else(|| RpcError::new(-5, format!("Invalid Bitcoin address: {text}")))
}

/// An address for `generatetoaddress`.
pub fn mining_address(text: &str) -> Result<Address, RpcError> {
    parse_address(text).ok_or_else(|| RpcError::new(-5, "Error: Invalid address"))
}

/// Parses a fee rate in sat/vB (a number or string, up to 3 decimals) into sat/kvB.
pub fn sat_per_vb(value: &Value) -> Result<u64, RpcError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(RpcError::new(-3, "Invalid amount")),
    };
    let per_vb = f64::from_str(&text).map_err(|_| RpcError::new(-3, "Invalid amount"))?;
    if !(0.0..=1e8).contains(&per_vb) {
        return Err(RpcError::new(-3, "Invalid amount"));
    }
    Ok((per_vb * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_errors_read_like_core() {
        let err = Params::check(json!(["one"]), &[req("height", Kind::Num)], "help").unwrap_err();
        assert_eq!(err.code, -3);
        assert_eq!(
            err.message,
            "Wrong type passed:\n{\n  \"Position 1 (height)\": \"JSON value of type string is not of expected type number\"\n}"
                .replace("  ", "    ")
        );
        let err = Params::check(json!(["extra"]), &[], "usage").unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (-1, "usage"));
    }

    #[test]
    fn named_parameters_map_to_positions() {
        let p = Params::check(
            json!({"verbosity": 2, "blockhash": "x"}),
            &[
                req("blockhash", Kind::Str),
                opt("verbosity", Kind::NumOrBool),
            ],
            "",
        )
        .unwrap();
        assert_eq!(p.str(0), Some("x"));
        assert_eq!(p.verbosity_or(1, 1).unwrap(), 2);
    }

    #[test]
    fn amounts_parse_like_core() {
        assert_eq!(amount(&json!(1.25)).unwrap(), Amount::from_sat(125_000_000));
        assert_eq!(amount(&json!("0.00001")).unwrap(), Amount::from_sat(1000));
        assert_eq!(amount(&json!(0.00001)).unwrap(), Amount::from_sat(1000));
        assert_eq!(amount(&json!(1e-8)).unwrap(), Amount::from_sat(1));
        assert_eq!(amount(&json!(0.000000001)).unwrap_err().code, -3);
        assert_eq!(amount(&json!(-1)).unwrap_err().code, -3);
        assert_eq!(
            amount(&json!(21_000_001)).unwrap_err().message,
            "Amount out of range"
        );
    }

    #[test]
    fn hashes_are_checked_like_core() {
        let err = hash(&json!("abcd"), "blockhash").unwrap_err();
        assert_eq!(
            err.message,
            "blockhash must be of length 64 (not 4, for 'abcd')"
        );
        let bad = "z".repeat(64);
        assert_eq!(hash(&json!(bad), "txid").unwrap_err().code, -8);
    }
}
