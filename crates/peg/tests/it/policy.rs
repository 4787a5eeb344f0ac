//! A signer's payout policy: an honest payout passes, is signed by 3 of 5 and accepted by
//! Bitcoin's interpreter at exactly the weight the policy priced; every way a coordinator
//! could bend it is refused.

use std::collections::BTreeMap;

use alloy_primitives::Address as L2Address;
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut};
use cairn_peg::policy::{
    CONTROL_LEN, FeePolicy, PayoutProposal, PegView, PendingWithdrawal, PolicyError, build_payout,
    check_payout, fee_shares, payout_commitment, signed_weight,
};
use cairn_peg::sign::{multisig_witness, sign_leaf};
use cairn_peg::{DepositOutput, PegOutput};

use crate::spends::{devnet, keys, x_only};

const POLICY: FeePolicy = FeePolicy {
    max_fee_rate: bitcoin::FeeRate::from_sat_per_vb_u32(50),
};

/// The payout of every pending withdrawal (in id order) from every coin at `sat_per_vb`.
fn payout(view: &PegView, federation: &cairn_peg::Federation, sat_per_vb: u32) -> PayoutProposal {
    let coins: Vec<OutPoint> = view.coins.keys().copied().collect();
    let ids: Vec<u64> = view.pending.keys().copied().collect();
    build_payout(
        view,
        federation,
        &coins,
        &ids,
        bitcoin::FeeRate::from_sat_per_vb_u32(sat_per_vb),
    )
    .expect("builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_payout_passes_is_signed_and_weighs_what_was_priced() {
    let dir = tempfile::tempdir().expect("dir");
    let l1 = devnet(dir.path()).await;
    let k = keys();
    let peg = PegOutput::new(&k.federation).expect("peg");
    let mut coins = BTreeMap::new();
    let mut leaves = BTreeMap::new();
    for n in 0..2u8 {
        let deposit = DepositOutput::new(&k.federation, 31337, L2Address::repeat_byte(n), None)
            .expect("deposit");
        let (outpoint, prevout) = l1.fund(deposit.tree(), Amount::from_sat(400_000)).await;
        coins.insert(outpoint, prevout);
        leaves.insert(outpoint, deposit);
    }
    let to_a = l1
        .client
        .get_new_address(None, None)
        .await
        .expect("address");
    let to_b = l1
        .client
        .get_new_address(None, Some(cairn_l1::types::AddressType::Legacy))
        .await
        .expect("address");
    let pending = BTreeMap::from([
        (
            1,
            PendingWithdrawal {
                script_pubkey: to_a.script_pubkey(),
                amount: Amount::from_sat(300_000),
            },
        ),
        (
            2,
            PendingWithdrawal {
                script_pubkey: to_b.script_pubkey(),
                amount: Amount::from_sat(250_000),
            },
        ),
    ]);
    let view = PegView {
        chain_id: 31337,
        coins: coins.clone(),
        pending,
        peg_script: peg.tree().script_pubkey(),
    };
    let proposal = payout(&view, &k.federation, 3);
    check_payout(&proposal, &view, &k.federation, &POLICY).expect("an honest payout passes");
    assert_eq!(
        proposal.tx.output[2].script_pubkey,
        payout_commitment(31337, &[1, 2])
    );

    // Three signers sign every input; the signed weight is the one the policy priced.
    let mut tx = proposal.tx.clone();
    let prevouts: Vec<TxOut> = tx
        .input
        .iter()
        .map(|i| coins[&i.previous_output].clone())
        .collect();
    for index in 0..tx.input.len() {
        let deposit = &leaves[&tx.input[index].previous_output];
        let leaf = deposit.tree().federation_leaf();
        let signatures = [&k.signers[0], &k.signers[2], &k.signers[3]]
            .iter()
            .map(|s| {
                let sig = sign_leaf(s, &proposal.tx, index, &prevouts, leaf).expect("sign");
                (x_only(s), sig)
            })
            .collect();
        let control = deposit.tree().control_block(leaf).expect("control");
        assert_eq!(control.serialize().len(), CONTROL_LEN);
        tx.input[index].witness =
            multisig_witness(&k.federation.signers, &signatures, leaf, &control).expect("witness");
    }
    assert_eq!(
        tx.weight(),
        signed_weight(&proposal.tx, &k.federation, CONTROL_LEN)
    );
    l1.broadcast(&tx).await.expect("Bitcoin accepts the payout");
    l1.mine(1).await;
    let paid = l1
        .client
        .get_tx_out(&tx.compute_txid(), 1, false)
        .await
        .expect("rpc")
        .expect("output");
    let fee = Amount::from_sat(800_000) - tx.output.iter().map(|o| o.value).sum::<Amount>();
    assert_eq!(
        paid.value,
        Amount::from_sat(250_000) - fee_shares(fee, 2)[1]
    );
}

#[test]
fn a_coordinator_cannot_bend_a_payout() {
    let k = keys();
    let peg_script = PegOutput::new(&k.federation)
        .expect("peg")
        .tree()
        .script_pubkey();
    let coin = |n: u8| {
        (
            OutPoint::new(bitcoin::Txid::from_byte_array([n; 32]), 0),
            TxOut {
                value: Amount::from_sat(500_000),
                script_pubkey: peg_script.clone(),
            },
        )
    };
    use bitcoin::hashes::Hash as _;
    let coins: BTreeMap<_, _> = [coin(1), coin(2)].into_iter().collect();
    let id = |n: u64| n;
    let honest_script = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([7; 20]));
    let thief_script = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([6; 20]));
    let pending = BTreeMap::from([(
        id(1),
        PendingWithdrawal {
            script_pubkey: honest_script.clone(),
            amount: Amount::from_sat(100_000),
        },
    )]);
    let view = PegView {
        chain_id: 7,
        coins,
        pending,
        peg_script: peg_script.clone(),
    };
    let check = |p: &PayoutProposal| check_payout(p, &view, &k.federation, &POLICY);
    let honest = payout(&view, &k.federation, 5);
    assert_eq!(check(&honest), Ok(()));
    // Outputs: the withdrawal, the commitment, the change.
    assert_eq!(honest.tx.output.len(), 3);

    // Paid to someone else.
    let mut p = honest.clone();
    p.tx.output[0].script_pubkey = thief_script.clone();
    assert!(matches!(
        check(&p),
        Err(PolicyError::WrongPayout { index: 0, .. })
    ));
    // Less than the fee rule allows (the coordinator pockets the difference as change).
    let mut p = honest.clone();
    p.tx.output[0].value -= Amount::from_sat(1);
    p.tx.output[2].value += Amount::from_sat(1);
    assert!(matches!(check(&p), Err(PolicyError::WrongPayout { .. })));
    // A withdrawal this signer has not finalized, or the same one twice.
    let mut p = honest.clone();
    p.withdrawals = vec![id(9)];
    assert_eq!(check(&p), Err(PolicyError::UnknownWithdrawal(id(9))));
    let mut p = honest.clone();
    p.withdrawals = vec![id(1), id(1)];
    p.tx.output.insert(1, p.tx.output[0].clone());
    assert_eq!(check(&p), Err(PolicyError::DuplicateWithdrawal(id(1))));
    // Change somewhere other than the peg.
    let mut p = honest.clone();
    p.tx.output[2].script_pubkey = thief_script.clone();
    assert_eq!(check(&p), Err(PolicyError::StrayOutput(2)));
    // An extra output, paid out of the change so the fee is unchanged.
    let mut p = honest.clone();
    p.tx.output[2].value -= Amount::from_sat(1_000);
    p.tx.output.push(TxOut {
        value: Amount::from_sat(1_000),
        script_pubkey: thief_script.clone(),
    });
    assert_eq!(check(&p), Err(PolicyError::StrayOutput(2)));
    // No commitment, a commitment to other withdrawals or another chain: the L2 could
    // not record the payout, so the withdrawal could be paid again.
    for wrong in [
        thief_script.clone(),
        payout_commitment(7, &[2]),
        payout_commitment(8, &[1]),
    ] {
        let mut p = honest.clone();
        p.tx.output[1].script_pubkey = wrong;
        assert_eq!(check(&p), Err(PolicyError::BadCommitment(1)));
    }
    let mut p = honest.clone();
    p.tx.output.remove(1);
    assert_eq!(check(&p), Err(PolicyError::BadCommitment(1)));
    // Keeping the change off the peg (it would go to the miner).
    let mut p = honest.clone();
    p.tx.output.remove(2);
    // Two coins of 500,000 less the 100,000 withdrawn.
    assert_eq!(
        check(&p),
        Err(PolicyError::MissingChange(Amount::from_sat(900_000)))
    );
    // Coins that are not the peg's, or spent twice.
    let mut p = honest.clone();
    p.tx.input[0].previous_output.vout = 5;
    assert!(matches!(check(&p), Err(PolicyError::UnknownInput(_))));
    let mut p = honest.clone();
    p.tx.input[1].previous_output = p.tx.input[0].previous_output;
    assert!(matches!(check(&p), Err(PolicyError::DuplicateInput(_))));
    // A fee above the ceiling burns the withdrawers' money.
    let greedy = payout(&view, &k.federation, 200);
    assert!(matches!(
        check(&greedy),
        Err(PolicyError::FeeTooHigh { .. })
    ));
    // Outputs above the inputs.
    let mut p = honest.clone();
    p.tx.output[2].value += Amount::from_sat(10_000_000);
    assert_eq!(check(&p), Err(PolicyError::Overspend));
    // Values chosen to overflow a naive sum are refused, not a crash.
    let mut p = honest.clone();
    p.tx.output[2].value = Amount::MAX;
    p.tx.output.push(TxOut {
        value: Amount::MAX,
        script_pubkey: peg_script.clone(),
    });
    assert_eq!(check(&p), Err(PolicyError::Overspend));
}
