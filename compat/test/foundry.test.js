// Foundry (cast and forge 1.7.1, from the npm registry) against cairn dev, as a developer
// uses it: deploy and call with `cast send`, then `cast proof` (eth_getProof), `cast
// access-list` (eth_createAccessList), `cast run` (re-executes a mined transaction
// locally), `cast rpc debug_traceTransaction` with the callTracer; `forge script
// --broadcast` deploying the compat/forge project and `forge test --fork-url` reading it
// back. forge compiles with solcjs behind compat/bin/solc.
// Accounts used by this file: dev account 1.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { keccak256 } from 'ethers';
import { RPC_URL, TEST_TIMEOUT, devWallet, rpc } from '../lib/env.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const CAST = path.join(path.dirname(require.resolve('@foundry-rs/cast-linux-amd64/package.json')), 'bin', 'cast');
const FORGE = path.join(path.dirname(require.resolve('@foundry-rs/forge-linux-amd64/package.json')), 'bin', 'forge');
const here = path.dirname(fileURLToPath(import.meta.url));
const PROJECT = path.join(here, '..', 'forge');
const SOLC = path.join(here, '..', 'bin', 'solc');
const COUNTER_BIN = fs.readFileSync(path.join(here, '..', '..', 'crates', 'node', 'tests', 'it', 'Counter.bin'), 'utf8').trim();
const T = { timeout: TEST_TIMEOUT };
const wallet = devWallet(1);

async function cast(...args) {
  const [command, ...rest] = args;
  const { stdout } = await run(CAST, [command, '--rpc-url', RPC_URL, ...rest], { timeout: 25_000 });
  return stdout.trim();
}

let counter;
let incHash;

before(async () => {
  const deployed = JSON.parse(await cast('send', '--json', '--private-key', wallet.privateKey, '--create', `0x${COUNTER_BIN}`));
  assert.equal(deployed.status, '0x1');
  counter = deployed.contractAddress;
  const inc = JSON.parse(await cast('send', '--json', '--private-key', wallet.privateKey, counter, 'inc(uint256)', '5'));
  assert.equal(inc.status, '0x1');
  incHash = inc.transactionHash;
});

test('cast proof returns the slot written and proofs for it', T, async () => {
  const proof = JSON.parse(await cast('proof', counter, '0'));
  assert.equal(proof.address.toLowerCase(), counter.toLowerCase());
  assert.equal(proof.nonce, '0x1', 'a contract starts at nonce 1');
  assert.equal(BigInt(proof.storageProof[0].value), 5n);
  assert.ok(proof.accountProof.length > 0 && proof.storageProof[0].proof.length > 0);
  const code = await rpc('eth_getCode', [counter, 'latest']);
  assert.equal(proof.codeHash, keccak256(code));
});

test('cast access-list names the counter slot', T, async () => {
  const list = JSON.parse(await cast('access-list', counter, 'inc(uint256)', '3', '--from', wallet.address, '--json'));
  assert.deepEqual(list.accessList, [
    { address: counter.toLowerCase(), storageKeys: ['0x' + '0'.repeat(64)] },
  ]);
  assert.ok(BigInt(list.gasUsed) > 21_000n);
});

test('cast run re-executes the mined transaction', T, async () => {
  const out = await cast('run', incHash);
  assert.match(out, /Transaction successfully executed/);
  assert.match(out, /812600df/i, 'the trace shows the inc(uint256) call');
  // With the opcode printer: the counter's SSTORE is in the step trace.
  const steps = await cast('run', incHash, '--trace-printer');
  assert.match(steps, /SSTORE/);
});

test('debug_traceTransaction callTracer through cast rpc', T, async () => {
  const trace = JSON.parse(await cast('rpc', 'debug_traceTransaction', JSON.stringify([incHash, { tracer: 'callTracer' }]), '--raw'));
  assert.equal(trace.type, 'CALL');
  assert.equal(trace.to.toLowerCase(), counter.toLowerCase());
  assert.equal(trace.from.toLowerCase(), wallet.address.toLowerCase());
  assert.ok(trace.input.startsWith('0x812600df'));
});

/** Runs forge in the compat/forge project; its JSON output's last line, parsed. */
async function forge(args, env = {}) {
  const { stdout } = await run(FORGE, [...args, '--use', SOLC, '--json'], {
    cwd: PROJECT,
    timeout: 120_000,
    maxBuffer: 64 << 20,
    env: { ...process.env, ...env },
  });
  const lines = stdout.trim().split('\n');
  return lines.map((l) => JSON.parse(l));
}

test('forge script --broadcast deploys and calls Tally; forge test --fork-url reads it', { timeout: 240_000 }, async () => {
  fs.rmSync(path.join(PROJECT, 'broadcast'), { recursive: true, force: true });
  // forge sizes each transaction's gas from its own simulation, which knows nothing of
  // the L1 data fee Cairn adds to the limit: give it room, as on other rollups that
  // charge for L1 data in gas.
  await forge([
    'script', 'script/Deploy.s.sol', '--rpc-url', RPC_URL, '--broadcast',
    '--gas-estimate-multiplier', '200', '--private-key', wallet.privateKey,
  ]);
  const id = BigInt(await rpc('eth_chainId'));
  const record = JSON.parse(fs.readFileSync(path.join(PROJECT, 'broadcast', 'Deploy.s.sol', id.toString(), 'run-latest.json'), 'utf8'));
  assert.equal(record.receipts.length, 2, 'the deployment and the add(3) call');
  assert.ok(record.receipts.every((r) => r.status === '0x1'));
  const tally = record.transactions[0].contractAddress;
  const total = await rpc('eth_call', [{ to: tally, data: '0x2ddbd13a' }, 'latest']);
  assert.equal(BigInt(total), 3n, 'total() on the chain');
  const creator = await rpc('eth_call', [{ to: tally, data: '0x02d05d3f' }, 'latest']);
  assert.equal(BigInt(creator), BigInt(wallet.address), 'creator() is the broadcasting key');

  const results = await forge(['test', '--fork-url', RPC_URL], { TALLY: tally });
  const suites = Object.values(results.at(-1));
  const tests = Object.assign({}, ...suites.map((s) => s.test_results));
  assert.deepEqual(Object.keys(tests).sort(), [
    'test_reads_the_deployed_state()',
    'test_the_create2_deployer_is_there()',
    'test_writes_stay_in_the_fork()',
  ]);
  for (const [name, r] of Object.entries(tests)) assert.equal(r.status, 'Success', `${name}: ${r.reason}`);
  // The fork's writes stayed in the fork.
  assert.equal(BigInt(await rpc('eth_call', [{ to: tally, data: '0x2ddbd13a' }, 'latest'])), 3n);
});
