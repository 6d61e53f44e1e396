import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import BetterSqlite3 from 'better-sqlite3';
import { validateConfig } from '../../src/config/load.ts';
import { startGateway } from '../../src/gateway/start.ts';
import { openStore } from '../../src/store/open.ts';
import { requestIdFloor } from '../../src/gateway/request-id.ts';
import { defaultConfig } from '../helpers/gateway.ts';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { post } from '../helpers/http.ts';

// A gateway configured with request_log.retention_days prunes the old request log at
// start, on its maintenance thread, a batch at a time: customers keep being answered
// meanwhile, what they send is still journaled, and the ledger still verifies.

const DAY = 86_400_000;
const OLD_ROWS = 200_000;

test('retention_days prunes 200k old request rows at start while the gateway serves traffic', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-retention-'));
  const file = join(dir, 'tollgate.db');
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // A store with a year-old request log: 200k rows 400..30 days old, every 1000th charged.
  const seed = await openStore(`sqlite:${file}`);
  await seed.destroy();
  const sqlite = new BetterSqlite3(file);
  sqlite.defaultSafeIntegers(true);
  t.after(() => sqlite.close());
  const now = Date.now();
  sqlite.transaction(() => {
    sqlite.prepare("INSERT INTO accounts (id, name, plan, balance, suspended, created_at, updated_at) VALUES ('acct_old', 'old', NULL, 0, 0, 0, 0)").run();
    const insertRequest = sqlite.prepare(
      "INSERT INTO requests (id, created_at, account_id, endpoint, model, status, stream, prompt_tokens, completion_tokens, cost, latency_ms) VALUES (?, ?, 'acct_old', 'chat', 'm', ?, 0, 10, 5, ?, 1)",
    );
    const insertEntry = sqlite.prepare("INSERT INTO ledger (account_id, kind, amount, request_id, created_at) VALUES ('acct_old', ?, ?, ?, ?)");
    insertEntry.run('credit', 1_000_000_000n, null, now - 500 * DAY);
    for (let i = 0; i < OLD_ROWS; i++) {
      const at = now - 400 * DAY + i * Math.floor((370 * DAY) / OLD_ROWS);
      const id = `${requestIdFloor(at)}${i.toString(16).padStart(16, '0')}`;
      const charged = i % 1000 === 0;
      insertRequest.run(id, at, charged ? 200 : 401, charged ? 7000n : null);
      if (charged) insertEntry.run('charge', -7000n, id, at);
    }
    sqlite.prepare("UPDATE accounts SET balance = (SELECT sum(amount) FROM ledger WHERE account_id = 'acct_old') WHERE id = 'acct_old'").run();
  })();
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const ledgerBefore = sqlite.prepare('SELECT * FROM ledger ORDER BY id').all();

  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const adminToken = `test-admin-${randomBytes(16).toString('hex')}`;
  const config = validateConfig({
    ...defaultConfig(up.baseUrl),
    listen: { host: '127.0.0.1', port: 0 },
    storage: `sqlite:${file}`,
    admin_token: adminToken,
    flush_interval_ms: 20,
    request_log: { retention_days: 7 },
  });
  const gw = await startGateway(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), allowSimulated: true });
  t.after(() => gw.close());
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gw.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  // Customers arrive while the prune runs: an account, a key, and chats.
  const account = await admin('POST', '/accounts', { name: 'new' });
  assert.equal(account.status, 201, JSON.stringify(account.body));
  assert.equal((await admin('POST', `/accounts/${account.body.id}/credits`, { amount_usd: '5' })).status, 201);
  const key = await admin('POST', `/accounts/${account.body.id}/keys`, {});
  assert.equal(key.status, 201);
  const oldLeft = sqlite.prepare('SELECT count(*) FROM (SELECT 1 FROM requests WHERE id < ? LIMIT 1)').pluck();
  const floor = requestIdFloor(now - 7 * DAY);
  let chats = 0;
  // Measured from here: the start itself (migrations, the tokenizer's warm-up) is not the prune.
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const t0 = performance.now();
  while (oldLeft.get(floor) !== 0n) {
    assert.ok(performance.now() - t0 < 15_000, 'the prune finishes');
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key: key.body.key });
    assert.equal(r.status, 200, r.text);
    chats++;
  }
  delay.disable();
  const pruneMs = performance.now() - t0;
  const maxMs = delay.max / 1e6;
  process.stderr.write(`pruned ${OLD_ROWS} rows in ~${pruneMs.toFixed(0)} ms under traffic; ${chats} chats meanwhile; longest event-loop stall ${maxMs.toFixed(1)} ms\n`);
  assert.ok(chats > 0, 'customers were served while old rows were still being pruned');
  assert.ok(maxMs < 400, `the event loop stalled ${maxMs.toFixed(0)} ms during the prune`);

  // Every chat was journaled; the ledger, old entries included, is as it was and verifies.
  await gw.rt.journal.flush();
  const mine = sqlite.prepare('SELECT count(*) FROM requests WHERE account_id = ?').pluck().get(account.body.id);
  assert.equal(mine, BigInt(chats));
  const oldLedger = sqlite.prepare("SELECT * FROM ledger WHERE account_id = 'acct_old' ORDER BY id").all();
  assert.deepEqual(oldLedger, ledgerBefore);
  assert.equal(sqlite.prepare("SELECT count(*) FROM requests WHERE account_id = 'acct_old'").pluck().get(), 0n);
  assert.deepEqual((await admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
  const listed = await admin('GET', '/accounts/acct_old/ledger?limit=1000');
  assert.equal(listed.body.data.length, 201, 'the credit and every old charge are still listed');
  // The pruned rows are still in the usage totals, per account and gateway-wide.
  const usage = (await admin('GET', '/accounts/acct_old/usage?group_by=model')).body.data;
  assert.deepEqual(usage.map((u: any) => [u.model, u.requests, u.prompt_tokens, u.completion_tokens, u.cost_usd]), [['m', OLD_ROWS, 10 * OLD_ROWS, 5 * OLD_ROWS, '0.0000014']]);
  const everyone = (await admin('GET', '/usage?group_by=account')).body.data;
  assert.deepEqual(everyone.map((u: any) => [u.account, u.requests]), [[account.body.id, chats], ['acct_old', OLD_ROWS]].sort((a, b) => String(a[0]) < String(b[0]) ? -1 : 1));
});
