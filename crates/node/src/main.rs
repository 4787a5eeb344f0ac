//! The `cairn` binary: parse, build, launch.

use clap::Parser;

use cairn_node::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_target(true)
        .init();
    match cli.command {
        Command::Dev(args) => cairn_node::cli::run_dev(args).await,
        Command::Node(args) => cairn_node::cli::run_node(args).await,
        Command::Init(args) => cairn_node::rollup::run_init(args).await,
        Command::Deposit(args) => cairn_node::deposit::run(args).await,
        Command::Withdraw(args) => cairn_node::withdraw::run(args).await,
        Command::Signer(args) => cairn_node::cli::run_signer(args).await,
    }
}
