//! The method table: each method's arguments (names and types, for named parameters and
//! bitcoind's type errors), its help text, and its handler.

use serde_json::Value;

use super::params::{Arg, Kind, Params, opt, req};
use super::{RpcError, chain, wallet};
use crate::state::State;

type Handler = fn(&mut State, &Params) -> Result<Value, RpcError>;

/// One RPC method.
struct Method {
    name: &'static str,
    args: &'static [Arg],
    help: &'static str,
    run: Handler,
}

const GETBLOCKCOUNT_HELP: &str = "getblockcount\n\nReturns the height of the most-work fully-validated chain.\nThe genesis block has height 0.\n\nResult:\nn    (numeric) The current block count\n\nExamples:\n> bitcoin-cli getblockcount \n> curl --user myusername --data-binary '{\"jsonrpc\": \"2.0\", \"id\": \"curltest\", \"method\": \"getblockcount\", \"params\": []}' -H 'content-type: application/json' http://127.0.0.1:8332/\n";

/// `method!(module::name, help, [args])`: a table entry named after its handler.
macro_rules! method {
    ($module:ident :: $name:ident, $help:expr, [$($arg:expr),* $(,)?]) => {
        Method { name: stringify!($name), args: &[$($arg),*], help: $help, run: $module::$name }
    };
}

/// Every method the devnet serves.
static METHODS: &[Method] = &[
    // chain
    Method {
        name: "getblockchaininfo",
        args: &[],
        help: "getblockchaininfo\n\nReturns an object containing various state info regarding blockchain processing.\n",
        run: chain::getblockchaininfo,
    },
    Method {
        name: "getblockcount",
        args: &[],
        help: GETBLOCKCOUNT_HELP,
        run: chain::getblockcount,
    },
    Method {
        name: "getbestblockhash",
        args: &[],
        help: "getbestblockhash\n\nReturns the hash of the best (tip) block in the most-work fully-validated chain.\n",
        run: chain::getbestblockhash,
    },
    Method {
        name: "getdifficulty",
        args: &[],
        help: "getdifficulty\n\nReturns the proof-of-work difficulty as a multiple of the minimum difficulty.\n",
        run: chain::getdifficulty,
    },
    Method {
        name: "getblockhash",
        args: &[req("height", Kind::Num)],
        help: "getblockhash height\n\nReturns hash of block in best-block-chain at height provided.\n",
        run: chain::getblockhash,
    },
    Method {
        name: "getblockheader",
        args: &[req("blockhash", Kind::Str), opt("verbose", Kind::Bool)],
        help: "getblockheader \"blockhash\" ( verbose )\n\nIf verbose is false, returns a string that is serialized, hex-encoded data for blockheader 'hash'.\nIf verbose is true, returns an Object with information about blockheader <hash>.\n",
        run: chain::getblockheader,
    },
    Method {
        name: "getblock",
        args: &[
            req("blockhash", Kind::Str),
            opt("verbosity", Kind::NumOrBool),
        ],
        help: "getblock \"blockhash\" ( verbosity )\n\nIf verbosity is 0, returns a string that is serialized, hex-encoded data for block 'hash'.\nIf verbosity is 1, returns an Object with information about block <hash>.\nIf verbosity is 2, returns an Object with information about block <hash> and information about each transaction.\nIf verbosity is 3, returns an Object with information about block <hash> and information about each transaction, including prevout information for inputs.\n",
        run: chain::getblock,
    },
    Method {
        name: "getchaintips",
        args: &[],
        help: "getchaintips\n\nReturn information about all known tips in the block tree, including the main chain as well as orphaned branches.\n",
        run: chain::getchaintips,
    },
    Method {
        name: "gettxout",
        args: &[
            req("txid", Kind::Str),
            req("n", Kind::Num),
            opt("include_mempool", Kind::Bool),
        ],
        help: "gettxout \"txid\" n ( include_mempool )\n\nReturns details about an unspent transaction output.\n",
        run: chain::gettxout,
    },
    // transactions
    Method {
        name: "getrawtransaction",
        args: &[
            req("txid", Kind::Str),
            opt("verbosity", Kind::NumOrBool),
            opt("blockhash", Kind::Str),
        ],
        help: "getrawtransaction \"txid\" ( verbosity \"blockhash\" )\n\nBy default, this call only returns a transaction if it is in the mempool. If -txindex is enabled\nand no blockhash argument is passed, it will return the transaction if it is in the mempool or any block.\n",
        run: chain::getrawtransaction,
    },
    Method {
        name: "decoderawtransaction",
        args: &[req("hexstring", Kind::Str), opt("iswitness", Kind::Bool)],
        help: "decoderawtransaction \"hexstring\" ( iswitness )\n\nReturn a JSON object representing the serialized, hex-encoded transaction.\n",
        run: chain::decoderawtransaction,
    },
    Method {
        name: "createrawtransaction",
        args: &[
            req("inputs", Kind::Arr),
            req("outputs", Kind::ObjOrArr),
            opt("locktime", Kind::Num),
            opt("replaceable", Kind::Bool),
        ],
        help: "createrawtransaction [{\"txid\":\"hex\",\"vout\":n,\"sequence\":n},...] [{\"address\":amount,...},{\"data\":\"hex\"},...] ( locktime replaceable )\n\nCreate a transaction spending the given inputs and creating new outputs.\n",
        run: chain::createrawtransaction,
    },
    Method {
        name: "sendrawtransaction",
        args: &[
            req("hexstring", Kind::Str),
            opt("maxfeerate", Kind::Amount),
            opt("maxburnamount", Kind::Amount),
        ],
        help: "sendrawtransaction \"hexstring\" ( maxfeerate maxburnamount )\n\nSubmit a raw transaction (serialized, hex-encoded) to local node and network.\n",
        run: chain::sendrawtransaction,
    },
    Method {
        name: "testmempoolaccept",
        args: &[req("rawtxs", Kind::Arr), opt("maxfeerate", Kind::Amount)],
        help: "testmempoolaccept [\"rawtx\",...] ( maxfeerate )\n\nReturns result of mempool acceptance tests indicating if raw transaction(s) (serialized, hex-encoded) would be accepted by mempool.\n",
        run: chain::testmempoolaccept,
    },
    // mempool
    Method {
        name: "getmempoolinfo",
        args: &[],
        help: "getmempoolinfo\n\nReturns details on the active state of the TX memory pool.\n",
        run: chain::getmempoolinfo,
    },
    Method {
        name: "getrawmempool",
        args: &[
            opt("verbose", Kind::Bool),
            opt("mempool_sequence", Kind::Bool),
        ],
        help: "getrawmempool ( verbose mempool_sequence )\n\nReturns all transaction ids in memory pool as a json array of string transaction ids.\n",
        run: chain::getrawmempool,
    },
    Method {
        name: "getmempoolentry",
        args: &[req("txid", Kind::Str)],
        help: "getmempoolentry \"txid\"\n\nReturns mempool data for given transaction\n",
        run: chain::getmempoolentry,
    },
    Method {
        name: "estimatesmartfee",
        args: &[
            req("conf_target", Kind::Num),
            opt("estimate_mode", Kind::Str),
        ],
        help: "estimatesmartfee conf_target ( \"estimate_mode\" )\n\nEstimates the approximate fee per kilobyte needed for a transaction to begin\nconfirmation within conf_target blocks if possible.\n",
        run: chain::estimatesmartfee,
    },
    // mining and reorgs
    Method {
        name: "generatetoaddress",
        args: &[
            req("nblocks", Kind::Num),
            req("address", Kind::Str),
            opt("maxtries", Kind::Num),
        ],
        help: "generatetoaddress nblocks \"address\" ( maxtries )\n\nMine to a specified address and return the block hashes.\n",
        run: chain::generatetoaddress,
    },
    Method {
        name: "generateblock",
        args: &[
            req("output", Kind::Str),
            req("transactions", Kind::Arr),
            opt("submit", Kind::Bool),
        ],
        help: "generateblock \"output\" [\"rawtx/txid\",...] ( submit )\n\nMine a set of ordered transactions to a specified address or descriptor and return the block hash.\n",
        run: chain::generateblock,
    },
    Method {
        name: "submitblock",
        args: &[req("hexdata", Kind::Str), opt("dummy", Kind::Any)],
        help: "submitblock \"hexdata\" ( \"dummy\" )\n\nAttempts to submit new block to network.\n",
        run: chain::submitblock,
    },
    Method {
        name: "invalidateblock",
        args: &[req("blockhash", Kind::Str)],
        help: "invalidateblock \"blockhash\"\n\nPermanently marks a block as invalid, as if it violated a consensus rule.\n",
        run: chain::invalidateblock,
    },
    Method {
        name: "reconsiderblock",
        args: &[req("blockhash", Kind::Str)],
        help: "reconsiderblock \"blockhash\"\n\nRemoves invalidity status of a block, its ancestors and its descendants, reconsider them for activation.\nThis can be used to undo the effects of invalidateblock.\n",
        run: chain::reconsiderblock,
    },
    Method {
        name: "setmocktime",
        args: &[req("timestamp", Kind::Num)],
        help: "setmocktime timestamp\n\nSet the local time to given timestamp (-regtest only)\n",
        run: chain::setmocktime,
    },
    // node
    Method {
        name: "getnetworkinfo",
        args: &[],
        help: "getnetworkinfo\n\nReturns an object containing various state info regarding P2P networking.\n",
        run: chain::getnetworkinfo,
    },
    Method {
        name: "uptime",
        args: &[],
        help: "uptime\n\nReturns the total uptime of the server.\n",
        run: chain::uptime,
    },
    // wallet
    method!(
        wallet::getnewaddress,
        "getnewaddress ( \"label\" \"address_type\" )\n\nReturns a new Bitcoin address for receiving payments.\n",
        [opt("label", Kind::Str), opt("address_type", Kind::Str)]
    ),
    method!(
        wallet::getrawchangeaddress,
        "getrawchangeaddress ( \"address_type\" )\n\nReturns a new Bitcoin address, for receiving change.\n",
        [opt("address_type", Kind::Str)]
    ),
    method!(
        wallet::getbalance,
        "getbalance ( \"dummy\" minconf include_watchonly avoid_reuse )\n\nReturns the total available balance.\n",
        [
            opt("dummy", Kind::Str),
            opt("minconf", Kind::Num),
            opt("include_watchonly", Kind::Bool),
            opt("avoid_reuse", Kind::Bool)
        ]
    ),
    method!(
        wallet::getbalances,
        "getbalances\n\nReturns an object with all balances in BTC.\n",
        []
    ),
    method!(
        wallet::sendtoaddress,
        "sendtoaddress \"address\" amount ( \"comment\" \"comment_to\" subtractfeefromamount replaceable conf_target \"estimate_mode\" avoid_reuse fee_rate verbose )\n\nSend an amount to a given address.\n",
        [
            req("address", Kind::Str),
            req("amount", Kind::Amount),
            opt("comment", Kind::Str),
            opt("comment_to", Kind::Str),
            opt("subtractfeefromamount", Kind::Bool),
            opt("replaceable", Kind::Bool),
            opt("conf_target", Kind::Num),
            opt("estimate_mode", Kind::Str),
            opt("avoid_reuse", Kind::Bool),
            opt("fee_rate", Kind::Amount),
            opt("verbose", Kind::Bool)
        ]
    ),
    method!(
        wallet::listunspent,
        "listunspent ( minconf maxconf [\"address\",...] include_unsafe query_options )\n\nReturns array of unspent transaction outputs\nwith between minconf and maxconf (inclusive) confirmations.\n",
        [
            opt("minconf", Kind::Num),
            opt("maxconf", Kind::Num),
            opt("addresses", Kind::Arr),
            opt("include_unsafe", Kind::Bool),
            opt("query_options", Kind::Obj)
        ]
    ),
    method!(
        wallet::getreceivedbyaddress,
        "getreceivedbyaddress \"address\" ( minconf include_immature_coinbase )\n\nReturns the total amount received by the given address in transactions with at least minconf confirmations.\n",
        [
            req("address", Kind::Str),
            opt("minconf", Kind::Num),
            opt("include_immature_coinbase", Kind::Bool)
        ]
    ),
    method!(
        wallet::signrawtransactionwithwallet,
        "signrawtransactionwithwallet \"hexstring\" ( [{\"txid\":\"hex\",\"vout\":n,\"scriptPubKey\":\"hex\",\"redeemScript\":\"hex\",\"witnessScript\":\"hex\",\"amount\":amount},...] \"sighashtype\" )\n\nSign inputs for raw transaction (serialized, hex-encoded).\n",
        [
            req("hexstring", Kind::Str),
            opt("prevtxs", Kind::Arr),
            opt("sighashtype", Kind::Str)
        ]
    ),
    method!(
        wallet::listwallets,
        "listwallets\n\nReturns a list of currently loaded wallets.\n",
        []
    ),
    method!(
        wallet::getwalletinfo,
        "getwalletinfo\n\nReturns an object containing various wallet state info.\n",
        []
    ),
    method!(
        wallet::listdescriptors,
        "listdescriptors ( private )\n\nList descriptors imported into a descriptor-enabled wallet.\n",
        [opt("private", Kind::Bool)]
    ),
];

/// Names of every method served, in table order.
pub fn method_names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// Runs `name` with `params` against `state`.
pub fn call(state: &mut State, name: &str, params: Value) -> Result<Value, RpcError> {
    let Some(method) = METHODS.iter().find(|m| m.name == name) else {
        return Err(RpcError::new(-32601, "Method not found"));
    };
    let params = Params::check(params, method.args, method.help)?;
    (method.run)(state, &params)
}
