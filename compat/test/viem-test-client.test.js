// viem's test client (`createTestClient({ mode: 'anvil' })`) against cairn dev: the
// cheat methods Anvil serves, through the library developers call them with. Every
// change is made after a snapshot and reverted at the end (the file leaves the chain
// as it found it, and the later files see automine on).
// Accounts used by this file: dev account 0 (unlocked on the node: eth_sendTransaction).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createTestClient,
  defineChain,
  getAddress,
  http,
  parseEther,
  parseGwei,
  publicActions,
  walletActions,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { DEV0_ADDRESS, RPC_URL, TEST_TIMEOUT, chainId, rpc } from '../lib/env.js';

const T = { timeout: TEST_TIMEOUT };
/** PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: every call answers 42. */
const ANSWER_CODE = '0x602a60005260206000f3';

let client;
let snapshot;
let startBlock;

function fresh() {
  return privateKeyToAccount(generatePrivateKey()).address;
}

async function receipt(hash) {
  return client.waitForTransactionReceipt({ hash, timeout: 20_000, pollingInterval: 100 });
}

before(async () => {
  const id = Number(await chainId());
  const chain = defineChain({
    id,
    name: 'cairn dev',
    nativeCurrency: { name: 'Bitcoin', symbol: 'BTC', decimals: 18 },
    rpcUrls: { default: { http: [RPC_URL] } },
  });
  client = createTestClient({ chain, mode: 'anvil', transport: http(RPC_URL), pollingInterval: 100, cacheTime: 0 })
    .extend(publicActions)
    .extend(walletActions);
  startBlock = await client.getBlockNumber();
  snapshot = await client.snapshot();
  assert.match(snapshot, /^0x[0-9a-f]+$/);
});

after(async () => {
  if (client) await client.setAutomine(true);
});

test('web3_clientVersion speaks Anvil’s dialect, and the dev accounts are unlocked', T, async () => {
  const version = await rpc('web3_clientVersion');
  assert.ok(version.startsWith('anvil/') && version.includes('cairn'), version);
  const accounts = await client.getAddresses();
  assert.equal(accounts.length, 10);
  assert.equal(getAddress(accounts[0]), DEV0_ADDRESS);
});

test('setBalance, setNonce, setCode and setStorageAt show at latest', T, async () => {
  const who = fresh();
  await client.setBalance({ address: who, value: parseEther('5') });
  assert.equal(await client.getBalance({ address: who }), parseEther('5'));
  await client.setNonce({ address: who, nonce: 9 });
  assert.equal(await client.getTransactionCount({ address: who }), 9);
  await client.setCode({ address: who, bytecode: ANSWER_CODE });
  assert.equal(await client.getCode({ address: who }), ANSWER_CODE);
  const { data } = await client.call({ to: who });
  assert.equal(BigInt(data), 42n);
  const value = `0x${'ab'.repeat(32)}`;
  await client.setStorageAt({ address: who, index: 3, value });
  assert.equal(await client.getStorageAt({ address: who, slot: '0x3' }), value);
  assert.equal(await client.getBalance({ address: who }), parseEther('5'), 'earlier edits stay');
});

test('impersonateAccount lets eth_sendTransaction send as an address without its key', T, async () => {
  const whale = fresh();
  const to = fresh();
  await client.setBalance({ address: whale, value: parseEther('1') });
  await assert.rejects(
    client.sendTransaction({ account: whale, to, value: 1n }),
    (e) => /unknown account/.test(e.details ?? e.message),
  );
  await client.impersonateAccount({ address: whale });
  const hash = await client.sendTransaction({ account: whale, to, value: 1234n });
  const r = await receipt(hash);
  assert.equal(r.status, 'success');
  assert.equal(getAddress(r.from), getAddress(whale));
  assert.equal(await client.getBalance({ address: to }), 1234n);
  await client.stopImpersonatingAccount({ address: whale });
  await assert.rejects(client.sendTransaction({ account: whale, to, value: 1n }));
});

test('setAutomine(false) holds transactions until mine; dropTransaction removes one', T, async () => {
  await client.setAutomine(false);
  assert.equal(await client.getAutomine(), false);
  const to = fresh();
  const held = await client.sendTransaction({ account: DEV0_ADDRESS, to, value: 7n });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(await rpc('eth_getTransactionReceipt', [held]), null, 'not mined without a request');
  const pool = await client.getTxpoolContent();
  assert.ok(Object.keys(pool.pending).length >= 1, 'waiting in the pool');
  const before = await client.getBlockNumber();
  await client.mine({ blocks: 1 });
  assert.equal((await receipt(held)).status, 'success');
  assert.ok((await client.getBlockNumber()) > before);

  const dropped = await client.sendTransaction({ account: DEV0_ADDRESS, to, value: 8n });
  await client.dropTransaction({ hash: dropped });
  assert.equal(await rpc('eth_getTransactionByHash', [dropped]), null);
  await client.setAutomine(true);
  assert.equal(await client.getAutomine(), true);
});

test('increaseTime, setNextBlockTimestamp and mine with an interval move block time', T, async () => {
  const now = BigInt(Math.floor(Date.now() / 1000));
  await client.increaseTime({ seconds: 3600 });
  await client.mine({ blocks: 1 });
  const later = await client.getBlock();
  assert.ok(later.timestamp >= now + 3599n, `${later.timestamp} vs ${now}`);
  const target = later.timestamp + 1000n;
  await client.setNextBlockTimestamp({ timestamp: target });
  await client.mine({ blocks: 1 });
  assert.equal((await client.getBlock()).timestamp, target);
  await client.mine({ blocks: 3, interval: 60 });
  const last = await client.getBlock();
  assert.ok(last.timestamp >= target + 120n, `${last.timestamp} vs ${target}`);
});

test('setNextBlockBaseFeePerGas, setCoinbase and setBlockGasLimit shape the next block', T, async () => {
  const coinbase = fresh();
  await client.setCoinbase({ address: coinbase });
  await client.setNextBlockBaseFeePerGas({ baseFeePerGas: parseGwei('2') });
  await client.setBlockGasLimit({ gasLimit: 25_000_000n });
  await client.mine({ blocks: 1 });
  const block = await client.getBlock();
  assert.equal(getAddress(block.miner), getAddress(coinbase));
  assert.equal(block.baseFeePerGas, parseGwei('2'));
  assert.equal(block.gasLimit, 25_000_000n);
});

test('revert returns to the snapshot: blocks, balances and code are as before', T, async () => {
  const probe = fresh();
  await client.setBalance({ address: probe, value: 1n });
  assert.equal(await client.getBalance({ address: probe }), 1n);
  await client.revert({ id: snapshot });
  assert.equal(await client.getBalance({ address: probe }), 0n);
  assert.equal(await client.getBlockNumber(), startBlock);
  // A used snapshot is gone (Hardhat's rule): reverting again answers false.
  assert.equal(await rpc('evm_revert', [snapshot]), false);
});

test('simulateBlocks (eth_simulateV1) traces a transfer and charges the L1 data fee', T, async () => {
  const to = fresh();
  const blocks = await client.simulateBlocks({
    blocks: [{ calls: [{ account: DEV0_ADDRESS, to, value: 1000n }] }],
    traceTransfers: true,
    validation: true,
  });
  assert.equal(blocks.length, 1);
  const [call] = blocks[0].calls;
  assert.equal(call.status, 'success');
  assert.ok(call.gasUsed > 21_000n, `gas ${call.gasUsed} includes the L1 data fee`);
  assert.equal(call.logs.length, 1, 'the transfer as a log');
  assert.equal(call.logs[0].address.toLowerCase(), '0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee');
  assert.equal(await client.getBalance({ address: to }), 0n, 'nothing sent for real');
});
