import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openStore, sqliteFile, sqliteHandle } from '../../src/store/open.ts';
import { pruneCutoff, pruneRequestLog } from '../../src/store/prune.ts';
import { verifyLedger, listLedger } from '../../src/store/ledger.ts';
import { usageTotals } from '../../src/store/usage.ts';
import { StoreMaintenance } from '../../src/store/maintenance.ts';
import { startWorkerJournalSink } from '../../src/store/worker-journal-sink.ts';
import { requestRow } from '../../src/store/write-behind.ts';
import { requestIdFloor } from '../../src/gateway/request-id.ts';
import { validateConfig, ConfigError } from '../../src/config/load.ts';
import { createLimits } from '../../src/limits/create.ts';
import pino from 'pino';
import { picoToUsd } from '../../src/billing/money.ts';

// Request-log retention deletes request rows older than the cutoff, and nothing else: the
// ledger, balances and reservations stay, so balance = sum(ledger) holds after a prune.

const DAY = 86_400_000;

function requestId(at: number, n: number): string {
  return `${requestIdFloor(at)}${n.toString(16).padStart(16, '0')}`;
}

/** A migrated store file in a temporary directory, removed after the test. */
async function emptyStore(t: { after: (fn: () => unknown) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prune-'));
  const db = await openStore(`sqlite:${join(dir, 'tollgate.db')}`);
  t.after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return { db, sqlite: sqliteHandle(db)! };
}

async function seededStore(t: { after: (fn: () => unknown) => void }) {
  const { db, sqlite } = await emptyStore(t);
  const now = Date.now();
  sqlite.prepare("INSERT INTO accounts (id, name, plan, balance, suspended, created_at, updated_at) VALUES ('acct_a', 'a', NULL, 0, 0, 0, 0)").run();
  const insertRequest = sqlite.prepare(
    "INSERT INTO requests (id, created_at, account_id, key_id, endpoint, model, status, stream, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost, latency_ms, failover) VALUES (?, ?, 'acct_a', 'key_a', 'chat', 'm', 200, 0, 10, 0, 0, 5, 1000, 1, 0)",
  );
  const insertEntry = sqlite.prepare("INSERT INTO ledger (account_id, kind, amount, request_id, created_at) VALUES ('acct_a', ?, ?, ?, ?)");
  const ages = { old: [] as string[], kept: [] as string[] };
  sqlite.transaction(() => {
    insertEntry.run('credit', 10_000_000n, null, now - 40 * DAY);
    // 500 requests 30..10 days old, 50 of 5..0 days old; each charged 1000 pUSD.
    for (let i = 0; i < 550; i++) {
      const at = i < 500 ? now - 30 * DAY + i * Math.floor((20 * DAY) / 500) : now - 5 * DAY + (i - 500) * Math.floor((5 * DAY) / 50);
      const id = requestId(at, i);
      insertRequest.run(id, at);
      insertEntry.run('charge', -1000n, id, at);
      (i < 500 ? ages.old : ages.kept).push(id);
    }
    sqlite.prepare("UPDATE accounts SET balance = 10000000 - 550 * 1000 WHERE id = 'acct_a'").run();
    sqlite.prepare("INSERT INTO reservations (request_id, account_id, amount, created_at) VALUES (?, 'acct_a', 5, ?)").run(requestId(now - 20 * DAY, 9999), now - 20 * DAY);
  })();
  return { db, sqlite, now, ages };
}

test('a prune deletes the request rows before the cutoff, in batches, and never the ledger', async (t) => {
  const { db, sqlite, now, ages } = await seededStore(t);
  const ledgerBefore = sqlite.prepare('SELECT * FROM ledger ORDER BY id').all();
  const reservationsBefore = sqlite.prepare('SELECT * FROM reservations').all();
  assert.deepEqual(await verifyLedger(db), []);

  const deleted = await pruneRequestLog(sqlite, pruneCutoff(now, 7, 120_000), { batchRows: 64, pauseMs: 0 });
  assert.equal(deleted, 500);
  const left = (sqlite.prepare('SELECT id FROM requests ORDER BY id').pluck().all() as string[]);
  assert.deepEqual(left, ages.kept);
  assert.deepEqual(sqlite.prepare('SELECT * FROM ledger ORDER BY id').all(), ledgerBefore, 'the ledger is untouched');
  assert.deepEqual(sqlite.prepare('SELECT * FROM reservations').all(), reservationsBefore);
  assert.deepEqual(await verifyLedger(db), [], 'balance = sum(ledger) after the prune');
  // An old charge is still listed, with its amount and request id; its token detail went with the log row.
  const ledger = await listLedger(db, 'acct_a', 1000);
  assert.equal(ledger.length, 551);
  const oldest = ledger.find((e) => e.request_id === ages.old[0])!;
  assert.equal(oldest.amount_usd, '-0.000000001');
  assert.equal(oldest.detail, null);
  assert.equal(ledger.find((e) => e.request_id === ages.kept[0])!.detail?.prompt_tokens, 10);

  assert.equal(await pruneRequestLog(sqlite, pruneCutoff(now, 7, 120_000)), 0, 'a second run finds nothing');
});

test('usage totals are the same after a prune: pruned rows are added up per day, model and key first', async (t) => {
  const { db, sqlite } = await emptyStore(t);
  // Yesterday noon, so that the rows fall on the same calendar days whenever the test runs
  // (near midnight, the first day held only a request of no account, and acct_a had 20 days).
  const now = Math.floor(Date.now() / DAY) * DAY - DAY / 2;
  sqlite.prepare("INSERT INTO accounts (id, name, plan, balance, suspended, created_at, updated_at) VALUES ('acct_a', 'a', NULL, 0, 0, 0, 0), ('acct_b', 'b', NULL, 0, 0, 0, 0)").run();
  const insert = sqlite.prepare(
    'INSERT INTO requests (id, created_at, account_id, key_id, endpoint, model, status, stream, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost, latency_ms, failover) VALUES (?, ?, ?, ?, \'chat\', ?, ?, 0, ?, ?, ?, ?, ?, 1, 0)',
  );
  // 900 requests over the last 20 days: two models (one request in seven names none), three
  // keys, refusals with no cost, costs with every picodollar digit, and requests of no
  // account (refused keys), which no account's usage counts.
  sqlite.transaction(() => {
    for (let i = 0; i < 900; i++) {
      const at = now - 20 * DAY + Math.floor((i * 20 * DAY) / 900);
      const refused = i % 11 === 0;
      insert.run(
        requestId(at, i), at, i % 13 === 0 ? null : i % 4 === 1 ? 'acct_b' : 'acct_a', i % 13 === 0 ? null : `key_${i % 3}`, i % 7 === 0 ? null : `m${i % 2}`, refused ? 429 : 200,
        refused ? 0 : 100 + i, refused ? 0 : i % 50, i % 5, refused ? 0 : 7 * i, refused ? null : 123_456_789n * BigInt(i) + 987_654_321_987n,
      );
    }
  })();
  const everyView = async () => {
    const out: Record<string, unknown> = {};
    // Every account's, as GET /admin/v1/usage gives them: requests of no account are not counted.
    for (const group_by of ['account', 'model'] as const) out[`all by ${group_by}`] = await usageTotals(db, null, { group_by });
    for (const group_by of ['day', 'model', 'key'] as const) {
      out[group_by] = await usageTotals(db, 'acct_a', { group_by });
      // A window of whole days, as the dashboard asks for (the pruned days are whole).
      const from = (Math.floor(now / DAY) - 15) * DAY;
      out[`${group_by} window`] = await usageTotals(db, 'acct_a', { group_by, from, to: from + 10 * DAY });
    }
    return out;
  };
  const before = await everyView();
  assert.equal((before.day as unknown[]).length, 21);
  const byAccount = before['all by account'] as { account: string; requests: number }[];
  assert.deepEqual(byAccount.map((r) => r.account), ['acct_a', 'acct_b']);
  assert.equal(byAccount[0]!.requests + byAccount[1]!.requests, Number(sqlite.prepare('SELECT count(*) FROM requests WHERE account_id IS NOT NULL').pluck().get()));
  assert.equal((before.key as unknown[]).length, 3);

  // Small batches: a day's rows are added up over several, into the same usage_daily row.
  const deleted = await pruneRequestLog(sqlite, pruneCutoff(now, 7, 120_000), { batchRows: 17, pauseMs: 0 });
  assert.ok(deleted > 500, `pruned ${deleted}`);
  assert.deepEqual(await everyView(), before);
  // The day the cutoff falls in is split between usage_daily and the log, and counted once.
  const cutDay = BigInt(Math.floor(pruneCutoff(now, 7, 120_000) / DAY));
  assert.ok((sqlite.prepare('SELECT count(*) FROM usage_daily WHERE day = ?').pluck().get(cutDay) as bigint) > 0n);
  assert.ok((sqlite.prepare('SELECT count(*) FROM requests WHERE created_at / 86400000 = ?').pluck().get(cutDay) as bigint) > 0n);
  assert.equal(sqlite.prepare("SELECT count(*) FROM usage_daily WHERE account_id = ''").pluck().get(), 0n);

  // Pruning all of it still gives the same totals.
  await pruneRequestLog(sqlite, now + DAY, { batchRows: 1000, pauseMs: 0 });
  assert.equal(sqlite.prepare('SELECT count(*) FROM requests').pluck().get(), 0n);
  const after = await everyView();
  assert.deepEqual(after.day, before.day);
  assert.deepEqual(after.model, before.model);
  assert.deepEqual(after.key, before.key);
  assert.deepEqual(after['all by account'], before['all by account']);
  assert.deepEqual(after['all by model'], before['all by model']);
  // A pruned day is counted whole: a window that starts inside it counts all of it.
  const from = (Math.floor(now / DAY) - 15) * DAY;
  assert.deepEqual(await usageTotals(db, 'acct_a', { group_by: 'day', from: from + DAY / 2, to: from + 10 * DAY - DAY / 2 }), before['day window']);
});

test('a prune on its thread while the journal thread writes: every request is counted once, in the log or in usage_daily', async (t) => {
  const { db, sqlite } = await emptyStore(t);
  const now = Date.now();
  sqlite.prepare("INSERT INTO accounts (id, name, plan, balance, suspended, created_at, updated_at) VALUES ('acct_a', 'a', NULL, 0, 0, 0, 0)").run();
  const insert = sqlite.prepare(
    "INSERT INTO requests (id, created_at, account_id, key_id, endpoint, model, status, prompt_tokens, completion_tokens, cost, latency_ms) VALUES (?, ?, 'acct_a', 'key_a', 'chat', 'm', 200, ?, 1, ?, 1)",
  );
  let n = 0;
  let prompt = 0n;
  let cost = 0n;
  const row = (at: number) => {
    n++;
    prompt += BigInt(n);
    cost += 1_000_003n * BigInt(n);
    return { id: requestId(at, n), at, prompt: n, cost: 1_000_003n * BigInt(n) };
  };
  // 9,000 rows 20 to 10 days old: several of the thread's 2,000-row batches.
  sqlite.transaction(() => {
    for (let i = 0; i < 9000; i++) {
      const r = row(now - 20 * DAY + i * 96_000);
      insert.run(r.id, r.at, r.prompt, r.cost);
    }
  })();
  const journal = await startWorkerJournalSink(sqliteFile(db)!);
  const maintenance = new StoreMaintenance(db);
  t.after(async () => {
    await maintenance.close();
    await journal.close();
  });
  const cutoff = now - 7 * DAY;
  const pruning = maintenance.pruneRequestLog(cutoff);
  // Meanwhile the journal commits 40 batches: requests of now, and requests that began
  // 8 days ago (long ones, or a clock behind), which this prune or the next may take.
  const commits: Promise<void>[] = [];
  for (let b = 0; b < 40; b++) {
    const records = [];
    for (let i = 0; i < 100; i++) {
      const r = row(i % 2 ? now - 8 * DAY + b * 1000 + i : now - 1000 + b);
      records.push(requestRow({ id: r.id, created_at: r.at, account_id: 'acct_a', key_id: 'key_a', endpoint: 'chat', model: 'm', status: 200, stream: 0, prompt_tokens: r.prompt, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 1, cost: r.cost, latency_ms: 1, failover: 0 }));
    }
    commits.push(journal.sink({ records, reserves: [], settles: [] }) as Promise<void>);
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(commits);
  const pruned = await pruning;
  assert.ok(pruned >= 9000, `pruned ${pruned}`);
  const again = await maintenance.pruneRequestLog(cutoff);
  assert.equal(pruned + again, 11000, 'every row older than the cutoff went, once');
  assert.equal(sqlite.prepare('SELECT count(*) FROM requests').pluck().get(), 2000n);
  const [total] = await usageTotals(db, 'acct_a', { group_by: 'model' });
  assert.equal(total!.requests, 13000);
  assert.equal(BigInt(total!.prompt_tokens), prompt);
  assert.equal(total!.cost_usd, picoToUsd(cost));
});

test('a row is kept whatever its id says if its time is within the retention', async (t) => {
  const { sqlite, now } = await seededStore(t);
  // A row whose id sorts old (a store from before time-ordered ids) but is recent.
  sqlite.prepare("INSERT INTO requests (id, created_at, endpoint, status, latency_ms) VALUES ('req_-legacy', ?, 'chat', 401, 1)").run(now - DAY);
  await pruneRequestLog(sqlite, pruneCutoff(now, 7, 120_000), { batchRows: 10, pauseMs: 0 });
  assert.equal(sqlite.prepare("SELECT count(*) FROM requests WHERE id = 'req_-legacy'").pluck().get(), 1n);
});

test('the cutoff never reaches the rows the daily-token reload reads at start', () => {
  const now = Date.UTC(2030, 6, 2, 1, 0, 0);
  const dayStart = Date.UTC(2030, 6, 2);
  assert.equal(pruneCutoff(now, 30, 120_000), now - 30 * DAY);
  assert.equal(pruneCutoff(now, 2, 120_000), now - 2 * DAY);
  // request_timeout_ms of 3 days: the reload reads rows begun up to 3 days before midnight.
  assert.equal(pruneCutoff(now, 2, 3 * DAY), dayStart - 3 * DAY);
});

test('the maintenance thread prunes a store file, and a call after close is refused', async (t) => {
  const { db, sqlite, now, ages } = await seededStore(t);
  const m = new StoreMaintenance(db);
  assert.equal(await m.pruneRequestLog(pruneCutoff(now, 7, 120_000)), 500);
  assert.equal(sqlite.prepare('SELECT count(*) FROM requests').pluck().get(), BigInt(ages.kept.length));
  assert.deepEqual(await m.verifyLedger(), []);
  await m.close();
  // With a code of its own, so the admin API can answer it 503 shutting_down, not 500.
  await assert.rejects(m.verifyLedger(), { message: /closing/, code: 'STORE_CLOSING' });
});

test('an error on the maintenance thread keeps its SQLite code (a locked store stays SQLITE_BUSY, a 503)', async (t) => {
  const { db, now } = await seededStore(t);
  const m = new StoreMaintenance(db);
  t.after(() => m.close());
  // Another process in a write transaction: the prune's delete waits out the busy timeout.
  const lock = new BetterSqlite3(sqliteFile(db)!);
  t.after(() => lock.close());
  lock.exec('BEGIN IMMEDIATE');
  await assert.rejects(m.pruneRequestLog(pruneCutoff(now, 7, 120_000)), { code: 'SQLITE_BUSY' });
  lock.exec('ROLLBACK');
  assert.equal(await m.pruneRequestLog(pruneCutoff(now, 7, 120_000)), 500, 'the thread still works once the lock is gone');
});

test('a maintenance thread that dies fails only its own calls, and the next call\'s thread is the one kept and closed', async (t) => {
  const { db } = await seededStore(t);
  const file = sqliteFile(db)!;
  const m = new StoreMaintenance(db, new URL('../fixtures/crash-once-maintenance-thread.ts', import.meta.url));
  await assert.rejects(m.verifyLedger(), /crashed/);
  // The next call starts a new thread. The dead one's 'exit' came after its 'error':
  // it dropped the new thread too, which the call after this one replaced with a third
  // that close() knew of, leaving the second running.
  assert.deepEqual(await m.verifyLedger(), []);
  assert.deepEqual(await m.verifyLedger(), []);
  await m.close();
  assert.equal(readFileSync(`${file}.threads`, 'utf8'), 'started\nstarted\n', 'two threads: the one that died and the one kept');
});

test('request_log.retention_days: unset keeps the log forever; below 2 days or not a whole number is a config error', () => {
  assert.equal(validateConfig({}).request_log.retention_days, undefined);
  assert.equal(validateConfig({ request_log: { retention_days: '90' } }).request_log.retention_days, 90);
  for (const bad of [1, 0, -3, 2.5, 'ninety']) {
    assert.throws(() => validateConfig({ request_log: { retention_days: bad } }), (err: unknown) => err instanceof ConfigError && err.message.includes('request_log.retention_days'));
  }
  assert.throws(() => validateConfig({ request_log: { retention: 30 } }), /request_log/);
});

test('after a prune, a restart reloads the same daily tokens: the rows the reload reads are kept', async (t) => {
  const { db, sqlite } = await emptyStore(t);
  const now = Date.now();
  const dayStart = Math.floor(now / DAY) * DAY;
  // Requests may run 3 days (request_timeout_ms); one begun 2.5 days before midnight and
  // ended today counts for today, and is older than a 2-day retention.
  const config = validateConfig({ request_timeout_ms: 3 * DAY, request_log: { retention_days: 2 } });
  const insert = sqlite.prepare(
    "INSERT INTO requests (id, created_at, account_id, key_id, endpoint, status, prompt_tokens, completion_tokens, latency_ms) VALUES (?, ?, 'acct_a', 'key_a', 'chat', 200, ?, 0, ?)",
  );
  const longStart = dayStart - 2.5 * DAY;
  insert.run(requestId(longStart, 1), longStart, 700, Math.round(2.6 * DAY));
  insert.run(requestId(Math.max(dayStart, now - 1000), 2), Math.max(dayStart, now - 1000), 300, 10);
  insert.run(requestId(dayStart - 6 * DAY, 3), dayStart - 6 * DAY, 5000, 10);
  const dailyUsed = async () => {
    const limits = await createLimits(config, db, pino({ level: 'silent' }));
    return (limits.describe({ id: 'acct_a', plan: null }, 0, []) as { daily_tokens: { used: number } }).daily_tokens.used;
  };
  assert.equal(await dailyUsed(), 1000);
  const deleted = await pruneRequestLog(sqlite, pruneCutoff(now, config.request_log.retention_days!, config.request_timeout_ms), { pauseMs: 0 });
  assert.equal(deleted, 1, 'only the 6-day-old row');
  assert.equal(await dailyUsed(), 1000, 'the reload after the prune finds today\'s tokens');
});
