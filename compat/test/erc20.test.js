// An ERC-20 driven through ethers v6: deployment, events in receipts and via
// eth_getLogs, reverts with a reason string and with a custom error, and a
// reverted transaction that is mined.
// Accounts used by this file: dev accounts 4 (owner) and 5.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ContractFactory, Interface, Wallet, id, parseUnits, zeroPadValue, ZeroAddress } from 'ethers';
import { TEST_TIMEOUT, connectedWallet, ethersProvider, rpcRaw } from '../lib/env.js';
import { contract as compiled } from '../lib/compile.js';

const T = { timeout: TEST_TIMEOUT };
const WAIT = TEST_TIMEOUT - 5_000;
const TRANSFER_TOPIC = id('Transfer(address,address,uint256)');
const APPROVAL_TOPIC = id('Approval(address,address,uint256)');
const ERROR_STRING_SELECTOR = '0x08c379a0'; // Error(string)
const SUPPLY = parseUnits('1000000', 18);

let provider;
let owner; // dev account 4
let other; // dev account 5
let token; // deployed CairnToken, connected to owner
let tokenAddress;
let deployBlock;
let iface;

/** Runs `fn`, expecting it to throw; returns the error. */
async function rejects(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail(`${what}: expected a revert`);
}

before(async () => {
  provider = await ethersProvider();
  owner = connectedWallet(4, provider);
  other = connectedWallet(5, provider);
  const { abi, bytecode } = compiled('CairnToken');
  iface = new Interface(abi);
  const factory = new ContractFactory(abi, bytecode, owner);
  token = await factory.deploy('Cairn Test Token', 'CTT', SUPPLY);
  const receipt = await token.deploymentTransaction().wait(1, WAIT);
  tokenAddress = await token.getAddress();
  deployBlock = receipt.blockNumber;
});

after(() => {
  provider?.destroy();
});

test('deployment: receipt, code and constructor state', T, async () => {
  const receipt = await provider.getTransactionReceipt(token.deploymentTransaction().hash);
  assert.equal(receipt.status, 1);
  assert.equal(receipt.contractAddress, tokenAddress);
  assert.equal(receipt.to, null);
  assert.ok(receipt.gasUsed > 21000n);
  // constructor mint emits Transfer(0 -> owner)
  assert.equal(receipt.logs.length, 1);
  const log = receipt.logs[0];
  assert.equal(log.address, tokenAddress);
  assert.deepEqual([...log.topics], [TRANSFER_TOPIC, zeroPadValue(ZeroAddress, 32), zeroPadValue(owner.address, 32).toLowerCase()]);
  const parsed = iface.parseLog(log);
  assert.equal(parsed.name, 'Transfer');
  assert.equal(parsed.args.from, ZeroAddress);
  assert.equal(parsed.args.to, owner.address);
  assert.equal(parsed.args.value, SUPPLY);

  const code = await provider.getCode(tokenAddress);
  assert.ok(code.length > 2, 'runtime code deployed');
  assert.equal(await provider.getCode(tokenAddress, deployBlock - 1), '0x', 'no code before deployment');

  assert.equal(await token.name(), 'Cairn Test Token');
  assert.equal(await token.symbol(), 'CTT');
  assert.equal(await token.decimals(), 18n);
  assert.equal(await token.totalSupply(), SUPPLY);
  assert.equal(await token.owner(), owner.address);
  assert.equal(await token.balanceOf(owner.address), SUPPLY);
  assert.equal(await token.balanceOf(other.address), 0n);
});

test('transfer: Transfer event in the receipt, balances, historical eth_call', T, async () => {
  const amount = parseUnits('250', 18);
  const ownerBefore = await token.balanceOf(owner.address);
  const otherBefore = await token.balanceOf(other.address);

  const tx = await token.transfer(other.address, amount);
  const receipt = await tx.wait(1, WAIT);
  assert.equal(receipt.status, 1);
  assert.equal(receipt.to, tokenAddress);
  assert.equal(receipt.logs.length, 1);
  assert.notEqual(receipt.logsBloom, '0x' + '00'.repeat(256));
  const log = receipt.logs[0];
  assert.equal(log.address, tokenAddress);
  assert.equal(log.topics[0], TRANSFER_TOPIC);
  assert.equal(log.topics[1], zeroPadValue(owner.address, 32).toLowerCase());
  assert.equal(log.topics[2], zeroPadValue(other.address, 32).toLowerCase());
  assert.equal(BigInt(log.data), amount);
  assert.equal(log.transactionHash, tx.hash);
  assert.equal(log.blockNumber, receipt.blockNumber);
  assert.equal(log.blockHash, receipt.blockHash);
  assert.equal(log.transactionIndex, receipt.index);
  assert.equal(typeof log.index, 'number');
  // ethers decodes events of its own contract
  const ev = receipt.logs[0];
  assert.equal(ev.eventName, 'Transfer');
  assert.deepEqual([...ev.args], [owner.address, other.address, amount]);

  assert.equal(await token.balanceOf(owner.address), ownerBefore - amount);
  assert.equal(await token.balanceOf(other.address), otherBefore + amount);
  // state at the previous block is unchanged
  assert.equal(await token.balanceOf(other.address, { blockTag: receipt.blockNumber - 1 }), otherBefore);
  assert.equal(await token.balanceOf(other.address, { blockTag: receipt.blockNumber }), otherBefore + amount);
});

test('approve + transferFrom: Approval and Transfer events, allowance', T, async () => {
  const tokenAsOther = token.connect(other);
  const spendable = parseUnits('40', 18);
  const rApprove = await (await token.approve(other.address, spendable)).wait(1, WAIT);
  assert.equal(rApprove.logs.length, 1);
  assert.equal(rApprove.logs[0].topics[0], APPROVAL_TOPIC);
  const ap = iface.parseLog(rApprove.logs[0]);
  assert.equal(ap.name, 'Approval');
  assert.equal(ap.args.owner, owner.address);
  assert.equal(ap.args.spender, other.address);
  assert.equal(ap.args.value, spendable);
  assert.equal(await token.allowance(owner.address, other.address), spendable);

  const sink = Wallet.createRandom().address;
  const r = await (await tokenAsOther.transferFrom(owner.address, sink, parseUnits('15', 18))).wait(1, WAIT);
  assert.equal(r.status, 1);
  assert.equal(r.from, other.address);
  const tr = iface.parseLog(r.logs[0]);
  assert.equal(tr.name, 'Transfer');
  assert.equal(tr.args.from, owner.address);
  assert.equal(tr.args.to, sink);
  assert.equal(tr.args.value, parseUnits('15', 18));
  assert.equal(await token.allowance(owner.address, other.address), parseUnits('25', 18));
  assert.equal(await token.balanceOf(sink), parseUnits('15', 18));
});

test('queryFilter / eth_getLogs with address and topic filters', T, async () => {
  const a = Wallet.createRandom().address;
  const b = Wallet.createRandom().address;
  const r1 = await (await token.transfer(a, 1n)).wait(1, WAIT);
  const r2 = await (await token.transfer(b, 2n)).wait(1, WAIT);
  const r3 = await (await token.transfer(a, 3n)).wait(1, WAIT);
  const from = r1.blockNumber;
  const to = r3.blockNumber;

  // indexed `to` filter
  const toA = await token.queryFilter(token.filters.Transfer(null, a), from, to);
  assert.deepEqual(
    toA.map((e) => [e.args.from, e.args.to, e.args.value, e.transactionHash]),
    [
      [owner.address, a, 1n, r1.hash],
      [owner.address, a, 3n, r3.hash],
    ],
  );
  // indexed `from` filter, whole range since deployment
  const fromOwner = await token.queryFilter(token.filters.Transfer(owner.address), deployBlock, to);
  assert.ok(fromOwner.length >= 5, `>= 5 transfers from owner, got ${fromOwner.length}`);
  assert.ok(fromOwner.every((e) => e.args.from === owner.address));
  assert.ok(fromOwner.some((e) => e.transactionHash === r2.hash));
  // OR on a topic position
  const toAorB = await token.queryFilter(token.filters.Transfer(null, [a, b]), from, to);
  assert.deepEqual(
    toAorB.map((e) => e.args.value),
    [1n, 2n, 3n],
  );
  // logs come back in chain order
  for (let i = 1; i < toAorB.length; i++) {
    const p = toAorB[i - 1];
    const c = toAorB[i];
    assert.ok(p.blockNumber < c.blockNumber || (p.blockNumber === c.blockNumber && p.index < c.index));
  }
  // mint from the zero address appears exactly once since deployment
  const mints = await token.queryFilter(token.filters.Transfer(ZeroAddress), deployBlock, to);
  assert.equal(mints.length, 1);
  assert.equal(mints[0].args.value, SUPPLY);
  // Approval event by name
  const approvals = await token.queryFilter('Approval', deployBlock, to);
  assert.ok(approvals.length >= 1);
  assert.equal(approvals[0].args.owner, owner.address);

  // raw provider.getLogs: by blockHash, and a non-matching address
  const byHash = await provider.getLogs({ blockHash: r2.blockHash, address: tokenAddress, topics: [TRANSFER_TOPIC] });
  assert.ok(byHash.some((l) => l.transactionHash === r2.hash));
  const none = await provider.getLogs({ fromBlock: from, toBlock: to, address: Wallet.createRandom().address });
  assert.deepEqual(none, []);
  const wrongTopic = await provider.getLogs({ fromBlock: from, toBlock: to, address: tokenAddress, topics: [APPROVAL_TOPIC] });
  assert.deepEqual(wrongTopic, []);
});

test('require() revert: reason "insufficient balance" from eth_call and eth_estimateGas', T, async () => {
  const tokenAsOther = token.connect(other);
  const bal = await token.balanceOf(other.address);
  const tooMuch = bal + 1n;

  const eCall = await rejects(() => tokenAsOther.transfer.staticCall(owner.address, tooMuch), 'staticCall');
  assert.equal(eCall.code, 'CALL_EXCEPTION');
  assert.equal(eCall.reason, 'insufficient balance');
  assert.equal(eCall.revert?.name, 'Error');
  assert.equal(eCall.revert?.args[0], 'insufficient balance');
  assert.ok(eCall.data?.startsWith(ERROR_STRING_SELECTOR), `revert data, got ${eCall.data}`);

  // the same through the plain provider
  const data = iface.encodeFunctionData('transfer', [owner.address, tooMuch]);
  const eProv = await rejects(() => provider.call({ from: other.address, to: tokenAddress, data }), 'provider.call');
  assert.equal(eProv.reason, 'insufficient balance');

  const eAllow = await rejects(
    () => tokenAsOther.transferFrom.staticCall(owner.address, other.address, parseUnits('1000000000', 18)),
    'transferFrom',
  );
  assert.equal(eAllow.reason, 'insufficient allowance');

  const eEst = await rejects(() => tokenAsOther.transfer.estimateGas(owner.address, tooMuch), 'estimateGas');
  assert.equal(eEst.code, 'CALL_EXCEPTION');
  assert.equal(eEst.reason, 'insufficient balance');
  assert.ok(eEst.data?.startsWith(ERROR_STRING_SELECTOR), `revert data, got ${eEst.data}`);
});

test('custom error Unauthorized(address) is decodable', T, async () => {
  const tokenAsOther = token.connect(other);
  const expectedData = iface.encodeErrorResult('Unauthorized', [other.address]);

  const eCall = await rejects(() => tokenAsOther.mint.staticCall(other.address, 1n), 'mint staticCall');
  assert.equal(eCall.code, 'CALL_EXCEPTION');
  assert.equal(eCall.data, expectedData);
  assert.equal(eCall.revert?.name, 'Unauthorized');
  assert.equal(eCall.revert?.args[0], other.address);

  // the owner may mint
  const r = await (await token.mint(other.address, 5n)).wait(1, WAIT);
  assert.equal(r.status, 1);
  assert.equal(iface.parseLog(r.logs[0]).args.from, ZeroAddress);

  const eEst = await rejects(() => tokenAsOther.mint.estimateGas(other.address, 1n), 'mint estimateGas');
  assert.equal(eEst.code, 'CALL_EXCEPTION');
  assert.equal(eEst.data, expectedData);
  const parsed = iface.parseError(eEst.data);
  assert.equal(parsed.name, 'Unauthorized');
  assert.equal(parsed.args.caller, other.address);
});

test('reverting transaction is mined with status 0 and charged gas', T, async () => {
  const tokenAsOther = token.connect(other);
  const bal = await token.balanceOf(other.address);
  const nonce = await provider.getTransactionCount(other.address, 'latest');
  const ethBefore = await provider.getBalance(other.address);

  // explicit gasLimit: skip estimation so the reverting tx is actually sent
  const tx = await tokenAsOther.transfer(owner.address, bal + 1n, { gasLimit: 100_000n });
  const e = await rejects(() => tx.wait(1, WAIT), 'wait');
  assert.equal(e.code, 'CALL_EXCEPTION');
  const receipt = e.receipt ?? (await provider.getTransactionReceipt(tx.hash));
  assert.equal(receipt.status, 0);
  assert.deepEqual(receipt.logs, []);
  assert.ok(receipt.gasUsed > 21000n && receipt.gasUsed < 100_000n);
  const ethAfter = await provider.getBalance(other.address, receipt.blockNumber);
  assert.equal(ethBefore - ethAfter, receipt.gasUsed * receipt.gasPrice);
  assert.equal(await provider.getTransactionCount(other.address, 'latest'), nonce + 1);
  assert.equal(await token.balanceOf(other.address), bal, 'token balance unchanged');

  const raw = await rpcRaw('eth_getTransactionReceipt', [tx.hash]);
  assert.equal(raw.result.status, '0x0');
});
