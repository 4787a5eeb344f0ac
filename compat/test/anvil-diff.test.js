// Differential tracing against Anvil 1.7.1 (from npm): the same transactions from the
// same fresh key on cairn dev and on Anvil give the same callTracer tree and the same
// prestateTracer accounts. What differs is named: every frame's `gas` (the top frame
// shows the transaction's limit on Cairn, as geth does, and the limit less intrinsic gas
// on Anvil; inner frames get less on Cairn, whose EVM runs with the limit less the L1
// data fee's gas), the sender's balance (fees differ) and each chain's fee recipient.
// Accounts used by this file: a fresh key, funded with anvil_setBalance on both nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonRpcProvider, Network, Wallet, Interface, getCreateAddress } from 'ethers';
import { RPC_URL, TEST_TIMEOUT } from '../lib/env.js';
import { call, startAnvil } from '../lib/anvil.js';
import { contract as compiled } from '../lib/compile.js';

const T = { timeout: TEST_TIMEOUT };
const GAS_LIMIT = 3_000_000n;
const here = path.dirname(fileURLToPath(import.meta.url));
const COUNTER_BIN = '0x' + fs.readFileSync(path.join(here, '..', '..', 'crates', 'node', 'tests', 'it', 'Counter.bin'), 'utf8').trim();
const counterAbi = new Interface(['function inc(uint256 by)', 'function count() view returns (uint256)']);
const { abi: tokenAbi, bytecode: tokenBin } = compiled('CairnToken');
const token = new Interface(tokenAbi);

/** A forwarder's creation code: its runtime CALLs `target` with its calldata. */
function forwarder(target) {
  const runtime = '365f5f375f5f365f5f73' + target.slice(2).toLowerCase() + '5af15000';
  return '0x6022806009' + '5f395ff3' + runtime;
}

let anvil;
const nodes = {};

async function send(node, tx) {
  const sent = await node.wallet.sendTransaction({ gasLimit: GAS_LIMIT, ...tx });
  const receipt = await sent.wait(1, 20_000);
  assert.equal(receipt.status, 1, `${node.name}: ${JSON.stringify(tx).slice(0, 80)}`);
  return { hash: sent.hash, receipt, raw: await call(node.url, 'eth_getTransactionReceipt', [sent.hash]) };
}

before(async () => {
  anvil = await startAnvil();
  const key = Wallet.createRandom().privateKey;
  for (const [name, url] of [['cairn', RPC_URL], ['anvil', anvil.url]]) {
    const provider = new JsonRpcProvider(url, Network.from(31337), { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
    const wallet = new Wallet(key, provider);
    await call(url, 'anvil_setBalance', [wallet.address, '0x8ac7230489e80000']);
    nodes[name] = { name, url, wallet };
  }
  // The same transactions, from nonce 0, on both: the same addresses.
  for (const node of Object.values(nodes)) {
    const counter = getCreateAddress({ from: node.wallet.address, nonce: 0 });
    const fwd = getCreateAddress({ from: node.wallet.address, nonce: 1 });
    const tok = getCreateAddress({ from: node.wallet.address, nonce: 2 });
    await send(node, { data: COUNTER_BIN });
    await send(node, { data: forwarder(counter) });
    await send(node, { data: tokenBin + token.encodeDeploy(['Trace', 'TRC', 10n ** 24n]).slice(2) });
    node.nested = await send(node, { to: fwd, data: counterAbi.encodeFunctionData('inc', [5n]) });
    node.transfer = await send(node, { to: tok, data: token.encodeFunctionData('transfer', ['0x000000000000000000000000000000000000dEaD', 1234n]) });
    node.addresses = { counter, fwd, tok };
  }
  assert.deepEqual(nodes.cairn.addresses, nodes.anvil.addresses, 'same deployments');
});

after(() => anvil?.stop());

/** A callTracer frame without its gas, recursively. */
function withoutGas(frame) {
  const { gas, calls, ...rest } = frame;
  return calls ? { ...rest, calls: calls.map(withoutGas) } : rest;
}

for (const which of ['nested', 'transfer']) {
  test(`callTracer: the ${which} call traces alike on cairn dev and Anvil`, T, async () => {
    const trace = async (node) =>
      call(node.url, 'debug_traceTransaction', [node[which].hash, { tracer: 'callTracer', tracerConfig: { withLog: true } }]);
    const [ours, theirs] = [await trace(nodes.cairn), await trace(nodes.anvil)];
    assert.deepEqual(withoutGas(ours), withoutGas(theirs));
    const l1Gas = BigInt(nodes.cairn[which].raw.l1GasUsed);
    assert.ok(l1Gas > 0n, 'cairn dev charges an L1 data fee');
    // The top frame's gas is the transaction's limit, as geth reports it (go-ethereum
    // #27029); Anvil reports it less the intrinsic gas.
    assert.equal(BigInt(ours.gas), GAS_LIMIT);
    assert.ok(BigInt(theirs.gas) < GAS_LIMIT);
  });

  test(`prestateTracer: the ${which} call reads the same accounts and slots`, T, async () => {
    for (const diffMode of [false, true]) {
      const trace = async (node) =>
        call(node.url, 'debug_traceTransaction', [node[which].hash, { tracer: 'prestateTracer', tracerConfig: { diffMode } }]);
      const [ours, theirs] = [await trace(nodes.cairn), await trace(nodes.anvil)];
      const sender = nodes.cairn.wallet.address.toLowerCase();
      const strip = (state) => {
        const out = {};
        for (const [address, account] of Object.entries(state ?? {})) {
          const { balance, ...rest } = account;
          // The sender's balance differs (each chain's fees); the fee recipients differ.
          out[address] = address === sender ? rest : account;
        }
        return out;
      };
      // Each chain's block recipient takes the tip: a different account on each.
      const feeRecipients = [];
      for (const node of Object.values(nodes)) {
        const block = await call(node.url, 'eth_getBlockByNumber', [node[which].raw.blockNumber, false]);
        feeRecipients.push(block.miner.toLowerCase());
      }
      const pick = (state) =>
        Object.fromEntries(Object.entries(strip(state)).filter(([a]) => !feeRecipients.includes(a)));
      if (diffMode) {
        assert.deepEqual(pick(ours.pre), pick(theirs.pre), 'pre');
        assert.deepEqual(pick(ours.post), pick(theirs.post), 'post');
      } else {
        assert.deepEqual(pick(ours), pick(theirs));
      }
    }
  });
}
