// Foundry's cast (1.7.1, from the npm registry) against cairn dev, as a developer uses it:
// deploy and call with `cast send`, then `cast proof` (eth_getProof), `cast access-list`
// (eth_createAccessList), `cast run` (re-executes a mined transaction locally) and
// `cast rpc debug_traceTransaction` with the callTracer.
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
const here = path.dirname(fileURLToPath(import.meta.url));
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
});

test('debug_traceTransaction callTracer through cast rpc', T, async () => {
  const trace = JSON.parse(await cast('rpc', 'debug_traceTransaction', JSON.stringify([incHash, { tracer: 'callTracer' }]), '--raw'));
  assert.equal(trace.type, 'CALL');
  assert.equal(trace.to.toLowerCase(), counter.toLowerCase());
  assert.equal(trace.from.toLowerCase(), wallet.address.toLowerCase());
  assert.ok(trace.input.startsWith('0x812600df'));
});
