// Regenerates crates/node/tests/it/Counter.bin from Counter.sol with solcjs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, '..', '..', 'crates', 'node', 'tests', 'it');
const source = fs.readFileSync(path.join(dir, 'Counter.sol'), 'utf8');
const input = {
  language: 'Solidity',
  sources: { 'Counter.sol': { content: source } },
  settings: { evmVersion: 'cancun', outputSelection: { '*': { '*': ['evm.bytecode.object'] } } },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
fs.writeFileSync(path.join(dir, 'Counter.bin'), out.contracts['Counter.sol'].Counter.evm.bytecode.object + '\n');
