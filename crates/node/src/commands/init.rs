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
