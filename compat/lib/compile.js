// Compiles the Solidity sources in ../contracts with solcjs (the `solc` npm
// package, in-process; no compiler download). Results are cached in
// os.tmpdir(), keyed by compiler version + settings + source text.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const CONTRACTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'contracts');

// Cairn targets a current EVM; "cancun" is the safe default. Override with
// CAIRN_EVM_VERSION (e.g. "shanghai" when checking the suite against a
// reference node that lacks Cancun opcodes).
export const EVM_VERSION = process.env.CAIRN_EVM_VERSION || 'cancun';

let memo;

function solcVersion() {
  return require('solc/package.json').version;
}

function readSources() {
  const sources = {};
  for (const f of readdirSync(CONTRACTS_DIR).sort()) {
    if (f.endsWith('.sol')) sources[f] = { content: readFileSync(join(CONTRACTS_DIR, f), 'utf8') };
  }
  return sources;
}

/**
 * Returns { [contractName]: { abi, bytecode } } for every contract in contracts/.
 * bytecode is 0x-prefixed creation code.
 */
export function compileAll() {
  if (memo) return memo;
  const input = {
    language: 'Solidity',
    sources: readSources(),
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const key = createHash('sha256')
    .update(solcVersion())
    .update(JSON.stringify(input))
    .digest('hex')
    .slice(0, 32);
  const cacheFile = join(tmpdir(), `cairn-compat-solc-${key}.json`);
  try {
    memo = JSON.parse(readFileSync(cacheFile, 'utf8'));
    return memo;
  } catch {
    // not cached yet
  }

  const solc = require('solc');
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) {
    throw new Error('solc compilation failed:\n' + errors.map((e) => e.formattedMessage).join('\n'));
  }
  const out = {};
  for (const file of Object.keys(output.contracts)) {
    for (const [name, c] of Object.entries(output.contracts[file])) {
      out[name] = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
    }
  }
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(out));
  renameSync(tmp, cacheFile);
  memo = out;
  return memo;
}

export function contract(name) {
  const all = compileAll();
  if (!all[name]) throw new Error(`contract ${name} not found in contracts/ (have: ${Object.keys(all).join(', ')})`);
  return all[name];
}
