// Hardhat 3 pointed at a running `cairn dev` (CAIRN_RPC_URL), as a developer's project
// would be: the dev accounts are the node's own (`accounts: "remote"`, eth_accounts and
// eth_sendTransaction), the contracts are compat/forge/src (linked as contracts/), and the compiler is the npm `solc` package's
// solcjs build (Hardhat downloads nothing).
import { defineConfig } from 'hardhat/config';
import hardhatEthers from '@nomicfoundation/hardhat-ethers';
import hardhatEthersChaiMatchers from '@nomicfoundation/hardhat-ethers-chai-matchers';
import hardhatMocha from '@nomicfoundation/hardhat-mocha';
import hardhatNetworkHelpers from '@nomicfoundation/hardhat-network-helpers';

const url = process.env.CAIRN_RPC_URL;
if (!url) throw new Error('CAIRN_RPC_URL is not set: start `cairn dev` and point it there');

export default defineConfig({
  plugins: [hardhatEthers, hardhatEthersChaiMatchers, hardhatMocha, hardhatNetworkHelpers],
  solidity: {
    version: '0.8.35',
    // A JavaScript file at `path` is loaded as a solcjs build: the npm `solc` package's.
    path: new URL('./node_modules/solc/soljson.js', import.meta.url).pathname,
  },
  paths: {
    sources: 'contracts',
    tests: { mocha: 'test' },
  },
  networks: {
    cairn: { type: 'http', chainType: 'l1', url, accounts: 'remote' },
  },
  test: { mocha: { timeout: 60_000 } },
});
