// ethers v6 against the node: chain id, blocks, legacy / EIP-2930 / EIP-1559
// value transfers with exact balance accounting, receipts, transactions,
// block tags and newHeads over WebSocket.
// Accounts used by this file: dev accounts 2 and 3.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { JsonRpcProvider, Network, Wallet, WebSocketProvider, getAddress, parseEther, parseUnits, ZeroHash } from 'ethers';
import {
  DEV0_ADDRESS,
  RPC_URL,
  TEST_TIMEOUT,
  TRANSFER_GAS,
  l1Fee,
  WS_URL,
  chainId,
  connectedWallet,
  devWallet,
  ethersProvider,
  rpc,
  waitFor,
} from '../lib/env.js';

const T = { timeout: TEST_TIMEOUT };
const EMPTY_BLOOM = '0x' + '00'.repeat(256);
const HASH_RE = /^0x[0-9a-f]{64}$/;

let provider;
let sender; // dev account 2
let sender2; // dev account 3
let cid;

before(async () => {
  cid = await chainId();
  provider = await ethersProvider();
  sender = connectedWallet(2, provider);
  sender2 = connectedWallet(3, provider);
});

after(() => {
  provider?.destroy();
});

/** A fresh, never-used address: its balance is exactly what we send it. */
function freshAddress() {
  return Wallet.createRandom().address;
}

/**
 * Sends `req` from `wallet`, waits for the receipt and checks the exact balance
 * deltas of sender and (fresh) recipient. Returns { tx, receipt, before, after }.
 */
async function transferAndCheck(wallet, req) {
  const from = wallet.address;
  const nonceBefore = await provider.getTransactionCount(from, 'latest');
  const balBefore = await provider.getBalance(from, 'latest');
  assert.equal(await provider.getBalance(req.to), 0n, 'recipient must be fresh');

  const tx = await wallet.sendTransaction(req);
  assert.match(tx.hash, HASH_RE);
  const receipt = await tx.wait(1, TEST_TIMEOUT - 5_000);
  assert.ok(receipt, 'receipt');

  const balAfter = await provider.getBalance(from, receipt.blockNumber);
  const fee = receipt.gasUsed * receipt.gasPrice;
  assert.equal(balBefore - balAfter, req.value + fee, 'sender pays value + gasUsed * effectiveGasPrice');
  assert.equal(await provider.getBalance(req.to, receipt.blockNumber), req.value, 'recipient receives value');
  // state just before the inclusion block is the pre-transaction state
  assert.equal(await provider.getBalance(from, receipt.blockNumber - 1), balBefore);
  assert.equal(await provider.getTransactionCount(from, 'latest'), nonceBefore + 1);
  assert.equal(tx.nonce, nonceBefore);
  return { tx, receipt, balBefore, balAfter };
}

/** `gasUsed`: the execution gas; the receipt adds the L1 data fee's gas to it. */
async function checkCommonReceipt(receipt, tx, { type, gasUsed }) {
  assert.equal(receipt.status, 1);
  assert.equal(receipt.type, type);
  const { l1GasUsed } = await l1Fee(tx.hash, gasUsed);
  assert.equal(receipt.gasUsed, gasUsed + l1GasUsed);
  assert.ok(receipt.cumulativeGasUsed >= receipt.gasUsed);
  assert.deepEqual(receipt.logs, []);
  assert.equal(receipt.logsBloom, EMPTY_BLOOM);
  assert.equal(receipt.hash, tx.hash);
  assert.equal(receipt.from, tx.from);
  assert.equal(receipt.to, tx.to);
  assert.equal(receipt.contractAddress, null);
  assert.match(receipt.blockHash, HASH_RE);
  assert.equal(typeof receipt.index, 'number');
  assert.ok(receipt.blockNumber > 0);
}

test('dev accounts derive from the standard mnemonic', () => {
  assert.equal(devWallet(0).address, DEV0_ADDRESS);
  assert.equal(devWallet(1).address, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
  assert.equal(devWallet(0).privateKey, '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
});

test('chain id: eth_chainId matches provider network', T, async () => {
  const raw = await rpc('eth_chainId');
  assert.match(raw, /^0x[0-9a-f]+$/);
  assert.ok(cid > 0n);
  const net = await provider.getNetwork();
  assert.equal(net.chainId, BigInt(raw));
  // a provider that detects the network itself agrees
  const p2 = new JsonRpcProvider(RPC_URL);
  try {
    assert.equal((await p2.getNetwork()).chainId, cid);
  } finally {
    p2.destroy();
  }
});

test('dev accounts are funded and code-less', T, async () => {
  for (const w of [sender, sender2]) {
    const bal = await provider.getBalance(w.address);
    assert.ok(bal > parseEther('1'), `${w.address} has funds`);
    assert.equal(await provider.getCode(w.address), '0x');
  }
  assert.equal(await provider.getBalance(freshAddress()), 0n);
  assert.equal(await provider.getTransactionCount(freshAddress()), 0);
});

test('getBlockNumber moves when transactions are sent', T, async () => {
  const n0 = await provider.getBlockNumber();
  const tx = await sender2.sendTransaction({ to: freshAddress(), value: 1n });
  const receipt = await tx.wait(1, TEST_TIMEOUT - 5_000);
  assert.ok(receipt.blockNumber > n0, 'inclusion block is after the start block');
  const n1 = await provider.getBlockNumber();
  assert.ok(n1 >= receipt.blockNumber);
  assert.ok(n1 > n0);
});

test('legacy (type 0) transfer: balances, receipt, transaction', T, async () => {
  const fee = await provider.getFeeData();
  assert.ok(fee.gasPrice > 0n, 'eth_gasPrice > 0');
  const value = parseUnits('1.25', 18);
  const to = freshAddress();
  const { tx, receipt } = await transferAndCheck(sender, { type: 0, to, value, gasPrice: fee.gasPrice });

  await checkCommonReceipt(receipt, tx, { type: 0, gasUsed: 21000n });
  assert.equal(receipt.gasPrice, fee.gasPrice, 'legacy effectiveGasPrice == gasPrice');

  const got = await provider.getTransaction(tx.hash);
  assert.equal(got.hash, tx.hash);
  assert.equal(got.type, 0);
  assert.equal(got.from, sender.address);
  assert.equal(got.to, getAddress(to));
  assert.equal(got.value, value);
  assert.equal(got.nonce, tx.nonce);
  assert.ok(got.gasLimit >= receipt.gasUsed, 'ethers estimated a limit that covers the L1 fee');
  assert.equal(got.gasPrice, fee.gasPrice);
  assert.equal(got.maxFeePerGas, null);
  assert.equal(got.data, '0x');
  assert.equal(got.chainId, cid);
  assert.equal(got.blockNumber, receipt.blockNumber);
  assert.equal(got.blockHash, receipt.blockHash);
  assert.equal(got.index, receipt.index);
  assert.ok([27, 28].includes(got.signature.v));
  // EIP-155: v = chainId * 2 + 35 + yParity in the raw JSON
  const rawTx = await rpc('eth_getTransactionByHash', [tx.hash]);
  assert.equal(rawTx.type, '0x0');
  const v = BigInt(rawTx.v);
  assert.ok(v === cid * 2n + 35n || v === cid * 2n + 36n, `EIP-155 v, got ${rawTx.v}`);

  const rawReceipt = await rpc('eth_getTransactionReceipt', [tx.hash]);
  assert.equal(rawReceipt.status, '0x1');
  assert.equal(rawReceipt.type, '0x0');
  assert.equal(BigInt(rawReceipt.gasUsed), 21000n + BigInt(rawReceipt.l1GasUsed));
  assert.equal(BigInt(rawReceipt.effectiveGasPrice), fee.gasPrice);
  assert.equal(rawReceipt.transactionHash, tx.hash);
  assert.equal(rawReceipt.contractAddress, null);
  // geth reports chainId on EIP-155-protected legacy transactions
  assert.equal(BigInt(rawTx.chainId ?? 0), cid, 'legacy tx JSON carries chainId');
});

test('EIP-2930 (type 1) transfer with an access list', T, async () => {
  const fee = await provider.getFeeData();
  const value = 12345n;
  const to = freshAddress();
  const accessList = [{ address: freshAddress(), storageKeys: [ZeroHash] }];
  const { tx, receipt } = await transferAndCheck(sender, {
    type: 1,
    to,
    value,
    gasPrice: fee.gasPrice,
    gasLimit: TRANSFER_GAS,
    accessList,
  });
  // 21000 + 2400 per address + 1900 per storage key
  await checkCommonReceipt(receipt, tx, { type: 1, gasUsed: 25300n });
  const got = await provider.getTransaction(tx.hash);
  assert.equal(got.type, 1);
  assert.equal(got.gasLimit, TRANSFER_GAS);
  assert.deepEqual(
    got.accessList.map((a) => ({ address: a.address, storageKeys: [...a.storageKeys] })),
    accessList.map((a) => ({ address: getAddress(a.address), storageKeys: a.storageKeys })),
  );
});

test('EIP-1559 (type 2) transfer: effective gas price and fields', T, async () => {
  const latest = await provider.getBlock('latest');
  assert.equal(typeof latest.baseFeePerGas, 'bigint', 'London blocks carry baseFeePerGas');
  const tip = parseUnits('1', 'gwei');
  const maxFeePerGas = latest.baseFeePerGas * 2n + tip;
  const value = parseEther('0.5');
  const to = freshAddress();
  const { tx, receipt } = await transferAndCheck(sender, {
    type: 2,
    to,
    value,
    maxFeePerGas,
    maxPriorityFeePerGas: tip,
  });

  await checkCommonReceipt(receipt, tx, { type: 2, gasUsed: 21000n });
  const block = await provider.getBlock(receipt.blockNumber);
  const expected = block.baseFeePerGas + tip < maxFeePerGas ? block.baseFeePerGas + tip : maxFeePerGas;
  assert.equal(receipt.gasPrice, expected, 'effectiveGasPrice = min(maxFee, baseFee + tip)');

  const got = await provider.getTransaction(tx.hash);
  assert.equal(got.type, 2);
  assert.equal(got.maxFeePerGas, maxFeePerGas);
  assert.equal(got.maxPriorityFeePerGas, tip);
  assert.equal(got.value, value);
  assert.equal(got.to, getAddress(to));
  assert.equal(got.from, sender.address);
  assert.equal(got.chainId, cid);
  assert.equal(got.blockHash, receipt.blockHash);
  assert.deepEqual([...got.accessList], []);

  const rawTx = await rpc('eth_getTransactionByHash', [tx.hash]);
  assert.equal(rawTx.type, '0x2');
  assert.equal(BigInt(rawTx.gasPrice), expected, 'mined dynamic-fee tx reports effective gasPrice');
  assert.ok(rawTx.yParity === '0x0' || rawTx.yParity === '0x1', 'typed tx carries yParity');
  assert.equal(BigInt(rawTx.chainId), cid);
  const rawReceipt = await rpc('eth_getTransactionReceipt', [tx.hash]);
  assert.equal(rawReceipt.type, '0x2');
  assert.equal(BigInt(rawReceipt.effectiveGasPrice), expected);
});

test('default ethers populate (estimate + fee data) sends a type 2 transfer', T, async () => {
  const to = freshAddress();
  const est = await provider.estimateGas({ from: sender.address, to, value: 1n });
  assert.ok(est > 21000n, `estimateGas of a plain transfer includes the L1 data fee: ${est}`);
  const { tx, receipt } = await transferAndCheck(sender, { to, value: 7n });
  assert.equal(tx.type, 2);
  assert.ok(receipt.gasUsed <= est, 'the estimate covers what the transfer used');
  await checkCommonReceipt(receipt, tx, { type: 2, gasUsed: 21000n });
});

test("send max: balance - estimated gas limit * fee cap leaves the account empty-handed but valid", T, async () => {
  // A fresh account holding exactly 0.01 BTC sends everything it can, as wallets do.
  const poor = Wallet.createRandom().connect(provider);
  const funding = await sender2.sendTransaction({ to: poor.address, value: parseEther('0.01') });
  await funding.wait(1, TEST_TIMEOUT - 5_000);
  const balance = await provider.getBalance(poor.address);
  const to = freshAddress();
  const gasLimit = await provider.estimateGas({ from: poor.address, to, value: 1n });
  const { maxFeePerGas, maxPriorityFeePerGas } = await provider.getFeeData();
  const value = balance - gasLimit * maxFeePerGas;
  const tx = await poor.sendTransaction({ to, value, gasLimit, maxFeePerGas, maxPriorityFeePerGas });
  const receipt = await tx.wait(1, TEST_TIMEOUT - 5_000);
  assert.equal(receipt.status, 1);
  const { l1GasUsed } = await l1Fee(tx.hash, 21000n);
  assert.equal(await provider.getBalance(to), value, 'the whole amount arrived');
  const left = await provider.getBalance(poor.address, receipt.blockNumber);
  assert.equal(left, balance - value - (21000n + l1GasUsed) * receipt.gasPrice);
  assert.equal(left, (gasLimit - receipt.gasUsed) * maxFeePerGas + receipt.gasUsed * (maxFeePerGas - receipt.gasPrice));
});

test('unknown transaction hash / block give null', T, async () => {
  const h = '0x' + 'ab'.repeat(32);
  assert.equal(await provider.getTransaction(h), null);
  assert.equal(await provider.getTransactionReceipt(h), null);
  assert.equal(await provider.getBlock(h), null);
  const n = await provider.getBlockNumber();
  assert.equal(await provider.getBlock(n + 1_000_000), null);
});

test('block tags: latest, safe, finalized, earliest, pending', T, async () => {
  const finalized = await provider.getBlock('finalized');
  const safe = await provider.getBlock('safe');
  const latest = await provider.getBlock('latest');
  const pending = await provider.getBlock('pending');
  const earliest = await provider.getBlock('earliest');
  for (const [name, b] of Object.entries({ finalized, safe, latest, pending, earliest })) {
    assert.ok(b, `${name} block`);
    assert.equal(typeof b.number, 'number', `${name}.number`);
    assert.ok(Array.isArray(b.transactions), `${name}.transactions`);
  }
  assert.equal(earliest.number, 0);
  assert.equal(earliest.parentHash, ZeroHash);
  assert.ok(finalized.number <= safe.number, 'finalized <= safe');
  assert.ok(safe.number <= latest.number, 'safe <= latest');
  assert.ok(latest.number <= pending.number, 'latest <= pending');
  assert.match(latest.hash, HASH_RE);
  assert.ok(latest.timestamp >= earliest.timestamp);
  // by-hash and by-number agree
  const byHash = await provider.getBlock(latest.hash);
  assert.equal(byHash.number, latest.number);
  assert.equal(byHash.parentHash, latest.parentHash);
  const parent = await provider.getBlock(latest.number - 1);
  assert.equal(parent.hash, latest.parentHash);
  // same via raw JSON-RPC tags
  for (const tag of ['latest', 'safe', 'finalized', 'earliest', 'pending']) {
    const raw = await rpc('eth_getBlockByNumber', [tag, false]);
    assert.ok(raw && typeof raw.number === 'string', `raw ${tag}`);
  }
});

test('getBlock with includeTransactions returns full transaction objects', T, async () => {
  const to = freshAddress();
  const tx = await sender.sendTransaction({ to, value: 3n });
  const receipt = await tx.wait(1, TEST_TIMEOUT - 5_000);

  const block = await provider.getBlock(receipt.blockNumber, true);
  assert.equal(block.hash, receipt.blockHash);
  assert.ok(block.transactions.includes(tx.hash));
  const full = block.prefetchedTransactions.find((t) => t.hash === tx.hash);
  assert.ok(full, 'prefetched transaction present');
  assert.equal(full.from, sender.address);
  assert.equal(full.to, getAddress(to));
  assert.equal(full.value, 3n);
  assert.equal(full.nonce, tx.nonce);
  assert.equal(full.blockNumber, receipt.blockNumber);
  assert.equal(full.blockHash, receipt.blockHash);
  assert.equal(full.index, receipt.index);

  const raw = await rpc('eth_getBlockByNumber', ['0x' + receipt.blockNumber.toString(16), true]);
  const rawTx = raw.transactions.find((t) => typeof t === 'object' && t.hash === tx.hash);
  assert.ok(rawTx, 'raw block has the full object');
  assert.equal(rawTx.from.toLowerCase(), sender.address.toLowerCase());
  assert.equal(rawTx.transactionIndex, '0x' + receipt.index.toString(16));
  const rawHashes = await rpc('eth_getBlockByHash', [receipt.blockHash, false]);
  assert.ok(rawHashes.transactions.includes(tx.hash), 'hash-only block lists the tx hash');
  assert.equal(rawHashes.number, raw.number);

  const count = await rpc('eth_getBlockTransactionCountByNumber', [raw.number]);
  assert.equal(Number(count), raw.transactions.length);
  const byIndex = await rpc('eth_getTransactionByBlockNumberAndIndex', [raw.number, rawTx.transactionIndex]);
  assert.equal(byIndex.hash, tx.hash);
  const byHashIndex = await rpc('eth_getTransactionByBlockHashAndIndex', [receipt.blockHash, rawTx.transactionIndex]);
  assert.equal(byHashIndex.hash, tx.hash);
});

test('WebSocketProvider receives new blocks (eth_subscribe newHeads)', T, async () => {
  const ws = new WebSocketProvider(WS_URL, Network.from(cid), { staticNetwork: true, cacheTimeout: -1 });
  try {
    assert.equal((await ws.getNetwork()).chainId, cid);
    const seen = new Set();
    await ws.on('block', (n) => seen.add(n));
    // the subscription may be established a moment after on() resolves:
    // send transfers until one of their blocks is announced
    let ok = false;
    for (let i = 0; i < 3 && !ok; i++) {
      const tx = await sender2.sendTransaction({ to: freshAddress(), value: 1n });
      const receipt = await tx.wait(1, 10_000);
      try {
        await waitFor(() => [...seen].some((n) => n >= receipt.blockNumber), {
          timeoutMs: 5_000,
          what: `newHeads for block ${receipt.blockNumber}`,
        });
        ok = true;
      } catch {
        // retry with another transaction
      }
    }
    assert.ok(ok, 'a newHeads notification arrived');
    const wsBlock = await ws.getBlock(Math.max(...seen));
    assert.ok(wsBlock && wsBlock.hash, 'block fetched over WebSocket');
    assert.equal((await provider.getBlock(wsBlock.number)).hash, wsBlock.hash);
  } finally {
    await ws.destroy();
  }
});
