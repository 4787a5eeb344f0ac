//! Bytes a payout spends per withdrawal: payouts of 1, 10 and 100 withdrawals (P2WPKH and
//! P2TR recipients) from one peg coin, and from one peg coin plus 10 deposits it sweeps,
//! with a 3-of-5 federation (or `--signers N --threshold M`). Sizes are of the signed
//! transaction; `signed_weight` equals the real signed weight (asserted against Bitcoin's
//! interpreter in `tests/it/policy.rs`).
//!
//! `cargo run --release -p cairn-peg --example payout_size`

use std::collections::BTreeMap;

use alloy_primitives::Address;
use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, Secp256k1};
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, Txid};
use cairn_peg::policy::{CONTROL_LEN, PegView, PendingWithdrawal, build_payout, signed_weight};
use cairn_peg::{DepositOutput, Federation, KeySet, PegOutput, PegRules};

fn keys(count: usize, seed: u8) -> Vec<bitcoin::secp256k1::XOnlyPublicKey> {
    let secp = Secp256k1::new();
    (0..count)
        .map(|i| {
            let secret = [seed.wrapping_add(i as u8).max(1); 32];
            Keypair::from_seckey_slice(&secp, &secret)
                .expect("key")
                .x_only_public_key()
                .0
        })
        .collect()
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let signers = arg("--signers", 5);
    let threshold = arg("--threshold", 3);
    let federation = Federation {
        signers: KeySet {
            keys: keys(signers, 1),
            threshold,
        },
        recovery: KeySet {
            keys: keys(3, 100),
            threshold: 2,
        },
        recovery_delay: 1_008,
        rules: PegRules {
            reclaim_delay: 144,
            deposit_confirmations: 1,
            min_deposit_sat: 1_000,
        },
    };
    let peg = PegOutput::new(&federation).expect("peg");
    let p2wpkh = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([7; 20]));
    let p2tr = ScriptBuf::new_p2tr_tweaked(
        bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(keys(1, 200)[0]),
    );
    println!("{threshold}-of-{signers} federation; sizes of the signed payout");
    println!("| recipients | withdrawals | inputs | vbytes | vbytes per withdrawal |");
    println!("|---|---|---|---|---|");
    for (kind, script) in [("P2WPKH", &p2wpkh), ("P2TR", &p2tr)] {
        for deposits in [0usize, 10] {
            for count in [1usize, 10, 100] {
                let mut view = PegView {
                    chain_id: 31337,
                    coins: BTreeMap::new(),
                    pending: BTreeMap::new(),
                    peg_script: peg.tree().script_pubkey(),
                };
                let mut coins = vec![OutPoint::new(Txid::from_byte_array([1; 32]), 0)];
                view.coins.insert(
                    coins[0],
                    TxOut {
                        value: Amount::from_int_btc(100),
                        script_pubkey: peg.tree().script_pubkey(),
                    },
                );
                for d in 0..deposits {
                    let outpoint = OutPoint::new(Txid::from_byte_array([2 + d as u8; 32]), 1);
                    let address =
                        DepositOutput::new(&federation, 31337, Address::repeat_byte(d as u8), None)
                            .expect("deposit");
                    view.coins.insert(
                        outpoint,
                        TxOut {
                            value: Amount::from_sat(50_000),
                            script_pubkey: address.tree().script_pubkey(),
                        },
                    );
                    coins.push(outpoint);
                }
                for id in 0..count as u64 {
                    view.pending.insert(
                        id,
                        PendingWithdrawal {
                            script_pubkey: script.clone(),
                            amount: Amount::from_sat(100_000),
                        },
                    );
                }
                let ids: Vec<u64> = view.pending.keys().copied().collect();
                let proposal = build_payout(
                    &view,
                    &federation,
                    &coins,
                    &ids,
                    bitcoin::FeeRate::from_sat_per_vb_u32(10),
                )
                .expect("payout");
                let vbytes = signed_weight(&proposal.tx, &federation, CONTROL_LEN).to_vbytes_ceil();
                println!(
                    "| {kind} | {count} | {} | {vbytes} | {:.1} |",
                    coins.len(),
                    vbytes as f64 / count as f64
                );
            }
        }
    }
}
