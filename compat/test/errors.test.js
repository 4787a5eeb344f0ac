// Error behaviour a geth-compatible node must show: transaction rejection
// messages, JSON-RPC error codes, batches, and the shape of revert errors.
// Accounts used by this file: dev accounts 8 and 9.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ContractFactory, Interface, Wallet, parseEther, parseUnits } from 'ethers';
import { createWalletClient, defineChain, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  RPC_URL,
  TEST_TIMEOUT,
  TRANSFER_GAS,
  WS_URL,
  chainId,
  connectedWallet,
  devWallet,
  errorText,
  ethersProvider,
  rawPost,
  rpc,
  rpcRaw,
} from '../lib/env.js';
import { contract as compiled } from '../lib/compile.js';

const T = { timeout: TEST_TIMEOUT };
const WAIT = TEST_TIMEOUT - 5_000;

let cid;
let provider;
let w8; // dev account 8, connected
let w9; // dev account 9, connected
let token; // CairnToken deployed by account 8
let iface;

/** Runs `fn`, expecting it to throw; returns the error. */
async function rejects(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail(`${what}: expected an error`);
}

/** Fee fields that are valid for the next block. */
async function fees() {
  const latest = await provider.getBlock('latest');
  const tip = parseUnits('1', 'gwei');
  return { maxPriorityFeePerGas: tip, maxFeePerGas: latest.baseFeePerGas * 2n + tip };
}

/** Signs a type-2 transfer locally with `wallet` (no provider involvement). */
async function signTransfer(wallet, overrides) {
  return new Wallet(wallet.privateKey).signTransaction({
    type: 2,
    chainId: cid,
    to: Wallet.createRandom().address,
    value: 1n,
    gasLimit: TRANSFER_GAS,
    ...(await fees()),
    ...overrides,
  });
}

before(async () => {
  cid = await chainId();
  provider = await ethersProvider();
  w8 = connectedWallet(8, provider);
  w9 = connectedWallet(9, provider);
  const { abi, bytecode } = compiled('CairnToken');
  iface = new Interface(abi);
  token = await new ContractFactory(abi, bytecode, w8).deploy('Err Token', 'ERR', parseUnits('1000', 18));
  await token.deploymentTransaction().wait(1, WAIT);
});

after(() => {
  provider?.destroy();
});

test('environment: CAIRN_RPC_URL and CAIRN_WS_URL point at the same node', () => {
  assert.match(RPC_URL, /^https?:\/\//);
  assert.match(WS_URL, /^wss?:\/\//);
});

test('nonce too low', T, async () => {
  // account 8 has deployed a contract, so its nonce is >= 1
  const nonce = await provider.getTransactionCount(w8.address, 'latest');
  assert.ok(nonce >= 1);
  const stale = nonce - 1;

  const raw = await signTransfer(w8, { nonce: stale });
  const res = await rpcRaw('eth_sendRawTransaction', [raw]);
  assert.ok(res.error, `expected an error, got ${JSON.stringify(res)}`);
  assert.equal(typeof res.error.code, 'number');
  assert.match(res.error.message, /nonce too low/);

  // ethers: classified as NONCE_EXPIRED, node message preserved
  const e = await rejects(
    async () => w8.sendTransaction({ to: w9.address, value: 1n, nonce: stale, gasLimit: TRANSFER_GAS, ...(await fees()) }),
    'ethers sendTransaction',
  );
  assert.equal(e.code, 'NONCE_EXPIRED');
  assert.match(errorText(e), /nonce too low/);

  // viem: the node message is in the error chain
  const chain = defineChain({
    id: Number(cid),
    name: 'Cairn dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [RPC_URL] } },
  });
  const vw = createWalletClient({ account: privateKeyToAccount(devWallet(8).privateKey), chain, transport: http(RPC_URL) });
  const f = await fees();
  const ve = await rejects(
    () => vw.sendTransaction({ to: w9.address, value: 1n, nonce: stale, gas: TRANSFER_GAS, ...f }),
    'viem sendTransaction',
  );
  assert.match(errorText(ve), /nonce too low/i);
  assert.equal(await provider.getTransactionCount(w8.address, 'latest'), nonce, 'nothing was executed');
});

test('insufficient funds', T, async () => {
  const empty = Wallet.createRandom().connect(provider);
  assert.equal(await provider.getBalance(empty.address), 0n);

  const raw = await signTransfer(empty, { nonce: 0, value: parseEther('1') });
  const res = await rpcRaw('eth_sendRawTransaction', [raw]);
  assert.ok(res.error, `expected an error, got ${JSON.stringify(res)}`);
  assert.match(res.error.message, /insufficient funds/);

  const e = await rejects(
    async () => empty.sendTransaction({ to: w9.address, value: 1n, nonce: 0, gasLimit: TRANSFER_GAS, ...(await fees()) }),
    'ethers sendTransaction',
  );
  assert.equal(e.code, 'INSUFFICIENT_FUNDS');
  assert.match(errorText(e), /insufficient funds/);

  // a funded account that cannot cover value + gas
  const bal = await provider.getBalance(w9.address);
  const raw2 = await signTransfer(w9, { nonce: await provider.getTransactionCount(w9.address, 'latest'), value: bal });
  const res2 = await rpcRaw('eth_sendRawTransaction', [raw2]);
  assert.match(res2.error?.message ?? '', /insufficient funds/);
});

test('wrong chain id is rejected', T, async () => {
  const nonce = await provider.getTransactionCount(w9.address, 'latest');
  const raw = await signTransfer(w9, { nonce, chainId: cid + 1n });
  const res = await rpcRaw('eth_sendRawTransaction', [raw]);
  assert.ok(res.error, `expected an error, got ${JSON.stringify(res)}`);
  assert.match(res.error.message, /invalid chain id/i);
  assert.equal(await provider.getTransactionCount(w9.address, 'pending'), nonce, 'not queued');
});

test('intrinsic gas too low', T, async () => {
  const nonce = await provider.getTransactionCount(w9.address, 'latest');
  const raw = await signTransfer(w9, { nonce, gasLimit: 20_000n });
  const res = await rpcRaw('eth_sendRawTransaction', [raw]);
  assert.ok(res.error, `expected an error, got ${JSON.stringify(res)}`);
  assert.match(res.error.message, /intrinsic gas too low/);
  // 21,000 runs a transfer but does not pay for its bytes on Bitcoin.
  const bare = await signTransfer(w9, { nonce, gasLimit: 21_000n });
  const res21 = await rpcRaw('eth_sendRawTransaction', [bare]);
  assert.match(res21.error?.message ?? '', /^intrinsic gas too low: gas 21000, minimum needed \d+$/);
});

test('a valid raw transaction is accepted and returns its hash', T, async () => {
  const nonce = await provider.getTransactionCount(w9.address, 'latest');
  const raw = await signTransfer(w9, { nonce });
  const hash = await rpc('eth_sendRawTransaction', [raw]);
  assert.match(hash, /^0x[0-9a-f]{64}$/);
  const receipt = await provider.waitForTransaction(hash, 1, WAIT);
  assert.equal(receipt.status, 1);
});

test('unknown method: -32601', T, async () => {
  const { body } = await rawPost(JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'eth_doesNotExist', params: [] }));
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.id, 42);
  assert.equal(body.result, undefined);
  assert.equal(body.error.code, -32601);
  assert.equal(typeof body.error.message, 'string');
});

test('malformed JSON: -32700', T, async () => {
  const { body } = await rawPost('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"');
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.id, null);
  assert.equal(body.error.code, -32700);
});

test('invalid request object: -32600', T, async () => {
  const { body } = await rawPost(JSON.stringify({ jsonrpc: '2.0', id: 7 }));
  assert.equal(body.error?.code, -32600);
});

test('invalid params: -32602', T, async () => {
  const res = await rpcRaw('eth_getBalance', ['0x1234', 'latest']);
  assert.equal(res.error?.code, -32602, JSON.stringify(res));
});

test('batch request returns an array of responses', T, async () => {
  const batch = [
    { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
    { jsonrpc: '2.0', id: 2, method: 'eth_getBalance', params: [w8.address, 'latest'] },
  ];
  const { body } = await rawPost(JSON.stringify(batch));
  assert.ok(Array.isArray(body), `array, got ${JSON.stringify(body)}`);
  assert.equal(body.length, 2);
  const byId = new Map(body.map((r) => [r.id, r]));
  assert.equal(BigInt(byId.get(1).result), cid);
  assert.ok(BigInt(byId.get(2).result) > 0n);

  // errors are reported per element
  const mixed = [
    { jsonrpc: '2.0', id: 'a', method: 'eth_blockNumber', params: [] },
    { jsonrpc: '2.0', id: 'b', method: 'eth_doesNotExist', params: [] },
  ];
  const { body: m } = await rawPost(JSON.stringify(mixed));
  assert.ok(Array.isArray(m));
  assert.equal(m.length, 2);
  const ma = m.find((r) => r.id === 'a');
  const mb = m.find((r) => r.id === 'b');
  assert.match(ma.result, /^0x[0-9a-f]+$/);
  assert.equal(mb.error.code, -32601);
});

test('empty batch: a single -32600 error', T, async () => {
  const { body } = await rawPost('[]');
  assert.ok(!Array.isArray(body), `single error object, got ${JSON.stringify(body)}`);
  assert.equal(body.id, null);
  assert.equal(body.error?.code, -32600);
});

test('eth_call revert: code 3, "execution reverted: <reason>", revert data', T, async () => {
  const to = await token.getAddress();
  const bal = await token.balanceOf(w9.address);
  const data = iface.encodeFunctionData('transfer', [w8.address, bal + 1n]);
  const expectedData = iface.encodeErrorResult('Error', ['insufficient balance']);
  for (const method of ['eth_call', 'eth_estimateGas']) {
    const params = method === 'eth_call' ? [{ from: w9.address, to, data }, 'latest'] : [{ from: w9.address, to, data }];
    const res = await rpcRaw(method, params);
    assert.ok(res.error, `${method}: expected an error`);
    assert.equal(res.error.code, 3, `${method} code`);
    assert.equal(res.error.message, 'execution reverted: insufficient balance', `${method} message`);
    assert.equal(res.error.data, expectedData, `${method} data`);
  }
});

test('custom error revert: code 3 with ABI-encoded error data', T, async () => {
  const to = await token.getAddress();
  const data = iface.encodeFunctionData('mint', [w9.address, 1n]);
  const expectedData = iface.encodeErrorResult('Unauthorized', [w9.address]);
  for (const method of ['eth_call', 'eth_estimateGas']) {
    const params = method === 'eth_call' ? [{ from: w9.address, to, data }, 'latest'] : [{ from: w9.address, to, data }];
    const res = await rpcRaw(method, params);
    assert.ok(res.error, `${method}: expected an error`);
    assert.equal(res.error.code, 3, `${method} code`);
    assert.match(res.error.message, /^execution reverted/, `${method} message`);
    assert.equal(res.error.data, expectedData, `${method} data`);
    const parsed = iface.parseError(res.error.data);
    assert.equal(parsed.name, 'Unauthorized');
    assert.equal(parsed.args.caller, w9.address);
  }
});
