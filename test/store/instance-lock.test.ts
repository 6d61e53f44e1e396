import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway } from '../helpers/gateway.ts';
import { StoreInUseError } from '../../src/store/instance-lock.ts';
import { runTollgateToEnd } from '../helpers/tollgate-process.ts';

// One gateway per store: a second one on the same file, in this process or another,
// refuses to start (each would admit against its own copy of every balance, and its
// start-up sweep would release the first one's live reservations). The lock goes with
// the gateway that held it.

test('a second gateway on the same store refuses to start, until the first has stopped', async (t) => {
  const up = await startFakeOpenAI();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-lock-'));
  t.after(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const storage = `sqlite:${join(dir, 'tollgate.db')}`;
  const config = { ...defaultConfig(up.baseUrl), storage };
  const first = await startTestGateway({ config });
  await assert.rejects(startTestGateway({ config }), (err: unknown) => {
    assert.ok(err instanceof StoreInUseError, String(err));
    assert.match((err as Error).message, /another gateway is serving the store .*tollgate\.db/);
    return true;
  });
  // Another process: `tollgate serve` exits 1, saying why, before it migrates or listens.
  const configFile = join(dir, 'second.yaml');
  writeFileSync(configFile, `storage: ${storage}\nlisten: { host: 127.0.0.1, port: 0 }\nadmin_token: second-admin-token-0123456789\n`);
  const serve = await runTollgateToEnd(['serve', '--config', configFile], { env: {} });
  assert.equal(serve.code, 1, serve.stderr);
  assert.match(serve.stderr, /another gateway is serving the store/);
  // Nor through a symlink to the same file.
  mkdirSync(join(dir, 'other'));
  symlinkSync(join(dir, 'tollgate.db'), join(dir, 'other', 'link.db'));
  await assert.rejects(startTestGateway({ config: { ...config, storage: `sqlite:${join(dir, 'other', 'link.db')}` } }), StoreInUseError);
  // The first is untouched, and once it stops the store is free again.
  assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
  await first.close();
  const second = await startTestGateway({ config });
  assert.equal((await fetch(`${second.url}/healthz`)).status, 200);
  await second.close();
});

test('a start refused for its config (default_plan) starts nothing first: no journal thread left, no orphan sweep, the store free', async (t) => {
  const up = await startFakeOpenAI();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-lock-'));
  t.after(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = { ...defaultConfig(up.baseUrl), storage: `sqlite:${join(dir, 'tollgate.db')}` };
  const before = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
  await assert.rejects(startTestGateway({ config: { ...config, default_plan: 'gold' } }), /default_plan: no plan has that id/);
  assert.equal(process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length, before, 'no journal thread left running');
  const next = await startTestGateway({ config });
  assert.equal((await fetch(`${next.url}/healthz`)).status, 200);
  await next.close();
});
