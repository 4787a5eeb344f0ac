//! What forcing a transaction through Bitcoin costs: `force_send` (the code behind
//! `cairn force-send`) posts an ETH transfer, an ERC-20 transfer and a withdrawal call to
//! the embedded devnet; prints each one's L2 bytes and the vbytes of its commit and
//! reveal transactions.
//!
//! `cargo run --release -p cairn-settlement --example forced_cost`

use alloy_consensus::{SignableTransaction as _, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_network::TxSignerSync as _;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use bitcoin::{FeeRate, Network};
use cairn_settlement::forced::force_send;

const CHAIN_ID: u64 = 777;

fn signed(signer: &PrivateKeySigner, to: Address, value: u64, input: Vec<u8>, gas: u64) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 7,
        gas_limit: gas,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::from(input),
        access_list: Default::default(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = cairn_test_utils::Devnet::start(dir.path(), 110).await;
    let client = &devnet.client;
    let user = PrivateKeySigner::random();
    let mut erc20 = vec![0xa9, 0x05, 0x9c, 0xbb];
    erc20.extend_from_slice(&[0u8; 12]);
    erc20.extend_from_slice(Address::repeat_byte(0x42).as_slice());
    erc20.extend_from_slice(&U256::from(10u64.pow(18)).to_be_bytes::<32>());
    // withdraw(string) to a 62-character bech32m address.
    let mut withdraw = vec![0x31, 0xf0, 0x9d, 0x4a];
    withdraw.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    withdraw.extend_from_slice(&U256::from(62).to_be_bytes::<32>());
    withdraw.extend_from_slice(&[b'b'; 64]);
    let cases = [
        (
            "ETH transfer",
            signed(&user, Address::repeat_byte(0x55), 1, Vec::new(), 21_000),
        ),
        (
            "ERC-20 transfer",
            signed(&user, Address::repeat_byte(0x66), 0, erc20, 60_000),
        ),
        (
            "withdrawal call",
            signed(
                &user,
                Address::repeat_byte(0x77),
                10u64.pow(15),
                withdraw,
                120_000,
            ),
        ),
    ];
    println!(
        "| forced transaction | L2 bytes | commit vB | reveal vB | total vB | fee at 1 sat/vB |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, raw) in cases {
        let sent = force_send(
            client,
            Network::Regtest,
            CHAIN_ID,
            &raw,
            FeeRate::from_sat_per_vb_u32(1),
        )
        .await?;
        let miner = client.get_new_address(None, None).await?;
        client.generate_to_address(1, &miner).await?;
        let fetch = async |txid| -> anyhow::Result<bitcoin::Transaction> {
            client
                .get_raw_transaction(&txid)
                .await?
                .ok_or_else(|| anyhow::anyhow!("{txid} is not on the devnet"))
        };
        let (commit, reveal) = (fetch(sent.commit).await?, fetch(sent.reveal).await?);
        let (c, r) = (commit.vsize(), reveal.vsize());
        println!(
            "| {what} | {} | {c} | {r} | {} | {} sat |",
            raw.len(),
            c + r,
            c + r
        );
    }
    Ok(())
}
