// viem v2 over HTTP and WebSocket: deploy/read/write a contract, simulate
// reverts, gas estimation, logs and filters, subscriptions (newHeads, logs),
// fee history and pending nonces.
// Accounts used by this file: dev accounts 6 (deployer) and 7.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAbiItem,
  getAddress,
  isAddressEqual,
  http,
  parseEther,
  parseEventLogs,
  parseGwei,
  webSocket,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { RPC_URL, TEST_TIMEOUT, TRANSFER_GAS, WS_URL, chainId, devWallet, l1Fee, waitFor } from '../lib/env.js';
import { contract as compiled } from '../lib/compile.js';

const T = { timeout: TEST_TIMEOUT };
const RECEIPT_TIMEOUT = 20_000;
const HASH_RE = /^0x[0-9a-f]{64}$/;
const { abi, bytecode } = compiled('CairnToken');
const transferEvent = getAbiItem({ abi, name: 'Transfer' });
const SUPPLY = parseEther('1000000');

let chain;
let pub; // HTTP public client
let pubWs; // WebSocket public client
let wallet; // account 6 over HTTP
let walletWs; // account 7 over WebSocket
let acct6;
let acct7;
let token; // deployed address
let deployBlock;

function freshAddress() {
  return privateKeyToAccount(generatePrivateKey()).address;
}

async function waitReceipt(hash) {
  return pub.waitForTransactionReceipt({ hash, timeout: RECEIPT_TIMEOUT, pollingInterval: 100 });
}

/** Token transfer from account 6; resolves to the receipt. */
async function transfer(to, amount) {
  const hash = await wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [to, amount] });
  const r = await waitReceipt(hash);
  assert.equal(r.status, 'success');
  return r;
}

/** Runs `fn`, expecting a viem error; returns it. */
async function rejects(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail(`${what}: expected an error`);
}

before(async () => {
  const id = await chainId();
  chain = defineChain({
    id: Number(id),
    name: 'Cairn dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [RPC_URL], webSocket: [WS_URL] } },
  });
  acct6 = privateKeyToAccount(devWallet(6).privateKey);
  acct7 = privateKeyToAccount(devWallet(7).privateKey);
  pub = createPublicClient({ chain, transport: http(RPC_URL, { timeout: 10_000 }), pollingInterval: 100 });
  pubWs = createPublicClient({ chain, transport: webSocket(WS_URL, { timeout: 10_000 }), pollingInterval: 100 });
  wallet = createWalletClient({ account: acct6, chain, transport: http(RPC_URL, { timeout: 10_000 }) });
  walletWs = createWalletClient({ account: acct7, chain, transport: webSocket(WS_URL, { timeout: 10_000 }) });
});

after(async () => {
  for (const c of [pubWs, walletWs]) {
    try {
      (await c?.transport.getRpcClient())?.close();
    } catch {
      // already closed
    }
  }
});

test('chain id and block number over HTTP and WebSocket', T, async () => {
  assert.equal(await pub.getChainId(), chain.id);
  assert.equal(await pubWs.getChainId(), chain.id);
  const a = await pub.getBlockNumber({ cacheTime: 0 });
  const b = await pubWs.getBlockNumber({ cacheTime: 0 });
  assert.ok(b >= a);
  assert.equal(await pubWs.getBalance({ address: acct6.address, blockNumber: a }), await pub.getBalance({ address: acct6.address, blockNumber: a }));
});

test('deployContract + readContract', T, async () => {
  const hash = await wallet.deployContract({ abi, bytecode, args: ['Viem Token', 'VTK', SUPPLY] });
  assert.match(hash, HASH_RE);
  const receipt = await waitReceipt(hash);
  assert.equal(receipt.status, 'success');
  assert.ok(receipt.contractAddress, 'contractAddress');
  assert.equal(receipt.to, null);
  assert.ok(isAddressEqual(receipt.from, acct6.address));
  token = getAddress(receipt.contractAddress);
  deployBlock = receipt.blockNumber;

  const code = await pub.getCode({ address: token });
  assert.ok(code && code.length > 2);
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'name' }), 'Viem Token');
  assert.equal(await pubWs.readContract({ address: token, abi, functionName: 'symbol' }), 'VTK');
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'decimals' }), 18);
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'totalSupply' }), SUPPLY);
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [acct6.address] }), SUPPLY);
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'owner' }), acct6.address);
});

test('writeContract + waitForTransactionReceipt (HTTP and WebSocket wallets)', T, async () => {
  const amount = parseEther('100');
  const before7 = await pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [acct7.address] });
  const r = await transfer(acct7.address, amount);
  assert.equal(r.type, 'eip1559');
  assert.ok(isAddressEqual(r.to, token));
  const events = parseEventLogs({ abi, logs: r.logs, eventName: 'Transfer' });
  assert.equal(events.length, 1);
  assert.equal(events[0].args.from, acct6.address);
  assert.equal(events[0].args.to, acct7.address);
  assert.equal(events[0].args.value, amount);
  assert.ok(isAddressEqual(events[0].address, token));
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [acct7.address] }), before7 + amount);

  // a write signed by account 7 and sent over WebSocket
  const sink = freshAddress();
  const hash = await walletWs.writeContract({ address: token, abi, functionName: 'transfer', args: [sink, 7n] });
  const r2 = await pubWs.waitForTransactionReceipt({ hash, timeout: RECEIPT_TIMEOUT, pollingInterval: 100 });
  assert.equal(r2.status, 'success');
  assert.ok(isAddressEqual(r2.from, acct7.address));
  assert.equal(await pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [sink] }), 7n);
});

test('sendTransaction value transfer: exact balance delta', T, async () => {
  const to = freshAddress();
  const value = parseEther('0.75');
  const before = await pub.getBalance({ address: acct6.address });
  const hash = await wallet.sendTransaction({ to, value });
  const r = await waitReceipt(hash);
  assert.equal(r.status, 'success');
  const { l1GasUsed } = await l1Fee(hash, 21000n);
  assert.equal(r.gasUsed, 21000n + l1GasUsed);
  assert.equal(r.type, 'eip1559');
  const after = await pub.getBalance({ address: acct6.address, blockNumber: r.blockNumber });
  assert.equal(before - after, value + r.gasUsed * r.effectiveGasPrice);
  assert.equal(await pub.getBalance({ address: to }), value);
  const tx = await pub.getTransaction({ hash });
  assert.equal(tx.value, value);
  assert.equal(tx.type, 'eip1559');
  assert.equal(tx.chainId, chain.id);
  assert.equal(tx.blockHash, r.blockHash);
});

test('simulateContract: success result and reverts (reason string, custom error)', T, async () => {
  const ok = await pub.simulateContract({ account: acct6, address: token, abi, functionName: 'transfer', args: [acct7.address, 1n] });
  assert.equal(ok.result, true);
  assert.equal(ok.request.functionName, 'transfer');

  const bal7 = await pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [acct7.address] });
  const e1 = await rejects(
    () => pub.simulateContract({ account: acct7, address: token, abi, functionName: 'transfer', args: [acct6.address, bal7 + 1n] }),
    'simulate transfer',
  );
  assert.ok(e1 instanceof BaseError, `viem error, got ${e1}`);
  const rev1 = e1.walk((x) => x instanceof ContractFunctionRevertedError);
  assert.ok(rev1 instanceof ContractFunctionRevertedError, `ContractFunctionRevertedError in ${e1.message}`);
  assert.equal(rev1.reason, 'insufficient balance');
  assert.equal(rev1.data?.errorName, 'Error');

  const e2 = await rejects(
    () => pub.simulateContract({ account: acct7, address: token, abi, functionName: 'mint', args: [acct7.address, 1n] }),
    'simulate mint',
  );
  const rev2 = e2.walk((x) => x instanceof ContractFunctionRevertedError);
  assert.ok(rev2 instanceof ContractFunctionRevertedError, `ContractFunctionRevertedError in ${e2.message}`);
  assert.equal(rev2.data?.errorName, 'Unauthorized');
  assert.equal(rev2.data?.args?.[0], acct7.address);

  // same over WebSocket
  const e3 = await rejects(
    () => pubWs.simulateContract({ account: acct7, address: token, abi, functionName: 'mint', args: [acct7.address, 1n] }),
    'simulate mint (ws)',
  );
  assert.equal(e3.walk((x) => x instanceof ContractFunctionRevertedError)?.data?.errorName, 'Unauthorized');
});

test('estimateGas and estimateContractGas', T, async () => {
  const plain = await pub.estimateGas({ account: acct6, to: freshAddress(), value: 1n });
  assert.ok(plain > 21000n && plain < 200_000n, `a transfer's estimate includes the L1 data fee: ${plain}`);
  const g = await pub.estimateContractGas({ account: acct6, address: token, abi, functionName: 'transfer', args: [freshAddress(), 1n] });
  assert.ok(g > 21000n && g < 200_000n, `transfer gas ${g}`);
  // a real transfer to a fresh address uses no more than the estimate
  const sink = freshAddress();
  const est = await pub.estimateContractGas({ account: acct6, address: token, abi, functionName: 'transfer', args: [sink, 1n] });
  const r = await transfer(sink, 1n);
  assert.ok(r.gasUsed <= est, `gasUsed ${r.gasUsed} <= estimate ${est}`);

  const e = await rejects(
    () => pub.estimateContractGas({ account: acct7, address: token, abi, functionName: 'mint', args: [acct7.address, 1n] }),
    'estimate mint',
  );
  assert.equal(e.walk((x) => x instanceof ContractFunctionRevertedError)?.data?.errorName, 'Unauthorized');
});

test('getLogs with event + address + indexed-argument filters', T, async () => {
  const a = freshAddress();
  const b = freshAddress();
  const r1 = await transfer(a, 11n);
  const r2 = await transfer(b, 22n);
  const r3 = await transfer(a, 33n);
  const range = { fromBlock: r1.blockNumber, toBlock: r3.blockNumber };

  const toA = await pub.getLogs({ address: token, event: transferEvent, args: { to: a }, ...range });
  assert.deepEqual(
    toA.map((l) => [l.args.from, l.args.to, l.args.value, l.transactionHash]),
    [
      [acct6.address, a, 11n, r1.transactionHash],
      [acct6.address, a, 33n, r3.transactionHash],
    ],
  );
  const toAB = await pub.getLogs({ address: [token], event: transferEvent, args: { to: [a, b] }, ...range });
  assert.deepEqual(toAB.map((l) => l.args.value), [11n, 22n, 33n]);
  const fromMe = await pub.getLogs({ address: token, event: transferEvent, args: { from: acct6.address }, ...range });
  assert.ok(fromMe.length >= 3);
  assert.ok(fromMe.every((l) => l.args.from === acct6.address));
  // by block hash
  const inBlock2 = await pub.getLogs({ address: token, event: transferEvent, blockHash: r2.blockHash });
  assert.ok(inBlock2.some((l) => l.transactionHash === r2.transactionHash && l.args.value === 22n));
  // a different contract address matches nothing
  assert.deepEqual(await pub.getLogs({ address: freshAddress(), event: transferEvent, ...range }), []);
  // contract events helper, whole history: one mint from the zero address
  const mints = await pub.getContractEvents({
    address: token,
    abi,
    eventName: 'Transfer',
    args: { from: '0x0000000000000000000000000000000000000000' },
    fromBlock: deployBlock,
  });
  assert.equal(mints.length, 1);
  assert.equal(mints[0].args.value, SUPPLY);
  // same over WebSocket
  const wsLogs = await pubWs.getLogs({ address: token, event: transferEvent, args: { to: a }, ...range });
  assert.equal(wsLogs.length, 2);
});

test('createEventFilter + getFilterChanges / getFilterLogs', T, async () => {
  const sink = freshAddress();
  // explicit fromBlock: without one, eth_getFilterLogs would resolve "latest" at call time
  const start = await pub.getBlockNumber({ cacheTime: 0 });
  const filter = await pub.createEventFilter({ address: token, event: transferEvent, args: { to: sink }, fromBlock: start });
  assert.equal(filter.type, 'event');
  assert.match(filter.id, /^0x[0-9a-f]+$/);
  const r = await transfer(sink, 5n);
  await transfer(freshAddress(), 6n); // does not match the filter

  const changes = await waitFor(
    async () => {
      const c = await pub.getFilterChanges({ filter });
      return c.length ? c : null;
    },
    { timeoutMs: 10_000, what: 'filter changes' },
  );
  assert.equal(changes.length, 1);
  assert.equal(changes[0].transactionHash, r.transactionHash);
  assert.equal(changes[0].args.to, sink);
  assert.equal(changes[0].args.value, 5n);
  assert.equal(changes[0].eventName, 'Transfer');
  assert.deepEqual(await pub.getFilterChanges({ filter }), [], 'changes are drained');

  const all = await pub.getFilterLogs({ filter });
  assert.deepEqual(all.map((l) => l.transactionHash), [r.transactionHash]);
  assert.equal(await pub.uninstallFilter({ filter }), true);
});

test('createBlockFilter + getFilterChanges', T, async () => {
  const filter = await pub.createBlockFilter();
  assert.equal(filter.type, 'block');
  const r = await transfer(freshAddress(), 1n);
  const hashes = await waitFor(
    async () => {
      const c = await pub.getFilterChanges({ filter });
      return c.includes(r.blockHash) ? c : null;
    },
    { timeoutMs: 10_000, what: `block filter to report ${r.blockHash}` },
  );
  assert.ok(hashes.every((h) => HASH_RE.test(h)));
  assert.equal(await pub.uninstallFilter({ filter }), true);
});

test('watchBlocks over WebSocket (eth_subscribe newHeads)', T, async () => {
  const blocks = new Map();
  const errors = [];
  const unwatch = pubWs.watchBlocks({
    poll: false,
    onBlock: (b) => blocks.set(b.number, b),
    onError: (e) => errors.push(e),
  });
  try {
    let receipt;
    for (let i = 0; i < 3 && !receipt; i++) {
      if (i === 0) await new Promise((r) => setTimeout(r, 200));
      const r = await transfer(freshAddress(), 1n);
      try {
        await waitFor(() => blocks.has(r.blockNumber), { timeoutMs: 5_000, what: 'newHeads' });
        receipt = r;
      } catch {
        // subscription may not have been live yet: try again
      }
    }
    assert.deepEqual(errors, []);
    assert.ok(receipt, `received blocks ${[...blocks.keys()]}`);
    const head = blocks.get(receipt.blockNumber);
    assert.equal(head.hash, receipt.blockHash);
    assert.match(head.parentHash, HASH_RE);
    assert.equal(typeof head.timestamp, 'bigint');
    const full = await pub.getBlock({ blockNumber: receipt.blockNumber });
    assert.equal(full.parentHash, head.parentHash);
    assert.equal(full.stateRoot, head.stateRoot);
  } finally {
    unwatch();
  }
});

test('raw eth_subscribe / eth_unsubscribe over WebSocket (newHeads, logs)', T, async () => {
  const heads = [];
  const logs = [];
  const sink = freshAddress();
  const sinkTopic = '0x' + sink.slice(2).toLowerCase().padStart(64, '0');
  const subHeads = await pubWs.transport.subscribe({ params: ['newHeads'], onData: (d) => heads.push(d), onError: () => {} });
  const subLogs = await pubWs.transport.subscribe({
    params: ['logs', { address: token, topics: [null, null, sinkTopic] }],
    onData: (d) => logs.push(d),
    onError: () => {},
  });
  try {
    assert.match(subHeads.subscriptionId, /^0x[0-9a-f]+$/);
    assert.match(subLogs.subscriptionId, /^0x[0-9a-f]+$/);
    assert.notEqual(subHeads.subscriptionId, subLogs.subscriptionId);
    const r = await transfer(sink, 9n);
    await waitFor(() => logs.length >= 1 && heads.some((h) => h.result.hash === r.blockHash), {
      timeoutMs: 10_000,
      what: 'subscription notifications',
    });
    const n = heads.find((h) => h.result.hash === r.blockHash);
    assert.equal(n.subscription, subHeads.subscriptionId);
    assert.equal(BigInt(n.result.number), r.blockNumber);
    assert.equal(logs.length, 1);
    assert.equal(logs[0].subscription, subLogs.subscriptionId);
    const log = logs[0].result;
    assert.ok(isAddressEqual(log.address, token));
    assert.equal(log.transactionHash, r.transactionHash);
    assert.equal(log.topics[2], sinkTopic);
    assert.equal(BigInt(log.data), 9n);
    assert.equal(log.removed, false);
  } finally {
    const u1 = await subHeads.unsubscribe();
    const u2 = await subLogs.unsubscribe();
    assert.equal(u1.result, true);
    assert.equal(u2.result, true);
  }
});

test('watchContractEvent over WebSocket (eth_subscribe logs)', T, async () => {
  const sink = freshAddress();
  const got = [];
  const errors = [];
  const unwatch = pubWs.watchContractEvent({
    address: token,
    abi,
    eventName: 'Transfer',
    args: { to: sink },
    poll: false,
    onLogs: (ls) => got.push(...ls),
    onError: (e) => errors.push(e),
  });
  try {
    const sent = [];
    for (let i = 0; i < 3; i++) {
      if (i === 0) await new Promise((r) => setTimeout(r, 200));
      const r = await transfer(sink, BigInt(100 + i));
      sent.push(r.transactionHash);
      try {
        await waitFor(() => got.length > 0, { timeoutMs: 5_000, what: 'Transfer log' });
        break;
      } catch {
        // subscription may not have been live yet: try again
      }
    }
    assert.deepEqual(errors, []);
    assert.ok(got.length >= 1, 'received a Transfer log');
    const log = got[0];
    assert.ok(sent.includes(log.transactionHash));
    assert.equal(log.eventName, 'Transfer');
    assert.equal(log.args.from, acct6.address);
    assert.equal(log.args.to, sink);
    assert.equal(log.args.value, BigInt(100 + sent.indexOf(log.transactionHash)));
    assert.ok(got.every((l) => l.args.to === sink), 'only matching logs are delivered');
  } finally {
    unwatch();
  }
});

test('getFeeHistory', T, async () => {
  const r = await transfer(freshAddress(), 1n); // at least one recent block with a tx
  const before = await pub.getBlockNumber({ cacheTime: 0 });
  const fh = await pub.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 75] });
  const afterN = await pub.getBlockNumber({ cacheTime: 0 });
  assert.equal(fh.gasUsedRatio.length, 4);
  assert.equal(fh.baseFeePerGas.length, 5, 'blockCount + 1 base fees');
  assert.equal(fh.reward.length, 4);
  const newest = fh.oldestBlock + 3n;
  assert.ok(newest >= before && newest <= afterN, `newest ${newest} in [${before}, ${afterN}]`);
  for (const ratio of fh.gasUsedRatio) assert.ok(ratio >= 0 && ratio <= 1);
  for (const rw of fh.reward) {
    assert.equal(rw.length, 2);
    assert.ok(rw[0] <= rw[1]);
  }

  // anchored at the transfer's block: exact values from the block header
  const fh2 = await pub.getFeeHistory({ blockCount: 2, blockNumber: r.blockNumber, rewardPercentiles: [50] });
  assert.equal(fh2.oldestBlock, r.blockNumber - 1n);
  const blk = await pub.getBlock({ blockNumber: r.blockNumber });
  const prev = await pub.getBlock({ blockNumber: r.blockNumber - 1n });
  assert.equal(fh2.baseFeePerGas[0], prev.baseFeePerGas);
  assert.equal(fh2.baseFeePerGas[1], blk.baseFeePerGas);
  assert.equal(fh2.gasUsedRatio[1], Number(blk.gasUsed) / Number(blk.gasLimit));
});

test("getTransactionCount with blockTag 'pending'", T, async () => {
  const latest0 = await pub.getTransactionCount({ address: acct6.address, blockTag: 'latest' });
  const pending0 = await pub.getTransactionCount({ address: acct6.address, blockTag: 'pending' });
  assert.equal(pending0, latest0, 'no transaction in flight');
  const hash = await wallet.sendTransaction({
    to: freshAddress(),
    value: 1n,
    nonce: latest0,
    gas: TRANSFER_GAS,
    maxFeePerGas: parseGwei('1000'),
    maxPriorityFeePerGas: parseGwei('1'),
  });
  const pending1 = await pub.getTransactionCount({ address: acct6.address, blockTag: 'pending' });
  const r = await waitReceipt(hash); // before asserting, so a failure leaves no tx in flight
  assert.equal(pending1, latest0 + 1, 'pending nonce includes the sent (not yet mined) tx');
  assert.equal(r.status, 'success');
  assert.equal(await pub.getTransactionCount({ address: acct6.address, blockTag: 'latest' }), latest0 + 1);
  assert.equal(await pub.getTransactionCount({ address: acct6.address, blockNumber: r.blockNumber - 1n }), latest0);
});

test('getBlock block tags and includeTransactions', T, async () => {
  const r = await transfer(freshAddress(), 2n);
  for (const blockTag of ['finalized', 'safe', 'latest', 'pending', 'earliest']) {
    const b = await pub.getBlock({ blockTag });
    assert.ok(b, `${blockTag} block`);
    assert.equal(typeof b.number === 'bigint' || b.number === null, true, `${blockTag}.number`);
  }
  assert.equal((await pub.getBlock({ blockTag: 'earliest' })).number, 0n);
  const b = await pub.getBlock({ blockNumber: r.blockNumber, includeTransactions: true });
  assert.equal(b.hash, r.blockHash);
  const tx = b.transactions.find((t) => t.hash === r.transactionHash);
  assert.ok(tx && typeof tx === 'object', 'full transaction object');
  assert.ok(isAddressEqual(tx.from, acct6.address));
  assert.ok(isAddressEqual(tx.to, token));
  assert.equal(tx.blockNumber, r.blockNumber);
  assert.equal(tx.transactionIndex, r.transactionIndex);
  assert.ok(tx.input.startsWith('0xa9059cbb'), 'transfer(address,uint256) calldata');
  const byHash = await pubWs.getBlock({ blockHash: r.blockHash, includeTransactions: false });
  assert.ok(byHash.transactions.includes(r.transactionHash));
});
