//! The peg's tapscripts and the taproot outputs built from them.
//!
//! ```text
//! federation leaf  <k1> OP_CHECKSIG <k2> OP_CHECKSIGADD … <kN> OP_CHECKSIGADD <M> OP_NUMEQUAL
//! recovery leaf    <recovery delay> OP_CSV OP_DROP  <the same shape over the recovery keys>
//! reclaim leaf     <reclaim delay> OP_CSV OP_DROP <depositor key> OP_CHECKSIG
//!
//! peg output       internal key H (BIP341's NUMS point): {federation, recovery}
//! deposit address  internal key H + t·G, t = tagged_hash("cairn/deposit",
//!                  chain id ‖ L2 recipient ‖ reclaim key or 32 zero bytes):
//!                  {federation, reclaim} (or {federation, recovery} without a reclaim key)
//! ```
//!
//! Nobody knows the discrete logarithm of `H`, nor therefore of `H + t·G`: the key path is
//! closed and every spend shows which leaf (and so which rule) moved the coins.

use alloy_primitives::Address as L2Address;
use bitcoin::hashes::{Hash, HashEngine, sha256};
use bitcoin::key::{Parity, Secp256k1};
use bitcoin::opcodes::all::{OP_CHECKSIG, OP_CHECKSIGADD, OP_CSV, OP_DROP, OP_NUMEQUAL};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{PublicKey, Scalar, Verification, XOnlyPublicKey};
use bitcoin::taproot::{ControlBlock, LeafVersion, TaprootBuilder, TaprootSpendInfo};
use bitcoin::{Address, Network, ScriptBuf};

use crate::{Error, Federation, KeySet, Result};

/// BIP341's suggested provably unspendable internal key: the x coordinate of the SHA-256
/// of the standard uncompressed encoding of secp256k1's generator.
const NUMS_X: [u8; 32] = [
    0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b, 0x60, 0x35, 0xe9, 0x7a, 0x5e,
    0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec, 0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0,
];

/// The unspendable internal key `H`.
pub fn nums_key() -> XOnlyPublicKey {
    // NUMS_X is a valid x coordinate (BIP341 publishes it as one); a failure here would be
    // a corrupted constant, caught by the tests.
    XOnlyPublicKey::from_slice(&NUMS_X).unwrap_or_else(|_| unreachable!("BIP341's H"))
}

/// `M`-of-`N` over `set`: every key checked in order, the count of valid signatures
/// compared with `M`.
pub fn multisig_script(set: &KeySet) -> ScriptBuf {
    let mut builder = Builder::new();
    for (i, key) in set.keys.iter().enumerate() {
        builder = builder.push_x_only_key(key).push_opcode(if i == 0 {
            OP_CHECKSIG
        } else {
            OP_CHECKSIGADD
        });
    }
    builder
        .push_int(set.threshold as i64)
        .push_opcode(OP_NUMEQUAL)
        .into_script()
}

/// `script` behind a BIP68 relative delay of `blocks` blocks.
fn delayed(blocks: u16, script: &ScriptBuf) -> ScriptBuf {
    let mut bytes = Builder::new()
        .push_int(i64::from(blocks))
        .push_opcode(OP_CSV)
        .push_opcode(OP_DROP)
        .into_script()
        .into_bytes();
    bytes.extend_from_slice(script.as_bytes());
    ScriptBuf::from_bytes(bytes)
}

/// The recovery leaf: the recovery set's multisig after the recovery delay.
pub fn recovery_script(federation: &Federation) -> ScriptBuf {
    delayed(
        federation.recovery_delay,
        &multisig_script(&federation.recovery),
    )
}

/// The reclaim leaf: the depositor's own key after the reclaim delay.
pub fn reclaim_script(key: &XOnlyPublicKey, delay: u16) -> ScriptBuf {
    let check = Builder::new()
        .push_x_only_key(key)
        .push_opcode(OP_CHECKSIG)
        .into_script();
    delayed(delay, &check)
}

/// A taproot output with the federation leaf and one delayed fallback leaf.
#[derive(Debug, Clone)]
pub struct TapTree {
    spend_info: TaprootSpendInfo,
    federation_leaf: ScriptBuf,
    fallback_leaf: ScriptBuf,
}

impl TapTree {
    fn new<C: Verification>(
        secp: &Secp256k1<C>,
        internal: XOnlyPublicKey,
        federation_leaf: ScriptBuf,
        fallback_leaf: ScriptBuf,
    ) -> Result<Self> {
        let spend_info = TaprootBuilder::new()
            .add_leaf(1, federation_leaf.clone())
            .and_then(|b| b.add_leaf(1, fallback_leaf.clone()))
            .map_err(|e| Error::Config(format!("taproot tree: {e}")))?
            .finalize(secp, internal)
            .map_err(|_| Error::Config("taproot tree is incomplete".into()))?;
        Ok(Self {
            spend_info,
            federation_leaf,
            fallback_leaf,
        })
    }

    /// The output script (`OP_1 <output key>`).
    pub fn script_pubkey(&self) -> ScriptBuf {
        ScriptBuf::new_p2tr_tweaked(self.spend_info.output_key())
    }

    /// Its `bc1p`/`tb1p`/`bcrt1p` address.
    pub fn address(&self, network: Network) -> Address {
        Address::p2tr_tweaked(self.spend_info.output_key(), network)
    }

    /// The federation's M-of-N leaf.
    pub fn federation_leaf(&self) -> &ScriptBuf {
        &self.federation_leaf
    }

    /// The delayed leaf: recovery (peg outputs) or reclaim (deposits).
    pub fn fallback_leaf(&self) -> &ScriptBuf {
        &self.fallback_leaf
    }

    /// The control block proving `leaf` is in this tree.
    pub fn control_block(&self, leaf: &ScriptBuf) -> Result<ControlBlock> {
        self.spend_info
            .control_block(&(leaf.clone(), LeafVersion::TapScript))
            .ok_or_else(|| Error::Sign("the leaf is not in this output's tree".into()))
    }
}

/// Where the peg keeps its coins: swept deposits and withdrawal change.
#[derive(Debug, Clone)]
pub struct PegOutput {
    tree: TapTree,
}

impl PegOutput {
    /// `federation`'s peg output.
    pub fn new(federation: &Federation) -> Result<Self> {
        let secp = Secp256k1::verification_only();
        let tree = TapTree::new(
            &secp,
            nums_key(),
            multisig_script(&federation.signers),
            recovery_script(federation),
        )?;
        Ok(Self { tree })
    }

    /// Its scripts and keys.
    pub fn tree(&self) -> &TapTree {
        &self.tree
    }
}

/// One L2 recipient's deposit address.
#[derive(Debug, Clone)]
pub struct DepositOutput {
    tree: TapTree,
    /// The L2 account credited.
    pub recipient: L2Address,
    /// The depositor's reclaim key, if they gave one.
    pub reclaim_key: Option<XOnlyPublicKey>,
}

impl DepositOutput {
    /// The deposit address crediting `recipient` on chain `chain_id`. With `reclaim_key`
    /// the depositor can take the coins back after the reclaim delay; without, an
    /// uncredited deposit falls to the recovery set like any peg coin.
    pub fn new(
        federation: &Federation,
        chain_id: u64,
        recipient: L2Address,
        reclaim_key: Option<XOnlyPublicKey>,
    ) -> Result<Self> {
        let secp = Secp256k1::verification_only();
        let tweak = deposit_tweak(chain_id, recipient, reclaim_key.as_ref());
        let internal = PublicKey::from_x_only_public_key(nums_key(), Parity::Even)
            .add_exp_tweak(&secp, &tweak)
            .map_err(|e| Error::Config(format!("deposit key tweak: {e}")))?
            .x_only_public_key()
            .0;
        let fallback = match &reclaim_key {
            Some(key) => reclaim_script(key, federation.rules.reclaim_delay),
            None => recovery_script(federation),
        };
        let tree = TapTree::new(
            &secp,
            internal,
            multisig_script(&federation.signers),
            fallback,
        )?;
        Ok(Self {
            tree,
            recipient,
            reclaim_key,
        })
    }

    /// Its scripts and keys.
    pub fn tree(&self) -> &TapTree {
        &self.tree
    }
}

/// `t` for a deposit's internal key: a BIP340-style tagged hash of what the address
/// commits to.
fn deposit_tweak(chain_id: u64, recipient: L2Address, reclaim: Option<&XOnlyPublicKey>) -> Scalar {
    let tag = sha256::Hash::hash(b"cairn/deposit");
    let mut engine = sha256::Hash::engine();
    engine.input(tag.as_byte_array());
    engine.input(tag.as_byte_array());
    engine.input(&chain_id.to_be_bytes());
    engine.input(recipient.as_slice());
    engine.input(&reclaim.map_or([0; 32], |k| k.serialize()));
    let hash = sha256::Hash::from_engine(engine).to_byte_array();
    // A SHA-256 output is at or above the group order with probability ~2^-128.
    Scalar::from_be_bytes(hash).unwrap_or(Scalar::ONE)
}
