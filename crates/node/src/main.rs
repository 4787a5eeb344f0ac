//! The `cairn` binary: parse, dispatch to the subcommand's `run`.

use clap::Parser;

use cairn_node::commands::{self, Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_target(true)
        .init();
    match cli.command {
        Command::Dev(args) => commands::dev::run(args).await,
        Command::Node(args) => commands::node::run(args).await,
        Command::Init(args) => commands::init::run(args).await,
        Command::Deposit(args) => commands::deposit::run(args).await,
        Command::Withdraw(args) => commands::withdraw::run(args).await,
        Command::ForceSend(args) => commands::force_send::run(args).await,
        Command::Signer(args) => commands::signer::run(args).await,
    }
}
