import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTollgate, runTollgateToEnd } from '../helpers/tollgate-process.ts';

// `tollgate serve` on an IPv6 address, as an operator writes it in listen.host.

const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-ipv6-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('listen.host ::1 (IPv6): it listens, prints a URL that works, and a port in use is named [::1]:port', async (t) => {
  const cwd = mkdtempSync(join(dir, 'ipv6-'));
  writeFileSync(join(cwd, 'v6.yaml'), 'listen: { host: "::1", port: 0 }\n');
  const up = runTollgate(['serve', '--config', 'v6.yaml'], { cwd });
  t.after(() => up.stop('SIGKILL'));
  const url = /listening on (http:\/\/\[::1\]:\d+)/.exec(await up.waitFor(/listening on http:\S+/))![1]!;
  assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
  const port = new URL(url).port;
  // A store of its own: on the first one's, it would be refused for the store (one gateway per store) before the port.
  writeFileSync(join(cwd, 'busy.yaml'), `listen: { host: "::1", port: ${port} }\nstorage: sqlite:./data/busy.db\n`);
  const failed = await runTollgateToEnd(['serve', '--config', 'busy.yaml'], { cwd });
  assert.deepEqual(await up.stop('SIGTERM'), { code: 0, signal: null });
  assert.equal(failed.code, 1);
  // It said "::1:PORT", which reads as a host "::1:PORT" with no port.
  assert.match(failed.stderr, new RegExp(`^tollgate: \\[::1\\]:${port} is in use`));
});
