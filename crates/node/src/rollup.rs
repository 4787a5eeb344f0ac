//! A network's identity on disk: `rollup.json` (see [`RollupConfig`]) and the sequencer's
//! key file. `cairn init` creates both for a new network on a `bitcoind`; `cairn dev`
//! creates them in its data dir on first start and checks them on every start after.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
use cairn_primitives::{
    ChainSpec, L1Network, L1Start, PegSpec, ROLLUP_CONFIG_VERSION, RecoverySpec, RollupConfig,
};

use crate::L1Config;

/// The config file's name.
pub const ROLLUP_FILE: &str = "rollup.json";
/// The sequencer key file's name.
pub const SEQUENCER_KEY_FILE: &str = "sequencer.key";

/// The rollup config's name for a rust-bitcoin network.
pub fn l1_network(network: bitcoin::Network) -> L1Network {
    match network {
        bitcoin::Network::Bitcoin => L1Network::Main,
        bitcoin::Network::Testnet => L1Network::Test,
        bitcoin::Network::Testnet4 => L1Network::Testnet4,
        bitcoin::Network::Signet => L1Network::Signet,
        _ => L1Network::Regtest,
    }
}

/// The rust-bitcoin network of a rollup config's L1 network.
pub fn bitcoin_network(network: L1Network) -> bitcoin::Network {
    cairn_execution::withdraw::bitcoin_network(network)
}

/// Writes a new random sequencer key (hex secret, owner-only) and returns it.
pub fn create_sequencer_key(path: &Path) -> anyhow::Result<Keypair> {
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(&rand::random::<[u8; 32]>())
        .context("the random generator produced an invalid key")?;
    let keypair = Keypair::from_secret_key(&secp, &secret);
    write_private(path, &format!("{}\n", hex::encode(secret.secret_bytes())))?;
    Ok(keypair)
}

/// Reads a sequencer key file.
pub fn load_sequencer_key(path: &Path) -> anyhow::Result<Keypair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the sequencer key {}", path.display()))?;
    let bytes = hex::decode(text.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .with_context(|| format!("{} does not hold a 32-byte hex secret key", path.display()))?;
    let secret = SecretKey::from_slice(&bytes)
        .with_context(|| format!("{} holds an invalid secp256k1 key", path.display()))?;
    Ok(Keypair::from_secret_key(&Secp256k1::new(), &secret))
}

/// The x-only public key of `keypair` in hex, as `rollup.json` names the sequencer.
pub fn public_key_hex(keypair: &Keypair) -> String {
    keypair.x_only_public_key().0.to_string()
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Reads and validates a `rollup.json`.
pub fn load(path: &Path) -> anyhow::Result<RollupConfig> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    RollupConfig::from_json(&bytes)
        .with_context(|| format!("{} is not a valid rollup config", path.display()))
}

/// `cairn dev`'s network: created in `dir` on first start (key, config with the devnet's
/// tip as the start height), then loaded and checked against `spec` on every start.
pub async fn dev_network(
    dir: &Path,
    spec: &ChainSpec,
    l1: &cairn_l1::Client,
    finality_depth: u32,
) -> anyhow::Result<(RollupConfig, Keypair)> {
    let (config_path, key_path) = (dir.join(ROLLUP_FILE), dir.join(SEQUENCER_KEY_FILE));
    if config_path.exists() {
        let config = load(&config_path)?;
        let keypair = load_sequencer_key(&key_path)?;
        anyhow::ensure!(
            config.chain == *spec,
            "{} describes another chain than this command line (chain id {} vs {}): use another --data-dir",
            config_path.display(),
            config.chain.chain_id,
            spec.chain_id
        );
        anyhow::ensure!(
            config.sequencer_key == public_key_hex(&keypair),
            "{} does not belong to the sequencer key in {}",
            config_path.display(),
            key_path.display()
        );
        return Ok((config, keypair));
    }
    std::fs::create_dir_all(dir)?;
    let keypair = create_sequencer_key(&key_path)?;
    // A chain with the withdrawal contract gets a federation to pay the withdrawals.
    let peg = match spec.withdrawals {
        Some(_) => Some(create_dev_federation(&dir.join(PEG_KEYS_DIR))?),
        None => None,
    };
    let config = new_config(spec.clone(), &keypair, l1, finality_depth, peg).await?;
    write_config(&config_path, &config)?;
    Ok((config, keypair))
}

/// `cairn dev`'s smallest withdrawal (sat).
pub const DEV_MIN_WITHDRAWAL_SAT: u64 = 10_000;

/// Where `cairn dev` keeps its federation's keys.
pub const PEG_KEYS_DIR: &str = "peg-keys";

/// `cairn dev`'s federation: 3-of-5 signers and a 2-of-3 recovery set, their secret keys
/// in `dir` (`signer-1.key` … `signer-5.key`, `recovery-1.key` …), one confirmation per
/// deposit, and delays sized for 10-second devnet blocks.
pub fn create_dev_federation(dir: &Path) -> anyhow::Result<PegSpec> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keys = |prefix: &str, count: usize| -> anyhow::Result<Vec<String>> {
        (1..=count)
            .map(|i| {
                let key = create_sequencer_key(&dir.join(format!("{prefix}-{i}.key")))?;
                Ok(public_key_hex(&key))
            })
            .collect()
    };
    Ok(PegSpec {
        signers: keys("signer", 5)?,
        threshold: 3,
        recovery: RecoverySpec {
            keys: keys("recovery", 3)?,
            threshold: 2,
            // A week of 10-minute blocks; on the devnet's 10-second blocks, ~3 hours.
            delay: 1_008,
        },
        reclaim_delay: 144,
        deposit_confirmations: 1,
        min_deposit_sat: 1_000,
        rotations: Vec::new(),
    })
}

/// The dev federation's signer keys (`signer-1.key` … in `<data-dir>/peg-keys`), those
/// that exist.
pub fn load_dev_signers(data_dir: &Path) -> anyhow::Result<Vec<Keypair>> {
    let dir = data_dir.join(PEG_KEYS_DIR);
    let mut keys = Vec::new();
    for i in 1.. {
        let path = dir.join(format!("signer-{i}.key"));
        if !path.exists() {
            break;
        }
        keys.push(load_sequencer_key(&path)?);
    }
    Ok(keys)
}

/// A new network starting at `l1`'s current tip.
async fn new_config(
    chain: ChainSpec,
    keypair: &Keypair,
    l1: &cairn_l1::Client,
    finality_depth: u32,
    peg: Option<PegSpec>,
) -> anyhow::Result<RollupConfig> {
    let info = l1.get_blockchain_info().await?;
    let config = RollupConfig {
        version: ROLLUP_CONFIG_VERSION,
        chain,
        sequencer_key: public_key_hex(keypair),
        l1: L1Start {
            network: l1_network(l1.network()),
            height: info.blocks,
            hash: info.best_block_hash.to_string(),
        },
        finality_depth,
        peg,
        forced_inclusion_window: None,
        sequencers: Vec::new(),
        sequencer_timeout: None,
    };
    config.validate()?;
    Ok(config)
}

fn write_config(path: &Path, config: &RollupConfig) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, config.to_json())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// What [`init`] creates a network from (`cairn init` builds it from its options).
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The `bitcoind` the network settles on; the network starts at its tip.
    pub l1: L1Config,
    /// Where to write `rollup.json` and `sequencer.key`.
    pub out: PathBuf,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Bitcoin confirmations that make a batch final (`None`: the network's default).
    pub finality_depth: Option<u32>,
    /// The peg's federation (`None`: a network without a peg).
    pub peg: Option<PegSpec>,
    /// Smallest withdrawal in satoshis (with a peg).
    pub min_withdrawal_sat: u64,
    /// Standby members of the sequencer set to create keys for (`sequencer-2.key`, …,
    /// handed to their operators), in takeover order after the first.
    pub standby_sequencers: u32,
    /// Bitcoin blocks of silence before the next member takes over (`None`: the
    /// network's default).
    pub sequencer_timeout: Option<u32>,
}

/// The key file of the set's member `index` (0: `sequencer.key`).
pub fn sequencer_key_file(index: u32) -> String {
    match index {
        0 => SEQUENCER_KEY_FILE.to_owned(),
        i => format!("sequencer-{}.key", i + 1),
    }
}

/// Creates `rollup.json` and `sequencer.key` in `options.out`; refuses to overwrite either.
pub async fn init(options: &InitOptions) -> anyhow::Result<(PathBuf, PathBuf)> {
    let l1 = &options.l1;
    let client = cairn_l1::Client::connect(&l1.rpc, l1.network)
        .await
        .with_context(|| format!("cannot use the Bitcoin node at {}", l1.rpc.url))?;
    std::fs::create_dir_all(&options.out)?;
    let (config_path, key_path) = (
        options.out.join(ROLLUP_FILE),
        options.out.join(SEQUENCER_KEY_FILE),
    );
    anyhow::ensure!(
        !config_path.exists(),
        "{} already exists: a network is created once",
        config_path.display()
    );
    let mut chain = ChainSpec::dev(options.chain_id, Default::default());
    chain.block_gas_limit = options.gas_limit;
    chain.validate()?;
    let depth = options
        .finality_depth
        .unwrap_or_else(|| l1_network(l1.network).default_finality_depth());
    let peg = options.peg.clone();
    if let Some(peg) = &peg {
        peg.validate()?;
        chain.withdrawals = Some(cairn_primitives::WithdrawalSpec {
            network: l1_network(l1.network),
            min_sat: options.min_withdrawal_sat,
        });
        chain.validate()?;
    }
    let keypair = create_sequencer_key(&key_path)?;
    let mut config = new_config(chain, &keypair, &client, depth, peg).await?;
    if options.standby_sequencers > 0 {
        config.sequencers = vec![config.sequencer_key.clone()];
        for index in 1..=options.standby_sequencers {
            let path = options.out.join(sequencer_key_file(index));
            config
                .sequencers
                .push(public_key_hex(&create_sequencer_key(&path)?));
        }
    }
    config.sequencer_timeout = options.sequencer_timeout;
    config.validate()?;
    write_config(&config_path, &config)?;
    Ok((config_path, key_path))
}
