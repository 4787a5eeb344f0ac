//! Deposits swept by M of N signers, refused with fewer or forged signatures; the reclaim
//! and recovery leaves closed before their delays and open after.

use std::collections::BTreeMap;

use alloy_primitives::Address as L2Address;
use bitcoin::key::{Keypair, Secp256k1};
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness, absolute,
};
use cairn_l1::Client;
use cairn_peg::scripts::TapTree;
use cairn_peg::sign::{multisig_witness, sign_leaf, single_key_witness};
use cairn_peg::{DepositOutput, Federation, KeySet, PegOutput, PegRules};

const RECLAIM_DELAY: u16 = 5;
const RECOVERY_DELAY: u16 = 8;

pub struct Keys {
    pub signers: Vec<Keypair>,
    pub recovery: Vec<Keypair>,
    pub federation: Federation,
}

pub fn keypair(seed: u8) -> Keypair {
    Keypair::from_seckey_slice(&Secp256k1::new(), &[seed; 32]).expect("key")
}

pub fn x_only(k: &Keypair) -> XOnlyPublicKey {
    k.x_only_public_key().0
}

/// 3-of-5 signers, 2-of-3 recovery.
pub fn keys() -> Keys {
    let signers: Vec<_> = (1..=5).map(keypair).collect();
    let recovery: Vec<_> = (11..=13).map(keypair).collect();
    let federation = Federation {
        signers: KeySet {
            keys: signers.iter().map(x_only).collect(),
            threshold: 3,
        },
        recovery: KeySet {
            keys: recovery.iter().map(x_only).collect(),
            threshold: 2,
        },
        recovery_delay: RECOVERY_DELAY,
        rules: PegRules {
            reclaim_delay: RECLAIM_DELAY,
            deposit_confirmations: 1,
            min_deposit_sat: 10_000,
        },
    };
    Keys {
        signers,
        recovery,
        federation,
    }
}

/// The devnet (from the test kit) and an address of its wallet to mine to.
pub struct L1 {
    _devnet: cairn_test_utils::Devnet,
    pub client: Client,
    pub miner: bitcoin::Address,
}

pub async fn devnet(dir: &std::path::Path) -> L1 {
    let devnet = cairn_test_utils::devnet(dir).await;
    let client = devnet.client.clone();
    let miner = client.get_new_address(None, None).await.expect("address");
    L1 {
        _devnet: devnet,
        client,
        miner,
    }
}

impl L1 {
    pub async fn mine(&self, n: u32) {
        self.client
            .generate_to_address(n, &self.miner)
            .await
            .expect("mine");
    }

    /// Pays `amount` from the devnet wallet to `tree`'s address and mines it.
    pub async fn fund(&self, tree: &TapTree, amount: Amount) -> (OutPoint, TxOut) {
        let txid = self
            .client
            .send_to_address(&tree.address(Network::Regtest), amount)
            .await
            .expect("send");
        self.mine(1).await;
        let tx = cairn_test_utils::transaction(&self.client, &txid).await;
        let script = tree.script_pubkey();
        let vout = tx
            .output
            .iter()
            .position(|o| o.script_pubkey == script)
            .expect("paid output");
        (OutPoint::new(txid, vout as u32), tx.output[vout].clone())
    }

    pub async fn broadcast(&self, tx: &Transaction) -> Result<(), String> {
        self.client
            .send_raw_transaction(tx)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// One input (`sequence` for CSV), one output to `to`, 1,000 sat of fee.
fn spend(outpoint: OutPoint, prevout: &TxOut, to: ScriptBuf, sequence: u16) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::from_height(sequence),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: prevout.value - Amount::from_sat(1_000),
            script_pubkey: to,
        }],
    }
}

fn signatures(
    signers: &[&Keypair],
    tx: &Transaction,
    prevout: &TxOut,
    leaf: &ScriptBuf,
) -> BTreeMap<XOnlyPublicKey, bitcoin::secp256k1::schnorr::Signature> {
    signers
        .iter()
        .map(|k| {
            let sig = sign_leaf(k, tx, 0, std::slice::from_ref(prevout), leaf).expect("sign");
            (x_only(k), sig)
        })
        .collect()
}

#[test]
fn deposit_addresses_are_per_recipient_and_stable() {
    let k = keys();
    let alice = L2Address::repeat_byte(0xa1);
    let bob = L2Address::repeat_byte(0xb0);
    let address = |chain, who, reclaim| {
        DepositOutput::new(&k.federation, chain, who, reclaim)
            .expect("address")
            .tree()
            .address(Network::Regtest)
            .to_string()
    };
    let a = address(31337, alice, None);
    assert!(a.starts_with("bcrt1p"), "{a}");
    assert_eq!(a, address(31337, alice, None), "deterministic");
    assert_ne!(a, address(31337, bob, None), "per recipient");
    assert_ne!(a, address(1, alice, None), "per chain");
    assert_ne!(
        a,
        address(31337, alice, Some(x_only(&keypair(42)))),
        "per reclaim key"
    );
    let peg = PegOutput::new(&k.federation).expect("peg");
    assert_ne!(a, peg.tree().address(Network::Regtest).to_string());
    // The federation leaf is the same M-of-N script in every output.
    let leaf = peg.tree().federation_leaf();
    assert_eq!(leaf.len(), 5 * 34 + 2, "{leaf:?}");
    assert!(
        leaf.to_asm_string().ends_with("OP_PUSHNUM_3 OP_NUMEQUAL"),
        "{}",
        leaf.to_asm_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m_of_n_signers_sweep_a_deposit_and_fewer_or_forged_signatures_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let l1 = devnet(dir.path()).await;
    let k = keys();
    let deposit =
        DepositOutput::new(&k.federation, 31337, L2Address::repeat_byte(7), None).expect("deposit");
    let peg = PegOutput::new(&k.federation).expect("peg");
    let (outpoint, prevout) = l1.fund(deposit.tree(), Amount::from_sat(1_000_000)).await;

    let leaf = deposit.tree().federation_leaf();
    let control = deposit.tree().control_block(leaf).expect("control");
    let mut tx = spend(outpoint, &prevout, peg.tree().script_pubkey(), 0);

    // Two of five cannot even be assembled; smuggling a third key's slot with a signature
    // over another transaction is refused by Bitcoin's interpreter.
    let two = signatures(&[&k.signers[0], &k.signers[3]], &tx, &prevout, leaf);
    let err = multisig_witness(&k.federation.signers, &two, leaf, &control).expect_err("2 < 3");
    assert!(err.to_string().contains("2 of the 3"), "{err}");
    let mut other = tx.clone();
    other.output[0].value -= Amount::from_sat(1);
    let mut forged = two.clone();
    forged.extend(signatures(&[&k.signers[4]], &other, &prevout, leaf));
    tx.input[0].witness =
        multisig_witness(&k.federation.signers, &forged, leaf, &control).expect("assembled");
    let err = l1.broadcast(&tx).await.expect_err("forged signature");
    assert!(err.contains("mandatory-script-verify-flag-failed"), "{err}");

    // A signer outside the set does not count either.
    let mut outsider = two.clone();
    outsider.extend(signatures(&[&keypair(99)], &tx, &prevout, leaf));
    assert!(multisig_witness(&k.federation.signers, &outsider, leaf, &control).is_err());

    // Any three of the five: accepted and mined into the peg output.
    let three = signatures(
        &[&k.signers[1], &k.signers[2], &k.signers[4]],
        &tx,
        &prevout,
        leaf,
    );
    tx.input[0].witness =
        multisig_witness(&k.federation.signers, &three, leaf, &control).expect("assembled");
    l1.broadcast(&tx).await.expect("3-of-5 sweep accepted");
    // One 3-of-5 input: 41 bytes outside the witness, 3 signatures, 2 empty slots, the
    // 172-byte leaf and a 65-byte control block inside it (docs/PERFORMANCE.md).
    let input_weight = 41 * 4 + tx.input[0].witness.size();
    assert_eq!(input_weight, 601, "{}", tx.weight());
    assert_eq!(tx.weight().to_wu(), 815);
    l1.mine(1).await;
    let out = l1
        .client
        .get_tx_out(&tx.compute_txid(), 0, false)
        .await
        .expect("rpc")
        .expect("peg output exists");
    assert_eq!(out.value, Amount::from_sat(999_000));
    assert_eq!(out.script_pub_key.hex, peg.tree().script_pubkey());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depositor_reclaims_only_after_the_reclaim_delay() {
    let dir = tempfile::tempdir().expect("dir");
    let l1 = devnet(dir.path()).await;
    let k = keys();
    let depositor = keypair(50);
    let deposit = DepositOutput::new(
        &k.federation,
        31337,
        L2Address::repeat_byte(8),
        Some(x_only(&depositor)),
    )
    .expect("deposit");
    let (outpoint, prevout) = l1.fund(deposit.tree(), Amount::from_sat(500_000)).await;
    let leaf = deposit.tree().fallback_leaf();
    let control = deposit.tree().control_block(leaf).expect("control");
    let back = l1.miner.script_pubkey();

    // Too early: Bitcoin's relative lock (BIP68) keeps the spend out of the mempool.
    let mut reclaim = spend(outpoint, &prevout, back.clone(), RECLAIM_DELAY);
    let sig = sign_leaf(
        &depositor,
        &reclaim,
        0,
        std::slice::from_ref(&prevout),
        leaf,
    )
    .expect("sign");
    reclaim.input[0].witness = single_key_witness(&sig, leaf, &control);
    let err = l1.broadcast(&reclaim).await.expect_err("too early");
    assert!(err.contains("non-BIP68-final"), "{err}");

    // A spend whose own sequence is mature but below the leaf's delay fails the script's
    // OP_CHECKSEQUENCEVERIFY, however long one waits.
    l1.mine(u32::from(RECLAIM_DELAY) - 2).await;
    let mut short = spend(outpoint, &prevout, back, RECLAIM_DELAY - 1);
    let sig = sign_leaf(&depositor, &short, 0, std::slice::from_ref(&prevout), leaf).expect("sign");
    short.input[0].witness = single_key_witness(&sig, leaf, &control);
    let err = l1
        .broadcast(&short)
        .await
        .expect_err("sequence below the delay");
    assert!(err.contains("mandatory-script-verify-flag-failed"), "{err}");
    let err = l1.broadcast(&reclaim).await.expect_err("one block short");
    assert!(err.contains("non-BIP68-final"), "{err}");
    l1.mine(1).await;

    // Someone else's key cannot use the leaf; the depositor's can.
    let thief = keypair(51);
    let mut stolen = reclaim.clone();
    let sig = sign_leaf(&thief, &stolen, 0, std::slice::from_ref(&prevout), leaf).expect("sign");
    stolen.input[0].witness = single_key_witness(&sig, leaf, &control);
    let err = l1.broadcast(&stolen).await.expect_err("not the depositor");
    assert!(err.contains("mandatory-script-verify-flag-failed"), "{err}");
    l1.broadcast(&reclaim)
        .await
        .expect("reclaimed after the delay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_set_moves_peg_coins_only_after_the_recovery_delay() {
    let dir = tempfile::tempdir().expect("dir");
    let l1 = devnet(dir.path()).await;
    let k = keys();
    let peg = PegOutput::new(&k.federation).expect("peg");
    let (outpoint, prevout) = l1.fund(peg.tree(), Amount::from_sat(2_000_000)).await;
    let leaf = peg.tree().fallback_leaf();
    let control = peg.tree().control_block(leaf).expect("control");

    let mut tx = spend(outpoint, &prevout, l1.miner.script_pubkey(), RECOVERY_DELAY);
    let sigs = signatures(&[&k.recovery[0], &k.recovery[2]], &tx, &prevout, leaf);
    tx.input[0].witness =
        multisig_witness(&k.federation.recovery, &sigs, leaf, &control).expect("assembled");
    let err = l1.broadcast(&tx).await.expect_err("before the delay");
    assert!(err.contains("non-BIP68-final"), "{err}");
    // The federation's signers are not the recovery set.
    let sigs = signatures(&[&k.signers[0], &k.signers[1]], &tx, &prevout, leaf);
    assert!(multisig_witness(&k.federation.recovery, &sigs, leaf, &control).is_err());

    l1.mine(u32::from(RECOVERY_DELAY) - 1).await;
    l1.broadcast(&tx).await.expect("recovered after the delay");
}
