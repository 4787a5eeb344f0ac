//! Typed calls against Bitcoin Core 29.2's own answers: the fake replays a recorded answer
//! (status, result or error) of `bitcoin-core-29.2-regtest.json` and the typed method must
//! decode it to the right values; where our parameters match the recorded ones exactly,
//! the request is checked too.

use std::future::Future;
use std::sync::Arc;

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Amount, BlockHash, FeeRate, Network, Transaction, Txid};
use cairn_l1::types::{AddressType, ChainTipStatus, EstimateMode};
use cairn_l1::{Client, Error, Result};
use parking_lot::Mutex;
use serde_json::Value;

use crate::fake::{Call, FakeBitcoind, Reply};
use crate::{config, good_auth, user_pass};

/// The recorded calls, shared with the devnet's golden tests.
const GOLDEN: &str = include_str!("../../../devnet/tests/fixtures/bitcoin-core-29.2-regtest.json");

struct Golden {
    records: Vec<Value>,
    next: Arc<Mutex<usize>>,
    fake: FakeBitcoind,
    client: Client,
}

impl Golden {
    async fn start() -> Self {
        let golden: Value = serde_json::from_str(GOLDEN).expect("fixture is JSON");
        let records = golden["records"].as_array().expect("records").clone();
        let next = Arc::new(Mutex::new(0));
        let fake = {
            let (records, next) = (records.clone(), next.clone());
            FakeBitcoind::start(&user_pass(), move |_: &Call| {
                recorded_reply(&records[*next.lock()])
            })
            .await
        };
        let client =
            Client::new(&config(&fake.url(), good_auth()), Network::Regtest).expect("client");
        Self {
            records,
            next,
            fake,
            client,
        }
    }

    /// Runs `call` with the fake answering record `index`, checking the method called.
    async fn replay<T>(&self, index: usize, call: impl Future<Output = Result<T>>) -> Result<T> {
        *self.next.lock() = index;
        let answer = call.await;
        let sent = self.fake.calls().pop().expect("a call was made");
        assert_eq!(sent.method, self.records[index]["method"], "record {index}");
        answer
    }

    /// Runs `call` against record `index` as [`Golden::replay`] does; the call must
    /// succeed and its params must be the recorded ones.
    async fn replay_exact<T>(&self, index: usize, call: impl Future<Output = Result<T>>) -> T {
        let answer = self
            .replay(index, call)
            .await
            .unwrap_or_else(|err| panic!("record {index}: {err}"));
        self.assert_sent_recorded_params(index);
        answer
    }

    /// Runs `call` against record `index` as [`Golden::replay`] does; the call must fail
    /// with the recorded error.
    async fn replay_err<T>(&self, index: usize, call: impl Future<Output = Result<T>>) -> Error {
        self.replay(index, call)
            .await
            .err()
            .unwrap_or_else(|| panic!("record {index}: expected an error"))
    }

    /// Whether the last request's params are the recorded ones of `index`.
    fn assert_sent_recorded_params(&self, index: usize) {
        let sent = self.fake.calls().pop().expect("a call was made");
        assert_eq!(
            Value::Array(sent.params),
            self.records[index]["params"],
            "params of record {index}"
        );
    }

    /// The last request's raw body.
    fn last_body(&self) -> String {
        self.fake.calls().pop().expect("a call was made").body
    }
}

/// Core's reply to a record: its status with its result or error.
fn recorded_reply(record: &Value) -> Reply {
    let status = record["http_status"].as_u64().expect("status");
    match (status, &record["error"]) {
        (401, _) => Reply::Raw(401, String::new()),
        (_, Value::Object(error)) => Reply::Error(
            i32::try_from(error["code"].as_i64().expect("code")).expect("i32 code"),
            error["message"].as_str().expect("message").to_owned(),
        ),
        _ => Reply::Result(record["result"].clone()),
    }
}

fn hash(text: &str) -> BlockHash {
    text.parse().expect("block hash")
}

fn txid(text: &str) -> Txid {
    text.parse().expect("txid")
}

fn address(text: &str) -> Address {
    text.parse::<Address<NetworkUnchecked>>()
        .expect("address")
        .require_network(Network::Regtest)
        .expect("regtest address")
}

/// The transaction of record 20, sent to the wallet in record 15.
fn wallet_tx(g: &Golden) -> Transaction {
    let hex = g.records[20]["result"].as_str().expect("hex");
    bitcoin::consensus::encode::deserialize_hex(hex).expect("transaction")
}

const GENESIS: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
const BLOCK_1: &str = "3d5527cac0891829f6bf6a5a842d86ea368234c14ef88d2a1f629308cece7bb3";
const BLOCK_102: &str = "5da942097663cc31573ec852d9fac79700e59f993d0670855d953fefb95fb626";
const WALLET_TXID: &str = "8ac1434495741c1dd91b362747356b78f985f22b50c4d04238e5a76fb5f1454e";
const WALLET_ADDRESS: &str = "bcrt1q625gp624t8q29hwy0d72qpyult77w6tjgtd53u";

#[tokio::test]
async fn chain_queries_decode_core_29() {
    let g = Golden::start().await;
    let c = &g.client;

    let info = g
        .replay(0, c.get_blockchain_info())
        .await
        .expect("record 0");
    assert_eq!(
        (info.chain.as_str(), info.blocks, info.headers),
        ("regtest", 0, 0)
    );
    assert_eq!(info.best_block_hash, hash(GENESIS));
    assert_eq!(info.bits.as_deref(), Some("207fffff"));
    assert!(info.initial_block_download);
    assert!(info.warnings.is_empty());

    let net = g.replay(1, c.get_network_info()).await.expect("record 1");
    assert_eq!(
        (net.version, net.subversion.as_str()),
        (290200, "/Satoshi:29.2.0/")
    );
    assert_eq!(net.networks.len(), 5);
    assert_eq!(net.relay_fee, FeeRate::from_sat_per_kwu(25));

    assert_eq!(g.replay(2, c.get_block_count()).await.expect("record 2"), 0);
    assert_eq!(
        g.replay(3, c.get_best_block_hash())
            .await
            .expect("record 3"),
        hash(GENESIS)
    );

    assert_eq!(g.replay_exact(11, c.get_block_hash(1)).await, hash(BLOCK_1));

    let header = g
        .replay_exact(12, c.get_block_header_info(&hash(BLOCK_1)))
        .await;
    assert_eq!(
        (header.height, header.confirmations, header.n_tx),
        (1, 101, 1)
    );
    assert_eq!(header.previous_block_hash, Some(hash(GENESIS)));
    assert_eq!(
        header.next_block_hash,
        Some(hash(
            "2b0f22d10f663def3d4b3e689124dcc0089e22fb31e50042fca280f94b4619a3"
        ))
    );
    assert_eq!(header.version_hex, "20000000");

    let raw_header = g.replay_exact(13, c.get_block_header(&hash(BLOCK_1))).await;
    assert_eq!(raw_header.block_hash(), hash(BLOCK_1));
    assert_eq!(raw_header.prev_blockhash, hash(GENESIS));

    let block = g.replay_exact(26, c.get_block(&hash(BLOCK_102))).await;
    assert_eq!(block.block_hash(), hash(BLOCK_102));
    assert_eq!(block.txdata.len(), 2);
    assert_eq!(block.txdata[1].compute_txid(), txid(WALLET_TXID));

    let tips = g.replay(47, c.get_chain_tips()).await.expect("record 47");
    assert_eq!(tips.len(), 1);
    assert_eq!(
        (tips[0].height, tips[0].branch_len, tips[0].status),
        (103, 0, ChainTipStatus::Active)
    );

    g.replay_exact(41, c.invalidate_block(&hash(BLOCK_102)))
        .await;
    g.replay(44, c.reconsider_block(&hash(BLOCK_102)))
        .await
        .expect("record 44");
}

#[tokio::test]
async fn transaction_and_mempool_queries_decode_core_29() {
    let g = Golden::start().await;
    let c = &g.client;
    let tx = wallet_tx(&g);
    assert_eq!(tx.compute_txid(), txid(WALLET_TXID));

    let fetched = g
        .replay(22, c.get_raw_transaction(&txid(WALLET_TXID)))
        .await
        .expect("record 22");
    assert_eq!(fetched, Some(tx.clone()));
    let unknown = txid("1111111111111111111111111111111111111111111111111111111111111111");
    assert_eq!(
        g.replay(56, c.get_raw_transaction(&unknown))
            .await
            .expect("record 56: -5 is None"),
        None
    );

    let mempool = g.replay(16, c.get_raw_mempool()).await.expect("record 16");
    assert_eq!(mempool, [txid(WALLET_TXID)]);

    let entry = g
        .replay_exact(18, c.get_mempool_entry(&txid(WALLET_TXID)))
        .await
        .expect("in the mempool");
    assert_eq!((entry.vsize, entry.weight, entry.height), (130, 520, 101));
    assert_eq!(entry.fees.base, Amount::from_sat(2620));
    assert_eq!(entry.wtxid, tx.compute_wtxid());
    assert!(entry.bip125_replaceable && entry.unbroadcast);

    let info = g.replay(19, c.get_mempool_info()).await.expect("record 19");
    assert_eq!((info.size, info.bytes), (1, 130));
    assert_eq!(info.total_fee, Amount::from_sat(2620));

    let verdicts = g
        .replay_exact(23, c.test_mempool_accept(std::slice::from_ref(&tx)))
        .await;
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].txid, tx.compute_txid());
    assert!(!verdicts[0].allowed);
    assert_eq!(
        verdicts[0].reject_reason.as_deref(),
        Some("txn-already-in-mempool")
    );

    let sent = g.replay_exact(24, c.send_raw_transaction(&tx)).await;
    assert_eq!(sent, txid(WALLET_TXID));

    let out = g
        .replay_exact(34, c.get_tx_out(&txid(WALLET_TXID), 1, false))
        .await
        .expect("unspent");
    assert_eq!(out.value, Amount::from_sat(125_000_000));
    assert_eq!(out.best_block, hash(BLOCK_102));
    assert_eq!(out.script_pub_key.kind, "witness_v0_keyhash");
    assert_eq!(out.script_pub_key.hex, tx.output[1].script_pubkey);
    assert_eq!(
        out.script_pub_key.address.map(|a| a.assume_checked()),
        Some(address(WALLET_ADDRESS))
    );
    assert!(!out.coinbase);
    let zero = txid("0000000000000000000000000000000000000000000000000000000000000000");
    assert!(
        g.replay(35, c.get_tx_out(&zero, 0, true))
            .await
            .expect("record 35")
            .is_none()
    );

    let estimate = g
        .replay_exact(39, c.estimate_smart_fee(2, Some(EstimateMode::Economical)))
        .await;
    assert_eq!(estimate.fee_rate, None);
    assert_eq!(estimate.errors, ["Insufficient data or no feerate found"]);
}

#[tokio::test]
async fn mining_and_wallet_calls_decode_core_29() {
    let g = Golden::start().await;
    let c = &g.client;

    let default = g.replay_exact(5, c.get_new_address(None, None)).await;
    assert_eq!(
        default,
        address("bcrt1q6q20cxuy6695amfsxmmh6jkxrf4ae8upsj3flg")
    );
    let taproot = g
        .replay_exact(6, c.get_new_address(None, Some(AddressType::Bech32m)))
        .await;
    assert_eq!(taproot.address_type(), Some(bitcoin::AddressType::P2tr));
    let legacy = g
        .replay(7, c.get_new_address(None, Some(AddressType::Legacy)))
        .await
        .expect("record 7");
    assert_eq!(legacy.address_type(), Some(bitcoin::AddressType::P2pkh));
    let nested = g
        .replay_exact(8, c.get_new_address(None, Some(AddressType::P2shSegwit)))
        .await;
    assert_eq!(nested.address_type(), Some(bitcoin::AddressType::P2sh));

    let mined = g
        .replay_exact(9, c.generate_to_address(101, &taproot))
        .await;
    assert_eq!(mined.len(), 101);
    assert_eq!(mined[0], hash(BLOCK_1));

    assert_eq!(
        g.replay(10, c.get_balance()).await.expect("record 10"),
        Amount::from_int_btc(50)
    );

    let to = address(WALLET_ADDRESS);
    let paid = g
        .replay(15, c.send_to_address(&to, Amount::from_sat(125_000_000)))
        .await
        .expect("record 15");
    assert_eq!(paid, txid(WALLET_TXID));
    assert!(
        g.last_body()
            .contains(&format!(r#""params":["{WALLET_ADDRESS}",1.25000000]"#)),
        "amount with 8 decimals: {}",
        g.last_body()
    );

    let received = g.replay_exact(36, c.get_received_by_address(&to, 1)).await;
    assert_eq!(received, Amount::from_sat(125_000_000));

    let unspent = g
        .replay_exact(37, c.list_unspent(1, 9_999_999, std::slice::from_ref(&to)))
        .await;
    assert_eq!(unspent.len(), 1);
    assert_eq!((unspent[0].txid, unspent[0].vout), (txid(WALLET_TXID), 1));
    assert_eq!(unspent[0].amount, Amount::from_sat(125_000_000));
    assert_eq!(
        unspent[0].address.clone().map(|a| a.assume_checked()),
        Some(to.clone())
    );
    assert!(unspent[0].spendable && unspent[0].solvable && unspent[0].safe);
    assert_eq!(unspent[0].parent_descs.len(), 1);

    let block = g.replay_exact(46, c.generate_block(&default, &[])).await;
    assert_eq!(
        block,
        hash("49f439134f7653769a8d983a190d183d8e535538443f432fd58bc7010f9c8865")
    );
}

#[tokio::test]
async fn core_29_errors_keep_their_codes_and_messages() {
    let g = Golden::start().await;
    let c = &g.client;
    let tx = wallet_tx(&g);

    let err = g.replay_err(48, c.send_raw_transaction(&tx)).await;
    assert!(err.is_already_in_chain(), "{err:?}");
    assert!(
        matches!(&err, Error::Rpc { message, .. } if message == "Transaction outputs already in utxo set"),
        "{err:?}"
    );

    let err = g.replay_err(52, c.get_block(&hash(&"0".repeat(64)))).await;
    assert!(err.is_not_found(), "{err:?}");

    let err = g.replay_err(54, c.get_block_hash(999_999)).await;
    assert!(
        matches!(&err, Error::Rpc { code: -8, message } if message == "Block height out of range"),
        "{err:?}"
    );

    let err = g.replay_err(57, c.call_raw("nosuchmethod", vec![])).await;
    assert!(err.is_method_not_found(), "{err:?}");

    let err = g
        .replay_err(
            60,
            c.call_raw("sendtoaddress", vec!["bcrt1qnotanaddress".into(), 1.into()]),
        )
        .await;
    assert!(
        matches!(&err, Error::Rpc { code: -5, message } if message == "Invalid Bitcoin address: bcrt1qnotanaddress"),
        "{err:?}"
    );

    let to = address(WALLET_ADDRESS);
    let err = g
        .replay_err(62, c.send_to_address(&to, Amount::from_int_btc(100_000)))
        .await;
    assert_eq!(
        err.rpc_code(),
        Some(cairn_l1::code::WALLET_INSUFFICIENT_FUNDS)
    );

    let replacement: Transaction = bitcoin::consensus::encode::deserialize_hex(
        g.records[70]["params"][0].as_str().expect("hex"),
    )
    .expect("transaction");
    let err = g.replay_err(70, c.send_raw_transaction(&replacement)).await;
    assert!(err.is_rejected(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("bitcoind answered with error -26: insufficient fee"),
        "{err}"
    );

    let err = g.replay_err(78, c.get_block_count()).await;
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn call_decodes_into_any_type_and_reports_shape_errors() {
    let g = Golden::start().await;
    let c = &g.client;

    let count: u64 = g
        .replay(2, c.call("getblockcount", vec![]))
        .await
        .expect("record 2");
    assert_eq!(count, 0);

    let err = g
        .replay(3, c.call::<u64>("getbestblockhash", vec![]))
        .await
        .expect_err("a hash is not a number");
    assert!(
        matches!(&err, Error::Decode { method, .. } if method == "getbestblockhash"),
        "{err:?}"
    );
}
