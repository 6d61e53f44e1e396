import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { runCli, spawnGateway } from '../helpers/process.ts';
import { runTollgateToEnd } from '../helpers/tollgate-process.ts';
import { picoToUsd, usdToPico } from '../../src/billing/money.ts';

// SIGKILL with requests in flight, then a restart: reservations left behind are resolved
// by the documented rule (released, not charged, recorded as adjustments) and the ledger
// still balances.

const ADMIN = 'crash-test-admin-token-0123456789';

test('a gateway killed with requests in flight resolves their reservations on restart', async (t) => {
  const up = await startFakeOpenAI({ promptTokens: 20, completionTokens: 5 });
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
  t.after(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = {
    admin_token: ADMIN,
    flush_interval_ms: 20,
    request_timeout_ms: 1500,
    providers: [{ id: 'fake', kind: 'openai', base_url: up.baseUrl, api_key: 'sk-upstream' }],
    models: [{ id: 'm', upstreams: [{ provider: 'fake', model: 'up-m' }], pricing: { input: '1', output: '2' } }],
  };
  const gw = await spawnGateway(config, { dir });
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${gw.url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return r.json() as Promise<any>;
  };
  const acct = await admin('POST', '/accounts', { name: 'crash' });
  await admin('POST', `/accounts/${acct.id}/credits`, { amount_usd: '10' });
  const { key } = await admin('POST', `/accounts/${acct.id}/keys`, {});
  const chat = (stream: boolean) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
    });

  // Three requests complete and are flushed before the crash.
  for (let i = 0; i < 3; i++) await (await chat(false)).text();
  await new Promise((r) => setTimeout(r, 200));

  // Five slow streams are in flight when the process is killed.
  up.behave({ text: 'w '.repeat(200).trim(), chunkDelayMs: 200, promptTokens: 20, completionTokens: 200 });
  const inflight = await Promise.all(Array.from({ length: 5 }, () => chat(true)));
  for (const r of inflight) await r.body!.getReader().read();
  await new Promise((r) => setTimeout(r, 200)); // reservations reach the store
  gw.proc.kill('SIGKILL');
  assert.equal(await gw.exited, 'SIGKILL');

  const db = new Database(join(dir, 'tollgate.db'), { readonly: true });
  const open = db.prepare('select count(*) as n from reservations').get() as { n: number };
  const charges = db.prepare("select count(*) as n from ledger where kind = 'charge'").get() as { n: number };
  db.close();
  assert.equal(open.n, 5, 'the in-flight reservations were persisted before the crash');
  assert.equal(charges.n, 3, 'completed requests were settled before the crash');

  // Restart after the request timeout has passed.
  await new Promise((r) => setTimeout(r, 1600));
  const gw2 = await spawnGateway(config, { dir });
  t.after(() => {
    gw2.proc.kill('SIGKILL');
  });
  const a = (await (await fetch(`${gw2.url}/admin/v1/accounts/${acct.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
  const each = 20n * 1_000_000n + 5n * 2_000_000n; // pUSD per completed request
  assert.equal(a.balance_usd, picoToUsd(usdToPico('10') - 3n * each));
  assert.equal(a.reserved_usd, '0.00');
  const ledger = (await (await fetch(`${gw2.url}/admin/v1/accounts/${acct.id}/ledger?limit=100`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
  const released = ledger.data.filter((e: any) => e.kind === 'adjustment');
  assert.equal(released.length, 5);
  for (const e of released) {
    assert.equal(e.amount_usd, '0.00');
    assert.match(e.note, /unclean shutdown/);
    assert.ok(e.request_id);
  }
  const db2 = new Database(join(dir, 'tollgate.db'), { readonly: true });
  assert.equal((db2.prepare('select count(*) as n from reservations').get() as { n: number }).n, 0);
  db2.close();

  const v = await runCli(['ledger', 'verify', '--config', gw.configFile]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /ledger ok: 1 accounts/);
});

/** A store a gateway wrote one account credited $5 to, and stopped cleanly. */
async function storeWithACreditedAccount(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gw = await spawnGateway({ admin_token: ADMIN }, { dir });
  const r = await fetch(`${gw.url}/admin/v1/accounts`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
  const acct = (await r.json()) as { id: string };
  await fetch(`${gw.url}/admin/v1/accounts/${acct.id}/credits`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ amount_usd: '5' }) });
  gw.proc.kill('SIGTERM');
  assert.equal(await gw.exited, 0);
  return { dir, gw, acct };
}

test('tollgate ledger verify exits non-zero and names the difference when a balance is off', async (t) => {
  const { dir, gw, acct } = await storeWithACreditedAccount(t);
  assert.equal((await runCli(['ledger', 'verify', '--config', gw.configFile])).code, 0);
  const db = new Database(join(dir, 'tollgate.db'));
  db.prepare('update accounts set balance = balance + 1000000 where id = ?').run(acct.id);
  db.close();
  const v = await runCli(['ledger', 'verify', '--config', gw.configFile]);
  assert.equal(v.code, 1);
  assert.match(v.stdout, new RegExp(`MISMATCH ${acct.id}: balance 5.000001 USD, ledger sum 5.00 USD, difference 0.000001 USD`));
});

test('tollgate ledger verify leaves the store byte for byte as it was, an older schema and rollback journal mode included', async (t) => {
  const { dir, gw } = await storeWithACreditedAccount(t);
  // A copy as an older release left it (no usage_daily yet), in rollback mode, as a
  // backup made with VACUUM INTO is.
  const file = join(dir, 'tollgate.db');
  const db = new Database(file);
  db.exec("DROP TABLE usage_daily; DELETE FROM kysely_migration WHERE name LIKE '0005%'; PRAGMA journal_mode = DELETE;");
  db.close();
  const hash = () => createHash('sha256').update(readFileSync(file)).digest('hex');
  const before = hash();
  const files = readdirSync(dir).sort();
  const v = await runCli(['ledger', 'verify', '--config', gw.configFile]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /ledger ok: 1 accounts/);
  assert.equal(hash(), before, 'verify changed the file (a migration, or the journal mode)');
  assert.deepEqual(readdirSync(dir).sort(), files, 'verify left no -wal or -shm file behind');
});

test('tollgate ledger verify needs only the storage setting: an unset provider key does not stop it, a bad storage does', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gw = await spawnGateway({ admin_token: ADMIN }, { dir });
  gw.proc.kill('SIGTERM');
  assert.equal(await gw.exited, 0);
  const config = join(dir, 'other.yaml');
  const providerWithUnsetKey = 'providers:\n  - {id: up, kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: "${TG_VERIFY_UNSET_KEY}"}\n';
  writeFileSync(config, `storage: "sqlite:\${TG_VERIFY_DB}"\n${providerWithUnsetKey}`);
  const env = { TG_VERIFY_DB: join(dir, 'tollgate.db') };
  const ok = await runCli(['ledger', 'verify', '--config', config], env);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ledger ok: 0 accounts/);
  // The full config still refuses the unset key where it matters.
  const serve = await runCli(['serve', '--config', config], env);
  assert.equal(serve.code, 78);
  assert.match(serve.stderr, /TG_VERIFY_UNSET_KEY is not set/);
  writeFileSync(config, `storage: "mysql://x"\n${providerWithUnsetKey}`);
  const bad = await runCli(['ledger', 'verify', '--config', config], env);
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /storage: must be sqlite:<path>/);
});

test('tollgate ledger verify where there is no database says so and exits 1, creating nothing', async (t) => {
  // It used to create ./data/tollgate.db and report "ledger ok: 0 accounts".
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const v = await runTollgateToEnd(['ledger', 'verify'], { cwd: dir });
  assert.equal(v.code, 1, v.stdout + v.stderr);
  assert.equal(v.stdout, '');
  assert.match(v.stderr, /^tollgate: no database at \.\/data\/tollgate\.db \(storage sqlite:\.\/data\/tollgate\.db\); run this where the gateway runs, or pass --config FILE\n$/);
  assert.ok(!existsSync(join(dir, 'data')), 'no data directory was created');
});
