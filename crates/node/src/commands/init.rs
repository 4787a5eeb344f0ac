//! `cairn init`: a new network on a `bitcoind`, its `rollup.json` and sequencer key
//! (made by [`crate::rollup::init`] from the options given here).

use std::path::PathBuf;

use clap::Args;

use super::{L1RpcArgs, PegArgs};
use crate::rollup::{self, InitOptions};

/// `cairn init`'s options: a new network on a given `bitcoind`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub l1: L1RpcArgs,
    /// Where to write `rollup.json` and `sequencer.key`.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// EIP-155 chain id of the new network.
    #[arg(long)]
    pub chain_id: u64,
    /// Block gas limit.
    #[arg(long, default_value_t = cairn_primitives::DEFAULT_BLOCK_GAS_LIMIT)]
    pub gas_limit: u64,
    /// Bitcoin confirmations that make a batch final (default: 6 on mainnet, 3 on test
    /// networks, 2 on regtest).
    #[arg(long)]
    pub finality_depth: Option<u32>,
    /// Standby sequencers to create keys for (`sequencer-2.key`, …): each takes over, in
    /// order, when the one before stays silent on Bitcoin for `--sequencer-timeout` blocks.
    #[arg(long, default_value_t = 0)]
    pub standby_sequencers: u32,
    /// Bitcoin blocks without a batch after which the next sequencer of the set takes over
    /// (default: 6 on regtest, 36 elsewhere).
    #[arg(long)]
    pub sequencer_timeout: Option<u32>,
    #[command(flatten)]
    pub peg: PegArgs,
}

impl InitArgs {
    /// What [`rollup::init`] needs: how to reach bitcoind, and the peg's federation with
    /// its defaults for that Bitcoin network.
    pub fn options(&self) -> anyhow::Result<InitOptions> {
        let l1 = self.l1.l1_config()?;
        let peg = self.peg.spec(l1.network);
        Ok(InitOptions {
            l1,
            out: self.out.clone(),
            chain_id: self.chain_id,
            gas_limit: self.gas_limit,
            finality_depth: self.finality_depth,
            peg,
            min_withdrawal_sat: self.peg.min_withdrawal_sat,
            standby_sequencers: self.standby_sequencers,
            sequencer_timeout: self.sequencer_timeout,
        })
    }
}

/// `cairn init`: a new network on the given `bitcoind`, starting at its tip.
pub async fn run(args: InitArgs) -> anyhow::Result<()> {
    let (config_path, key_path) = rollup::init(&args.options()?).await?;
    let config = rollup::load(&config_path)?;
    println!(
        "Created a new Cairn network on Bitcoin {}:",
        config.l1.network.as_str()
    );
    println!("  config:          {}", config_path.display());
    println!(
        "  sequencer key:   {} (keep it secret; back it up)",
        key_path.display()
    );
    println!("  sequencer:       {}", config.sequencer_key);
    for (index, key) in config.sequencers.iter().enumerate().skip(1) {
        println!(
            "  standby {index}:       {key} ({}, for its operator)",
            args.out
                .join(rollup::sequencer_key_file(index as u32))
                .display()
        );
    }
    if config.sequencers.len() > 1 {
        println!(
            "  takeover after:  {} silent Bitcoin blocks",
            config.sequencer_timeout()
        );
    }
    println!("  chain id:        {}", config.chain.chain_id);
    println!(
        "  L1 start height: {} ({})",
        config.l1.height, config.l1.hash
    );
    println!("  finality depth:  {} confirmations", config.finality_depth);
    match &config.peg {
        Some(peg) => println!(
            "  peg:             {}-of-{} signers, recovery {}-of-{} after {} blocks, deposits after {} confirmation(s)",
            peg.threshold,
            peg.signers.len(),
            peg.recovery.threshold,
            peg.recovery.keys.len(),
            peg.recovery.delay,
            peg.deposit_confirmations
        ),
        None => println!("  peg:             none (no --peg-signers)"),
    }
    Ok(())
}
