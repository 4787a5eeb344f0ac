// Shared configuration and helpers for the compatibility tests.
import assert from 'node:assert/strict';
import { HDNodeWallet, JsonRpcProvider, Network, Wallet } from 'ethers';

function required(name, example) {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set. Start a Cairn dev node and run e.g.\n` +
        `  ${name}=${example} npm test\n(see compat/README.md)`,
    );
  }
  return v;
}

export const RPC_URL = required('CAIRN_RPC_URL', 'http://127.0.0.1:8545');
export const WS_URL = required('CAIRN_WS_URL', 'ws://127.0.0.1:8545');

export const MNEMONIC = 'test test test test test test test test test test test junk';
export const TEST_TIMEOUT = 30_000;

/** Well-known dev account 0, used to cross-check key derivation. */
export const DEV0_ADDRESS = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';

/** Dev account `i` (m/44'/60'/0'/0/i) as an ethers HDNodeWallet (not connected). */
export function devWallet(i) {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
}

let nextId = 1;

/** POSTs a raw body to the node; returns { status, body } with body parsed as JSON. */
export async function rawPost(body, { contentType = 'application/json' } = {}) {
  const res = await fetch(RPC_URL, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`node returned non-JSON (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, body: parsed };
}

/** Sends one JSON-RPC request and returns the whole response object ({result} or {error}). */
export async function rpcRaw(method, params = []) {
  const id = nextId++;
  const { body } = await rawPost(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  return body;
}

/** Sends one JSON-RPC request and returns `result`, throwing on a JSON-RPC error. */
export async function rpc(method, params = []) {
  const res = await rpcRaw(method, params);
  if (res.error) {
    const e = new Error(`${method} failed: ${res.error.code} ${res.error.message}`);
    e.rpcError = res.error;
    throw e;
  }
  return res.result;
}

/** Reads eth_chainId, failing with a clear message when the node is not reachable. */
export async function chainId() {
  let hex;
  try {
    hex = await rpc('eth_chainId');
  } catch (e) {
    throw new Error(`cannot reach the node at CAIRN_RPC_URL=${RPC_URL}: ${e.message}`, { cause: e });
  }
  return BigInt(hex);
}

/** An ethers JsonRpcProvider on CAIRN_RPC_URL with a static network and fast polling. */
export async function ethersProvider() {
  const id = await chainId();
  return new JsonRpcProvider(RPC_URL, Network.from(id), { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
}

/** Dev account `i` as an ethers Wallet connected to `provider`. */
export function connectedWallet(i, provider) {
  return new Wallet(devWallet(i).privateKey, provider);
}

/**
 * Every message text found on an error and its causes (ethers keeps the
 * node's JSON-RPC error in `info.error`, viem in `cause`/`details`).
 */
export function errorText(e) {
  const seen = new Set();
  const parts = [];
  const visit = (x, depth) => {
    if (!x || typeof x !== 'object' || seen.has(x) || depth > 8) return;
    seen.add(x);
    for (const k of ['message', 'shortMessage', 'details', 'reason']) {
      if (typeof x[k] === 'string') parts.push(x[k]);
    }
    visit(x.cause, depth + 1);
    visit(x.error, depth + 1);
    visit(x.info, depth + 1);
  };
  visit(e, 0);
  return parts.join(' | ');
}

/**
 * The L1 data fee of a mined transaction, from its raw receipt: the gas it paid for
 * its bytes on Bitcoin on top of `executionGas`. Checks the fields agree.
 */
export async function l1Fee(hash, executionGas) {
  const r = await rpc('eth_getTransactionReceipt', [hash]);
  const l1GasUsed = BigInt(r.l1GasUsed);
  const l1FeeRate = BigInt(r.l1FeeRate);
  assert.equal(BigInt(r.l1Fee), l1GasUsed * BigInt(r.effectiveGasPrice), 'l1Fee = l1GasUsed * effectiveGasPrice');
  assert.ok(l1FeeRate >= 250n, `cairn dev charges at least 1 sat/vB (250 sat/kwu): ${r.l1FeeRate}`);
  assert.ok(l1GasUsed > 0n, 'a transaction pays for its bytes on Bitcoin');
  if (executionGas !== undefined) {
    assert.equal(BigInt(r.gasUsed), executionGas + l1GasUsed, 'gasUsed = execution + L1 gas');
  }
  return { l1GasUsed, l1FeeRate, l1Fee: BigInt(r.l1Fee), gasUsed: BigInt(r.gasUsed) };
}

/** A gas limit that covers a plain transfer and its L1 data fee. */
export const TRANSFER_GAS = 200_000n;

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(fn, { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
