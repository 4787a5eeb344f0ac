// Anvil (Foundry 1.7.1, from the npm registry) as a reference node for differential
// tests and benchmarks: started on a free port, stopped by the caller.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const ANVIL = path.join(path.dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** JSON-RPC `method` at `url`; the result, or throws with the node's error. */
export async function call(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method} at ${url}: ${body.error.code} ${body.error.message}`);
  return body.result;
}

/** Starts Anvil (chain id 31337, like `cairn dev`); resolves to { url, stop }. */
export async function startAnvil(extra = []) {
  const port = await freePort();
  const child = spawn(ANVIL, ['--port', String(port), '--silent', ...extra], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await call(url, 'eth_chainId');
      return { url, stop: () => child.kill('SIGTERM') };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`anvil did not answer on ${url}`);
}
