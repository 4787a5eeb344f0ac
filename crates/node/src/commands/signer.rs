//! `cairn signer`: a peg signer, a node following the network that signs the
//! coordinator's payouts only when its own derived state justifies them.

use std::path::PathBuf;

use clap::Args;

use super::node::{NodeArgs, SignerRuntime};

/// `cairn signer`'s options: a following node plus the signer's key.
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The signer's secret key file (hex, as `cairn init` and `cairn dev` write them):
    /// one of the federation's keys in `rollup.json`.
    #[arg(long)]
    pub key: PathBuf,
    /// Where the signer listener (`cairn_signPayout`, for the coordinator only) binds;
    /// never the public JSON-RPC port.
    #[arg(long, default_value = "127.0.0.1:8547")]
    pub signer_rpc_addr: std::net::SocketAddr,
    /// The secret the coordinator must present (`Authorization: Bearer …`); without it a
    /// fresh one is written to `<data-dir>/signer.cookie` at each start.
    #[arg(long, env = "CAIRN_SIGNER_RPC_TOKEN")]
    pub signer_rpc_token: Option<String>,
}

/// `cairn signer`: a following node that signs payouts, until Ctrl-C.
pub async fn run(args: SignerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.node.config.is_some(),
        "a signer needs the network's --config rollup.json"
    );
    anyhow::ensure!(
        args.node.sequencer_key.is_none(),
        "a signer is not the sequencer: drop --sequencer-key"
    );
    let key = crate::rollup::load_sequencer_key(&args.key)?;
    let runtime = SignerRuntime {
        key,
        rpc_addr: args.signer_rpc_addr,
        rpc_token: args.signer_rpc_token,
    };
    super::node::run_with(args.node, Some(runtime)).await
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser as _;

    use crate::commands::{Cli, Command};

    #[test]
    fn signers_and_the_coordinator_parse_as_documented() {
        let cli = Cli::try_parse_from([
            "cairn",
            "signer",
            "--config",
            "rollup.json",
            "--key",
            "signer.key",
            "--l1-rpc-url",
            "http://127.0.0.1:8332",
            "--l1-rpc-cookie",
            ".cookie",
            "--http-port",
            "9000",
            "--peg-max-fee-rate",
            "50",
        ])
        .expect("parses");
        let Command::Signer(args) = cli.command else {
            panic!("not the signer command");
        };
        assert_eq!(args.key, PathBuf::from("signer.key"));
        assert_eq!(args.node.config, Some(PathBuf::from("rollup.json")));
        assert_eq!(args.node.peg_max_fee_rate, 50);
        assert_eq!(args.node.l2.http_port, 9000);

        let cli = Cli::try_parse_from([
            "cairn",
            "node",
            "--config",
            "rollup.json",
            "--sequencer-key",
            "sequencer.key",
            "--l1-rpc-url",
            "http://127.0.0.1:8332",
            "--l1-rpc-cookie",
            ".cookie",
            "--signer-url",
            "http://a:1",
            "--signer-url",
            "http://b:2",
        ])
        .expect("parses");
        let Command::Node(args) = cli.command else {
            panic!("not the node command");
        };
        assert_eq!(args.signer_urls, ["http://a:1", "http://b:2"]);
        assert_eq!(
            args.peg_max_fee_rate,
            cairn_peg::policy::DEFAULT_MAX_FEE_RATE
        );
        // A signer URL means coordinating payouts: only the sequencer does that.
        let err = Cli::try_parse_from([
            "cairn",
            "node",
            "--config",
            "rollup.json",
            "--l1-rpc-url",
            "http://127.0.0.1:8332",
            "--signer-url",
            "http://a:1",
        ])
        .expect_err("needs the sequencer key");
        assert!(err.to_string().contains("--sequencer-key"), "{err}");
    }
}
