// Starts the fake upstream and the gateway in the bench's layout (gateway on core 0,
// upstream on core 1) and keeps them running until Ctrl-C, for looking at the gateway
// under load with other tools (perf, strace, an inspector):
//
//   node bench/hold.ts [--node-flags="F ..."] [--config-line "flush_interval_ms: 50" ...]
//
// It prints the gateway's pid and URL, and writes wrk scripts for both modes:
//
//   taskset -c 1 wrk -t1 -c64 -d10s -s DIR/nonstream.lua URL
//
// and the same facts as JSON to DIR/hold.json. bench/README.md shows what it was used for.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installCleanupHooks, pinningAvailable } from './lib/children.ts';
import { startGateway, startUpstream } from './lib/targets.ts';
import { writeWrkScript } from './lib/wrk.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'node-flags': { type: 'string', default: '' },
    'config-line': { type: 'string', multiple: true, default: [] },
  },
});
installCleanupHooks();
const pin = pinningAvailable();
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-hold-'));
const { port: upstreamPort } = await startUpstream(repoRoot, tmpDir, pin ? 1 : null, []);
const gateway = await startGateway({
  repoRoot,
  tmpDir,
  upstreamPort,
  core: pin ? 0 : null,
  nodeFlags: values['node-flags']!.split(' ').filter(Boolean),
  promptBytes: 0,
  gatewayConfigLines: values['config-line'],
});
for (const mode of ['nonstream', 'stream']) {
  writeWrkScript(path.join(tmpDir, `${mode}.lua`), { url: gateway.url, headers: gateway.headers, body: gateway.body(mode === 'stream') });
}
fs.writeFileSync(path.join(tmpDir, 'hold.json'), JSON.stringify({ url: gateway.url, pid: gateway.pid, dir: tmpDir, upstreamPort }));
console.log(`gateway pid ${gateway.pid} at ${gateway.url}${pin ? ' (core 0; upstream on core 1)' : ' (unpinned)'}`);
console.log(`wrk scripts and hold.json in ${tmpDir}; Ctrl-C stops both`);
await new Promise(() => {});
