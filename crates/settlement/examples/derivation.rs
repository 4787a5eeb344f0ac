//! Settlement measured on the embedded devnet: the batcher posts a chain of transfer
//! blocks to Bitcoin, then a follower with nothing but the genesis derives it back.
//! Prints the L1 cost per transaction and the follower's derivation speed.
//!
//! `cargo run --release -p cairn-settlement --example derivation -- [blocks] [txs per block] [eth|erc20] [repeat|fresh]`
//! (default 1000 × 100 ETH transfers among 200 recipients; `fresh`: a new recipient
//! for every transfer). `erc20` sends ERC-20 `transfer(address,uint256)`
//! transactions (the exact calldata and a 60,000 gas limit) to a token address: the
//! bytes on Bitcoin are a real ERC-20 transfer's; execution finds no code there, so the
//! derivation figure is an ETH transfer's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction as _, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_network::TxSignerSync as _;
use alloy_primitives::{Address, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, Network};
use cairn_devnet::{DevnetConfig, DevnetServer};
use cairn_execution::BlockBuilder;
use cairn_l1::{Auth, BlockSource, BlockSourceConfig, Client, Config};
use cairn_primitives::{
    ChainSpec, GenesisAccount, L1Network, L1Start, ROLLUP_CONFIG_VERSION, RollupConfig,
    decode_raw_transaction,
};
use cairn_settlement::batcher::{Batcher, BatcherConfig, L1View};
use cairn_settlement::derive::{Deriver, Role};
use cairn_storage::{Storage, StorageOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let blocks: u64 = args.next().map_or(Ok(1000), |a| a.parse())?;
    let per_block: u64 = args.next().map_or(Ok(100), |a| a.parse())?;
    let erc20 = match args.next().as_deref() {
        None | Some("eth") => false,
        Some("erc20") => true,
        Some(other) => anyhow::bail!("unknown kind {other}: eth or erc20"),
    };
    let fresh = match args.next().as_deref() {
        None | Some("repeat") => false,
        Some("fresh") => true,
        Some(other) => anyhow::bail!("unknown recipients {other}: repeat or fresh"),
    };
    let dir = tempfile::tempdir()?;
    let devnet = DevnetServer::start(DevnetConfig {
        data_dir: dir.path().join("bitcoin"),
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        rpc_user: None,
        block_time: None,
        initial_blocks: 110,
    })
    .await?;
    let rpc = Config::new(
        devnet.rpc_url(),
        Auth::CookieFile(devnet.cookie_path().to_owned()),
    );
    let client = Client::connect(&rpc, Network::Regtest).await?;

    // The sequencer's chain: `blocks` blocks of `per_block` transfers.
    let user = PrivateKeySigner::random();
    let alloc = BTreeMap::from([(
        user.address(),
        GenesisAccount {
            balance: U256::from(10u128.pow(24)),
            code: None,
        },
    )]);
    let spec = ChainSpec::dev(777, alloc);
    let sequencer = Keypair::from_seckey_slice(&Secp256k1::new(), &[3; 32])?;
    let info = client.get_blockchain_info().await?;
    let rollup = RollupConfig {
        version: ROLLUP_CONFIG_VERSION,
        chain: spec.clone(),
        sequencer_key: sequencer.x_only_public_key().0.to_string(),
        l1: L1Start {
            network: L1Network::Regtest,
            height: info.blocks,
            hash: info.best_block_hash.to_string(),
        },
        finality_depth: 2,
        peg: None,
        forced_inclusion_window: None,
        sequencers: Vec::new(),
        sequencer_timeout: None,
    };
    let options = StorageOptions {
        sync_writes: false,
        history_blocks: 10_000,
        ..StorageOptions::default()
    };
    let l2 = Arc::new(Storage::open(
        &dir.path().join("sequencer"),
        &spec,
        options.clone(),
    )?);
    let started = Instant::now();
    let mut raw_bytes = 0usize;
    for _ in 0..blocks {
        let head = l2.head().block;
        let mut builder = BlockBuilder::new(
            &l2,
            &spec,
            &head,
            1_700_000_000 + head.number() / 4,
            Address::repeat_byte(0xfe),
            0,
        );
        for i in 0..per_block {
            let tx = transfer(
                &user,
                head.number() * per_block + i,
                spec.chain_id,
                erc20,
                fresh,
            );
            raw_bytes += tx.encoded.len();
            builder
                .push(Arc::new(tx))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let built = builder.finish()?;
        l2.commit(built.block, built.receipts, built.changes)?;
    }
    let txs = blocks * per_block;
    println!(
        "sealed {blocks} blocks, {txs} transfers ({raw_bytes} raw bytes) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The batcher posts them; blocks are mined until derivation has all of them.
    let mut batcher = Batcher::open(
        &dir.path().join("batcher"),
        client.clone(),
        l2.clone(),
        spec.chain_id,
        Network::Regtest,
        sequencer,
        BatcherConfig::default(),
    )?;
    let address = batcher.funding_address()?;
    client
        .send_to_address(&address, Amount::from_int_btc(20))
        .await?;
    let miner = client.get_new_address(None, None).await?;
    let mut own = Deriver::new(l2.clone(), &rollup, Role::Sequencer)?;
    let mut source = block_source(&client, &rollup);
    let mut l1_blocks = 0;
    let mut posted_vbytes = 0u64;
    let mut leaf_bytes = 0u64;
    let mut fees = Amount::ZERO;
    let mut seen = std::collections::HashSet::new();
    while own.applied().last().is_none_or(|b| b.last_block < blocks) {
        client.generate_to_address(1, &miner).await?;
        l1_blocks += 1;
        while let Some(update) = source.poll().await? {
            batcher.apply_update(&update)?;
            own.apply(&update)?;
        }
        let tip = source.tip().expect("tip");
        batcher
            .step(&L1View {
                tip,
                applied: own.applied(),
                derived_head: own.derived_head(),
                finality_depth: rollup.finality_depth,
            })
            .await?;
        for posting in batcher.pending() {
            if seen.insert(posting.commit_txid()) {
                posted_vbytes += posting.commit.vsize() as u64;
            }
            for reveal in &posting.reveals {
                if seen.insert(reveal.tx.compute_txid()) {
                    posted_vbytes += reveal.tx.vsize() as u64;
                    leaf_bytes += reveal.leaf.len() as u64;
                }
            }
        }
        anyhow::ensure!(l1_blocks < 500, "derivation did not finish");
    }
    fees = fees + Amount::from_int_btc(20) - batcher.balance().total();
    println!(
        "posted in {} batches over {l1_blocks} L1 blocks: {posted_vbytes} vB ({:.1} vB per transfer), fees {fees} ({:.2} sat per transfer)",
        own.applied().len(),
        posted_vbytes as f64 / txs as f64,
        fees.to_sat() as f64 / txs as f64,
    );

    let reveals: u64 = own
        .applied()
        .iter()
        .map(|b| b.txids.len() as u64)
        .sum::<u64>();
    let signatures = 65 * txs;
    println!(
        "where the bytes go (witness bytes per transfer): {:.1} in envelope leaves, of which {:.1} signatures (r, s, v: 65 bytes, incompressible) and {:.1} the rest; {:.1} vB per transfer of commits, reveal inputs and outputs, control blocks ({} reveals); at 10 sat/vB: {:.0} sat per transfer",
        leaf_bytes as f64 / txs as f64,
        signatures as f64 / txs as f64,
        (leaf_bytes - signatures.min(leaf_bytes)) as f64 / txs as f64,
        (posted_vbytes as f64 - leaf_bytes as f64 / 4.0) / txs as f64,
        reveals,
        posted_vbytes as f64 * 10.0 / txs as f64,
    );

    // A follower with nothing but the genesis.
    let follower = Arc::new(Storage::open(&dir.path().join("follower"), &spec, options)?);
    let mut deriver = Deriver::new(follower.clone(), &rollup, Role::Follower)?;
    let mut source = block_source(&client, &rollup);
    let started = Instant::now();
    let mut updates = Vec::new();
    while let Some(update) = source.poll().await? {
        updates.push(update);
    }
    let fetched = started.elapsed();
    let started = Instant::now();
    for update in &updates {
        deriver.apply(update)?;
    }
    let derived = started.elapsed();
    anyhow::ensure!(
        follower.head().block.hash == l2.head().block.hash,
        "the follower's head differs from the sequencer's"
    );
    println!(
        "follower: read {} L1 blocks in {:.2} s, derived {blocks} blocks in {:.2} s: {:.0} blocks/s, {:.0} tx/s",
        updates.iter().map(|u| u.connected.len()).sum::<usize>(),
        fetched.as_secs_f64(),
        derived.as_secs_f64(),
        blocks as f64 / derived.as_secs_f64(),
        txs as f64 / derived.as_secs_f64(),
    );
    devnet.stop().await;
    Ok(())
}

fn block_source(client: &Client, rollup: &RollupConfig) -> BlockSource {
    BlockSource::from_height(
        client.clone(),
        rollup.l1.height + 1,
        BlockSourceConfig {
            poll_interval: Duration::from_millis(10),
            ..BlockSourceConfig::default()
        },
    )
}

fn transfer(
    signer: &PrivateKeySigner,
    nonce: u64,
    chain_id: u64,
    erc20: bool,
    fresh_recipients: bool,
) -> cairn_primitives::RecoveredTx {
    // Every transfer to a different, random-looking address: the worst case for
    // compression (real traffic repeats recipients).
    let recipient = if fresh_recipients {
        Address::from_slice(&alloy_primitives::keccak256(nonce.to_be_bytes())[..20])
    } else {
        Address::with_last_byte((nonce % 200) as u8 + 1)
    };
    let amount = U256::from(12_345u64 + nonce);
    let (to, value, input, gas_limit) = if erc20 {
        // transfer(address,uint256): selector, then both arguments as 32-byte words.
        let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
        data.extend_from_slice(&[0; 12]);
        data.extend_from_slice(recipient.as_slice());
        data.extend_from_slice(&amount.to_be_bytes::<32>());
        (Address::repeat_byte(0x7a), U256::ZERO, data.into(), 60_000)
    } else {
        (recipient, amount, Default::default(), 21_000)
    };
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 2,
        to: TxKind::Call(to),
        value,
        input,
        access_list: Default::default(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).expect("sign");
    decode_raw_transaction(&TxEnvelope::from(tx.into_signed(sig)).encoded_2718()).expect("decode")
}
