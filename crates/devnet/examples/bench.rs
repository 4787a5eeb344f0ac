//! Devnet benchmark: how fast full blocks are validated (script checks by
//! libbitcoinconsensus included), how fast the mempool admits transactions, and how many
//! `getblock <hash> 2` calls the RPC server answers per second.
//!
//! `cargo run --release -p cairn-devnet --example bench [-- <transactions per block>]`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, TapTweak as _};
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{Prevouts, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, TapSighashType, Transaction, TxIn, TxOut, Witness,
    absolute, taproot,
};
use cairn_devnet::{Devnet, DevnetConfig, DevnetServer};

struct Key {
    secp: Secp256k1<All>,
    tweaked: Keypair,
    spk: ScriptBuf,
}

impl Key {
    fn new() -> Self {
        let secp = Secp256k1::new();
        let keypair = Keypair::from_seckey_slice(&secp, &[7; 32]).expect("valid key");
        let (xonly, _) = keypair.x_only_public_key();
        let spk = ScriptBuf::new_p2tr(&secp, xonly, None);
        let tweaked = keypair.tap_tweak(&secp, None).to_keypair();
        Self { secp, tweaked, spk }
    }

    /// A key-path spend of `inputs` paying `outputs`.
    fn spend(&self, inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|(op, _)| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let prevouts: Vec<TxOut> = inputs.iter().map(|(_, o)| o.clone()).collect();
        for i in 0..tx.input.len() {
            let sighash = SighashCache::new(&tx)
                .taproot_key_spend_signature_hash(
                    i,
                    &Prevouts::All(&prevouts),
                    TapSighashType::Default,
                )
                .expect("sighash");
            let signature = self.secp.sign_schnorr_no_aux_rand(
                &Message::from_digest(sighash.to_byte_array()),
                &self.tweaked,
            );
            tx.input[i].witness = Witness::p2tr_key_spend(&taproot::Signature {
                signature,
                sighash_type: TapSighashType::Default,
            });
        }
        tx
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per_block: usize = std::env::args().nth(1).map_or(Ok(8_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let key = Key::new();
    let mut devnet = Devnet::open(dir.path())?;

    // Coins: 101 blocks to the key, then fan-outs into `per_block` outputs.
    devnet.mine_blocks(101 + (per_block / 2_000) as u32, &key.spk)?;
    let mut coins = Vec::new();
    let coinbases: Vec<(OutPoint, TxOut)> = (1..=(per_block / 2_000 + 1) as u32)
        .filter_map(|h| {
            let hash = devnet.chain().block_hash_at(h)?;
            let tx = &devnet.chain().block(&hash)?.block.txdata[0];
            Some((OutPoint::new(tx.compute_txid(), 0), tx.output[0].clone()))
        })
        .collect();
    for coinbase in coinbases {
        let outputs = vec![
            TxOut {
                value: Amount::from_sat(2_000_000),
                script_pubkey: key.spk.clone(),
            };
            2_000
        ];
        let tx = key.spend(&[coinbase], outputs);
        devnet.send_transaction(&tx)?;
        let txid = tx.compute_txid();
        coins.extend(
            tx.output
                .iter()
                .enumerate()
                .map(|(i, o)| (OutPoint::new(txid, i as u32), o.clone())),
        );
    }
    devnet.mine_blocks(1, &key.spk)?;
    coins.truncate(per_block);

    // One-input, one-output taproot key-path spends.
    let txs: Vec<Transaction> = coins
        .iter()
        .map(|coin| {
            key.spend(
                std::slice::from_ref(coin),
                vec![TxOut {
                    value: Amount::from_sat(1_990_000),
                    script_pubkey: key.spk.clone(),
                }],
            )
        })
        .collect();
    let start = Instant::now();
    for tx in &txs {
        devnet.send_transaction(tx)?;
    }
    let admit = start.elapsed();
    let before = devnet.chain().clone();
    let block = before.create_block(before.tip(), &key.spk, None, devnet.now() + 1)?;
    let in_block = block.txdata.len() - 1;
    let mut chain = before.clone();
    let start = Instant::now();
    assert!(chain.submit_block(block.clone())?, "block connects");
    let validate = start.elapsed();
    devnet.submit_block(block.clone())?;
    println!(
        "mempool admission: {} txs in {:.2?} = {:.0} tx/s",
        txs.len(),
        admit,
        txs.len() as f64 / admit.as_secs_f64()
    );
    println!(
        "block validation:  {in_block} txs ({} WU) in {:.2?} = {:.0} tx/s validated into the block",
        block.weight().to_wu(),
        validate,
        in_block as f64 / validate.as_secs_f64()
    );
    drop(devnet);

    // getblock verbosity 2 over HTTP against the full block and an empty one.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = DevnetServer::start(DevnetConfig {
            data_dir: dir.path().to_owned(),
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rpc_user: None,
            block_time: None,
            initial_blocks: 0,
        })
        .await?;
        let cookie = std::fs::read_to_string(server.cookie_path())?;
        let full = block.block_hash().to_string();
        let empty = {
            let state = server.state();
            let s = state.lock();
            s.devnet.chain().block_hash_at(1).map(|h| h.to_string()).unwrap_or_default()
        };
        for (label, hash) in [("full block", full), ("1-tx block", empty)] {
            let (calls, bytes, elapsed) = hammer(&server.rpc_url(), &cookie, &hash, Duration::from_secs(5), 4).await;
            println!(
                "getblock v2 ({label}): {calls} calls in {elapsed:.1?} = {:.1} calls/s, {:.1} MB/s of JSON",
                calls as f64 / elapsed.as_secs_f64(),
                bytes as f64 / elapsed.as_secs_f64() / 1e6
            );
        }
        server.stop().await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// Calls `getblock hash 2` from `clients` connections for `duration`.
async fn hammer(
    url: &str,
    cookie: &str,
    hash: &str,
    duration: Duration,
    clients: usize,
) -> (u64, u64, Duration) {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(cookie)
    );
    let body =
        serde_json::json!({"jsonrpc": "1.0", "id": 1, "method": "getblock", "params": [hash, 2]})
            .to_string();
    let (calls, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (url, auth, body) = (url.to_owned(), auth.clone(), body.clone());
            let (calls, bytes) = (calls.clone(), bytes.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while start.elapsed() < duration {
                    let Ok(response) = client
                        .post(&url)
                        .header("Authorization", &auth)
                        .body(body.clone())
                        .send()
                        .await
                    else {
                        break;
                    };
                    let Ok(body) = response.bytes().await else {
                        break;
                    };
                    calls.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    (
        calls.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
        start.elapsed(),
    )
}
