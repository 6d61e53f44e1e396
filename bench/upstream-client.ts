// CPU per upstream call of the gateway's HTTP/1.1 client (src/http1/client-pool.ts)
// against undici's Pool.dispatch(), the client it replaced, on the same fake upstream.
//
//   node bench/upstream-client.ts [--requests N] [--rounds R] [--concurrency C]
//
// The fake upstream runs in its own process (on core 1 when taskset exists) and this
// process (re-run on core 0) measures only its own CPU with process.cpuUsage(), so the
// figures are the client's cost, not the server's. Both clients alternate, R rounds each.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ClientPool } from '../src/http1/client-pool.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '40000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    pinned: { type: 'boolean', default: false },
    port: { type: 'string' },
  },
});
const here = path.dirname(fileURLToPath(import.meta.url));
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

if (!values.pinned) {
  // Start the upstream, then run the measuring half of this script on its own core.
  const upArgs = [path.join(here, 'fake-upstream.ts'), '--port', '0'];
  const up = hasTaskset ? spawn('taskset', ['-c', '1', process.execPath, ...upArgs]) : spawn(process.execPath, upArgs);
  const port = await new Promise<number>((resolve, reject) => {
    up.stdout!.once('data', (d: Buffer) => resolve(Number(/:(\d+)/.exec(d.toString())?.[1])));
    up.once('exit', () => reject(new Error('fake upstream exited')));
  });
  const self = [fileURLToPath(import.meta.url), '--pinned', '--port', String(port), '--requests', values.requests!, '--rounds', values.rounds!, '--concurrency', values.concurrency!];
  const run = hasTaskset ? spawnSync('taskset', ['-c', '0', process.execPath, ...self], { stdio: 'inherit' }) : spawnSync(process.execPath, self, { stdio: 'inherit' });
  up.kill();
  process.exit(run.status ?? 1);
}

const port = Number(values.port);
const N = Number(values.requests);
const C = Number(values.concurrency);
const origin = `http://127.0.0.1:${port}`;
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream-bench' };

interface Dispatchable {
  dispatch(options: { path: string; method: string; headers: Record<string, string>; body: string }, handler: any): unknown;
}

function call(pool: Dispatchable, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    pool.dispatch(
      { path: '/v1/chat/completions', method: 'POST', headers, body },
      {
        onRequestStart() {},
        onResponseStart(_c: unknown, status: number) {
          if (status !== 200) reject(new Error(`status ${status}`));
        },
        onResponseData(_c: unknown, chunk: Buffer) {
          bytes += chunk.length;
        },
        onResponseEnd() {
          resolve(bytes);
        },
        onResponseError(_c: unknown, err: Error) {
          reject(err);
        },
      },
    );
  });
}

async function load(pool: Dispatchable, body: string, total: number): Promise<void> {
  let left = total;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (left-- > 0) await call(pool, body);
    }),
  );
}

const clients: Record<string, () => Dispatchable> = {
  'undici Pool.dispatch': () => new Pool(origin, { connections: 512, pipelining: 1, keepAliveTimeout: 30_000 }),
  'tollgate ClientPool': () => new ClientPool(origin, { connections: 512, keepAliveTimeoutMs: 30_000, timeoutMs: 120_000, connectTimeoutMs: 10_000 }),
};

console.log(`client CPU per call, ${N} calls x ${values.rounds} rounds, ${C} concurrent${hasTaskset ? ' (client on core 0, upstream on core 1)' : ' (unpinned)'}`);
for (const stream of [false, true]) {
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 64, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) });
  const pools = Object.fromEntries(Object.entries(clients).map(([name, make]) => [name, make()]));
  for (const pool of Object.values(pools)) await load(pool, body, 10_000); // warm-up
  const results: Record<string, string[]> = {};
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [name, pool] of Object.entries(pools)) {
      const before = process.cpuUsage();
      await load(pool, body, N);
      const used = process.cpuUsage(before);
      (results[name] ??= []).push(`${(used.user / N).toFixed(1)}+${(used.system / N).toFixed(1)}`);
    }
  }
  for (const [name, runs] of Object.entries(results)) console.log(`  ${stream ? 'stream    ' : 'non-stream'}  ${name.padEnd(22)} user+sys µs/call: ${runs.join('  ')}`);
}
process.exit(0);
