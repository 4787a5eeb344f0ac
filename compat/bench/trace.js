// debug_traceTransaction (callTracer) throughput on an ERC-20 transfer: cairn dev against
// Anvil 1.7.1 (from npm) in the same run, the same client, the same transaction.
//
//   node bench/trace.js --cairn-bin ../target/release/cairn [--seconds 10] [--concurrency 8]
//   node bench/trace.js --cairn-url http://127.0.0.1:8545 ...      (a cairn dev already running)
//
// Each node gets a fresh key (anvil_setBalance), deploys contracts/CairnToken.sol and makes
// one transfer; then `concurrency` HTTP clients trace that transfer back to back for
// `seconds`. Prints requests per second and latency percentiles per node (JSON with --json).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { JsonRpcProvider, Network, Wallet, Interface } from 'ethers';
import { call, startAnvil } from '../lib/anvil.js';
import { contract as compiled } from '../lib/compile.js';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const SECONDS = Number(arg('seconds', '10'));
const CONCURRENCY = Number(arg('concurrency', '8'));
const JSON_OUT = process.argv.includes('--json');

async function waitFor(url) {
  for (let i = 0; i < 300; i++) {
    try {
      return await call(url, 'eth_chainId');
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no node at ${url}`);
}

async function startCairn(bin) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-trace-bench-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(bin, ['dev', '--data-dir', dir, '--http-port', String(port), '--l1-rpc-port', String(port + 1), '--log', 'warn'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url);
  return { url, stop: () => { child.kill('SIGTERM'); fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** Deploys the token from a fresh key and transfers once; the transfer's hash. */
async function prepare(url) {
  const id = BigInt(await call(url, 'eth_chainId'));
  const provider = new JsonRpcProvider(url, Network.from(id), { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  const wallet = new Wallet(Wallet.createRandom().privateKey, provider);
  await call(url, 'anvil_setBalance', [wallet.address, '0x8ac7230489e80000']);
  const { abi, bytecode } = compiled('CairnToken');
  const token = new Interface(abi);
  const deploy = await wallet.sendTransaction({ data: bytecode + token.encodeDeploy(['Bench', 'BNC', 10n ** 24n]).slice(2) });
  const address = (await deploy.wait(1, 30_000)).contractAddress;
  const transfer = await wallet.sendTransaction({ to: address, data: token.encodeFunctionData('transfer', ['0x000000000000000000000000000000000000dEaD', 1n]) });
  await transfer.wait(1, 30_000);
  const trace = await call(url, 'debug_traceTransaction', [transfer.hash, { tracer: 'callTracer' }]);
  if (trace.type !== 'CALL' || trace.to.toLowerCase() !== address.toLowerCase()) throw new Error(`unexpected trace from ${url}`);
  return transfer.hash;
}

async function load(url, hash) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'debug_traceTransaction', params: [hash, { tracer: 'callTracer' }] });
  const latencies = [];
  const end = performance.now() + SECONDS * 1000;
  let errors = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const reply = await res.json();
      if (reply.error || reply.result?.type !== 'CALL') errors++;
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { requests: latencies.length, perSecond: latencies.length / elapsed, p50Ms: at(50), p99Ms: at(99), errors };
}

const cairn = arg('cairn-url') ? { url: arg('cairn-url'), stop: () => {} } : await startCairn(arg('cairn-bin', '../target/release/cairn'));
const anvil = await startAnvil();
try {
  const results = {};
  for (const [name, node] of [['cairn', cairn], ['anvil', anvil]]) {
    const hash = await prepare(node.url);
    await load(node.url, hash); // warm-up pass, discarded
    results[name] = await load(node.url, hash);
  }
  console.log(`debug_traceTransaction (callTracer, ERC-20 transfer), ${CONCURRENCY} clients, ${SECONDS} s`);
  for (const [name, r] of Object.entries(results)) {
    console.log(`${name.padEnd(6)} ${r.perSecond.toFixed(0).padStart(7)} traces/s   p50 ${r.p50Ms.toFixed(2)} ms   p99 ${r.p99Ms.toFixed(2)} ms   errors ${r.errors}`);
  }
  console.log(`cairn/anvil: ${(results.cairn.perSecond / results.anvil.perSecond).toFixed(2)}×`);
  if (JSON_OUT) console.log(JSON.stringify(results));
} finally {
  cairn.stop();
  anvil.stop();
}
