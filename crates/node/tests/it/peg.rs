//! The peg's deposits end to end on the embedded devnet: an address per L2 recipient from
//! `cairn_getDepositAddress`, a plain payment to it from the devnet wallet, the credit in
//! the next L2 block (as an EIP-4895 withdrawal entry), exactly once, and a follower that
//! checks the deposit against Bitcoin and reaches the same state. Deposits that do not
//! match Bitcoin are refused by the verifier every follower runs.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use bitcoin::hashes::Hash as _;
use bitcoin::{Amount, Network};
use cairn_bridge::{Peg, PegChecker};
use cairn_primitives::Deposit;
use cairn_settlement::derive::{PegRecordError, PegVerifier};
use cairn_settlement::l1blocks::{L1Blocks, fetch_block};

use crate::harness::*;

const SAT: u64 = 10_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_from_any_wallet_is_credited_once_and_a_follower_agrees() {
    let dir = tempfile::tempdir().expect("dir");
    let (devnet, sequencer, rollup) = peg_sequencer(dir.path()).await;
    let url = sequencer.node.http_url();
    let provider = ProviderBuilder::new().connect_http(url.parse().expect("url"));

    let bridge: serde_json::Value = provider
        .raw_request("cairn_getBridgeInfo".into(), ())
        .await
        .expect("bridge info");
    assert_eq!(bridge["threshold"], 3, "{bridge}");
    assert_eq!(bridge["signers"].as_array().map(Vec::len), Some(5));
    assert!(
        bridge["pegAddress"]
            .as_str()
            .is_some_and(|a| a.starts_with("bcrt1p"))
    );

    // A fresh L2 account gets its own address; asking twice gives the same one.
    let recipient = Address::repeat_byte(0x42);
    let answer: serde_json::Value = provider
        .raw_request("cairn_getDepositAddress".into(), (recipient,))
        .await
        .expect("deposit address");
    let address = answer["address"].as_str().expect("address").to_owned();
    assert!(address.starts_with("bcrt1p"), "{answer}");
    let again: serde_json::Value = provider
        .raw_request("cairn_getDepositAddress".into(), (recipient,))
        .await
        .expect("deposit address");
    assert_eq!(again, answer);
    let other: serde_json::Value = provider
        .raw_request(
            "cairn_getDepositAddress".into(),
            (Address::repeat_byte(0x43),),
        )
        .await
        .expect("deposit address");
    assert_ne!(other["address"], answer["address"]);
    let err = provider
        .raw_request::<_, serde_json::Value>(
            "cairn_getDepositAddress".into(),
            (recipient, B256::ZERO),
        )
        .await
        .expect_err("not a key");
    assert!(err.to_string().contains("not a valid BIP340"), "{err}");

    // A plain wallet payment, plus one below the minimum deposit.
    let to: bitcoin::Address = address
        .parse::<bitcoin::Address<_>>()
        .expect("parse")
        .require_network(Network::Regtest)
        .expect("regtest");
    let txid = devnet
        .client
        .send_to_address(&to, Amount::from_sat(50_000_000))
        .await
        .expect("pay");
    let dust_txid = devnet
        .client
        .send_to_address(&to, Amount::from_sat(600))
        .await
        .expect("pay");
    assert_eq!(balance(&url, recipient).await, U256::ZERO);
    devnet.mine(1).await;
    let want = U256::from(50_000_000u64) * U256::from(SAT);
    for _ in 0..400 {
        if balance(&url, recipient).await == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        balance(&url, recipient).await,
        want,
        "credited, dust is not"
    );

    let deposits: serde_json::Value = provider
        .raw_request("cairn_getDeposits".into(), (recipient,))
        .await
        .expect("deposits");
    let list = deposits.as_array().expect("list");
    assert_eq!(list.len(), 1, "{deposits}");
    assert_eq!(list[0]["txid"], txid.to_string());
    assert_eq!(list[0]["status"], "credited");
    assert_eq!(list[0]["amountSat"], "0x2faf080");
    assert!(!deposits.to_string().contains(&dust_txid.to_string()));
    let credit_block: u64 = list[0]["l2BlockNumber"]
        .as_str()
        .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
        .expect("block number");
    let block: serde_json::Value = provider
        .raw_request(
            "eth_getBlockByNumber".into(),
            (format!("{credit_block:#x}"), false),
        )
        .await
        .expect("block");
    let withdrawals = block["withdrawals"].as_array().expect("withdrawals");
    assert_eq!(withdrawals.len(), 1, "{block}");
    assert_eq!(withdrawals[0]["address"], format!("{recipient:#x}"));
    assert_eq!(withdrawals[0]["amount"], "0x1dcd6500", "500,000,000 gwei");

    // The supply is exactly genesis plus the deposit: nothing is created elsewhere.
    let supply = cairn_test_utils::supply(&provider).await;
    assert_eq!(supply["depositsCreditedSat"], "0x2faf080", "{supply}");
    assert_eq!(supply["unbackedWei"], "0x0", "{supply}");
    assert_eq!(supply["missingWei"], "0x0", "{supply}");

    // Offering the same deposit again credits nothing.
    let credited = sequencer
        .node
        .storage
        .block_by_number(credit_block)
        .expect("read")
        .expect("block")
        .block
        .deposits[0];
    sequencer.node.producer.offer_deposits([credited, credited]);
    let head = sequencer.node.storage.head_number();
    wait_for(|| sequencer.node.storage.head_number() > head + 2).await;
    assert_eq!(balance(&url, recipient).await, want, "exactly once");
    let again = cairn_test_utils::supply(&provider).await;
    assert_eq!(again["depositsCredited"], "0x1", "{again}");
    assert_eq!(again["l2SupplyWei"], supply["l2SupplyWei"]);

    // The batch carrying the credit reaches Bitcoin; a follower checks the deposit there
    // and derives the same block and balance.
    mine_until_batched(&devnet, &sequencer.node, "the credit's batch", credit_block).await;
    let follower = start_follower(&devnet, &sequencer, &rollup).await;
    wait_for(|| follower.storage.head_number() >= credit_block).await;
    let ours = follower
        .storage
        .block_by_number(credit_block)
        .expect("read")
        .expect("block");
    let theirs = sequencer
        .node
        .storage
        .block_by_number(credit_block)
        .expect("read")
        .expect("block");
    assert_eq!(ours.block.hash, theirs.block.hash);
    assert_eq!(ours.block.deposits, theirs.block.deposits);
    let followed = ProviderBuilder::new()
        .connect_http(follower.http_url().parse().expect("url"))
        .get_balance(recipient)
        .block_id(credit_block.into())
        .await
        .expect("balance");
    assert_eq!(followed, want);
    assert!(!settlement(&follower).applied.is_empty());

    // What every follower's verifier refuses: the same deposit with another amount,
    // recipient, output or block, or seen from a batch before its block.
    let peg = Peg::open(follower._dir.path(), &rollup, follower.storage.clone())
        .expect("peg")
        .expect("network has a peg");
    let verifier = PegChecker::new(peg);
    let deposit_height = devnet
        .client
        .get_block_header_info(&bitcoin::BlockHash::from_byte_array(credited.l1_block.0))
        .await
        .expect("header")
        .height;
    let tip = devnet.client.get_block_count().await.expect("tip");
    let cases: Vec<(Deposit, u32, Option<&str>)> = vec![
        (credited, tip, None),
        (
            Deposit {
                amount_sat: credited.amount_sat + 1,
                ..credited
            },
            tip,
            Some("pays 50000000 sat, not 50000001"),
        ),
        (
            Deposit {
                recipient: Address::repeat_byte(0x43),
                ..credited
            },
            tip,
            Some("does not pay the recipient's deposit address"),
        ),
        (
            Deposit {
                vout: 7,
                ..credited
            },
            tip,
            Some("no such output"),
        ),
        // A block a reorg replaced: the same transaction found on the best chain is the
        // same deposit; one found nowhere is refused.
        (
            Deposit {
                l1_block: B256::repeat_byte(9),
                ..credited
            },
            tip,
            None,
        ),
        (
            Deposit {
                l1_block: B256::repeat_byte(9),
                txid: B256::repeat_byte(8),
                ..credited
            },
            tip,
            Some("is unknown"),
        ),
        (
            Deposit {
                txid: B256::repeat_byte(9),
                ..credited
            },
            tip,
            Some("does not hold the transaction"),
        ),
        (credited, deposit_height - 1, Some("comes after the batch")),
    ];
    // The blocks derivation keeps: every block of the devnet, as the updates carried them.
    let mut connected = Vec::new();
    for height in 0..=tip {
        let hash = devnet.client.get_block_hash(height).await.expect("hash");
        connected.push((height, devnet.client.get_block(&hash).await.expect("block")));
    }
    let mut l1 = L1Blocks::default();
    l1.apply(&cairn_l1::ChainUpdate {
        disconnected: Vec::new(),
        connected,
    });
    for (deposit, height, want) in cases {
        let mut got = verifier.verify_deposit(&deposit, height, &l1);
        // A block derivation lacks is fetched, as the settlement task does, and checked again.
        if let Err(PegRecordError::Missing(hash)) = got {
            let fetched = fetch_block(&devnet.client, &hash).await.expect("fetch");
            l1.provide(hash, fetched.as_ref().map(|(h, b)| (*h, b)));
            got = verifier.verify_deposit(&deposit, height, &l1);
        }
        match want {
            None => assert_eq!(got, Ok(())),
            Some(text) => {
                let err = got.expect_err(text).to_string();
                assert!(err.contains(text), "{err} (wanted {text})");
            }
        }
    }
    follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawals_burn_btc_for_every_bitcoin_address_type_and_refuse_bad_ones() {
    use alloy::sol_types::SolCall as _;
    use cairn_execution::withdraw::{WITHDRAWAL_CONTRACT, withdrawCall};
    use cairn_l1::types::AddressType;

    let dir = tempfile::tempdir().expect("dir");
    let (devnet, sequencer, _rollup) = peg_sequencer(dir.path()).await;
    let provider = sequencer.provider(0);
    let bridge: serde_json::Value = provider
        .raw_request("cairn_getBridgeInfo".into(), ())
        .await
        .expect("bridge info");
    assert_eq!(
        bridge["withdrawalContract"],
        format!("{WITHDRAWAL_CONTRACT:#x}"),
        "{bridge}"
    );
    let request = |address: String| alloy::rpc::types::TransactionRequest {
        from: Some(sequencer.address(0)),
        to: Some(WITHDRAWAL_CONTRACT.into()),
        value: Some(U256::from(100_000u64) * U256::from(SAT)),
        input: alloy::primitives::Bytes::from(
            withdrawCall {
                bitcoinAddress: address,
            }
            .abi_encode(),
        )
        .into(),
        ..Default::default()
    };

    // Every address type a Bitcoin wallet hands out, each burned with one transaction.
    let mut hashes = Vec::new();
    for kind in ADDRESS_TYPES {
        let address = wallet_address(&devnet, kind).await.to_string();
        let pending = provider
            .send_transaction(request(address.clone()))
            .await
            .expect("sent");
        let receipt = pending.get_receipt().await.expect("receipt");
        assert!(receipt.status(), "{address}");
        let status: Vec<serde_json::Value> = provider
            .raw_request(
                "cairn_getWithdrawalStatus".into(),
                (receipt.transaction_hash,),
            )
            .await
            .expect("status");
        assert_eq!(status.len(), 1, "{status:?}");
        assert_eq!(status[0]["bitcoinAddress"], address);
        assert_eq!(status[0]["amountSat"], "0x186a0");
        assert_eq!(status[0]["sender"], format!("{:#x}", sequencer.address(0)));
        hashes.push(receipt.transaction_hash);
    }

    // The command-line helpers do the same: `cairn withdraw` burns, `cairn deposit` pays a
    // deposit address from a bitcoind wallet.
    let p2tr = devnet
        .client
        .get_new_address(None, Some(AddressType::Bech32m))
        .await
        .expect("address")
        .to_string();
    cairn_node::commands::withdraw::run(cairn_node::commands::withdraw::WithdrawArgs {
        private_key: sequencer.signer(1),
        to: p2tr,
        amount: Amount::from_sat(20_000),
        rpc_url: sequencer.node.http_url(),
        wait: false,
    })
    .await
    .expect("cairn withdraw");
    let to = Address::repeat_byte(0x77);
    cairn_node::commands::deposit::run(cairn_node::commands::deposit::DepositArgs {
        to,
        rpc_url: sequencer.node.http_url(),
        reclaim_key: None,
        amount: Some(Amount::from_sat(30_000)),
        l1_rpc_url: Some(devnet.server.rpc_url()),
        l1_rpc_cookie: Some(devnet.cookie().to_owned()),
        l1_rpc_user: None,
        l1_rpc_password: None,
        l1_network: Network::Regtest,
    })
    .await
    .expect("cairn deposit");
    devnet.mine(1).await;
    let url = sequencer.node.http_url();
    for _ in 0..400 {
        if balance(&url, to).await > U256::ZERO {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        balance(&url, to).await,
        U256::from(30_000u64) * U256::from(SAT)
    );

    // Refused with their reasons, at estimate time as wallets see it.
    let mainnet = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".to_owned();
    for (address, value, reason) in [
        (mainnet, 100_000u64, "is not for regtest"),
        (
            "bcrt1qbroken".to_owned(),
            100_000,
            "invalid Bitcoin address",
        ),
        (
            devnet
                .client
                .get_new_address(None, None)
                .await
                .expect("address")
                .to_string(),
            9_999,
            "below the minimum of 10000 sat",
        ),
    ] {
        let mut tx = request(address);
        tx.value = Some(U256::from(value) * U256::from(SAT));
        let err = provider.estimate_gas(tx).await.expect_err(reason);
        assert!(err.to_string().contains(reason), "{err}");
    }

    // The burned BTC is still counted in the supply, held by the contract.
    let supply = cairn_test_utils::supply(&provider).await;
    let burned = U256::from(420_000u64) * U256::from(SAT);
    assert_eq!(
        supply["withdrawalsBurnedWei"],
        format!("{burned:#x}"),
        "{supply}"
    );
    assert_eq!(supply["unbackedWei"], "0x0", "{supply}");
    assert_eq!(supply["missingWei"], "0x0", "{supply}");
    assert_eq!(supply["depositsCreditedSat"], "0x7530", "{supply}");
    let status: Vec<serde_json::Value> = provider
        .raw_request("cairn_getWithdrawalStatus".into(), (hashes[0],))
        .await
        .expect("status");
    assert_eq!(status[0]["status"], "requested");
    sequencer.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_bitcoind_drops_every_third_call_still_derives_the_deposits() {
    let net = cairn_test_utils::Network::setup(0, 0).await;
    let recipient = net.deposit(250_000).await;
    let credit_block = net
        .sequencer
        .node
        .storage
        .peg_blocks()
        .expect("peg blocks")
        .into_iter()
        .next()
        .expect("the credit's block");
    mine_until_batched(
        &net.devnet,
        &net.sequencer.node,
        "the credit's batch",
        credit_block,
    )
    .await;

    // A follower reaching Bitcoin through a link that drops every third call unanswered.
    let proxy = FlakyProxy::start(net.devnet.server.rpc_addr(), 3).await;
    let mut flaky = net.devnet.l1_config();
    flaky.rpc.url = proxy.url.clone();
    let mut net = net;
    let index = net.add_follower(|config| config.l1 = Some(flaky)).await;
    net.followers_agree_at(credit_block).await;
    let follower = &net.followers[index];
    assert_eq!(
        balance(&follower.node.http_url(), recipient).await,
        U256::from(250_000u64) * U256::from(SAT),
        "the follower credited the deposit it checked against Bitcoin"
    );
    assert!(
        proxy.dropped() >= 5,
        "the link really dropped calls ({} of {})",
        proxy.dropped(),
        proxy.calls()
    );
    net.shutdown().await;
}
