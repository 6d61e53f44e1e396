import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openStore, sqliteHandle, type Db } from '../../src/store/open.ts';
import { createSqliteJournalSink } from '../../src/store/sqlite-journal-sink.ts';
import { WriteBehind, requestRow, type JournalBatch, type RequestRecord } from '../../src/store/write-behind.ts';
import { startWorkerJournalSink } from '../../src/store/worker-journal-sink.ts';

// The journal's contract with the store: every charge lands with its ledger entry and
// balance change; a reservation is in the store exactly while its request is open
// across a commit; a failed commit is retried without losing or doubling anything.

const log = pino({ level: 'silent' });
const ACCOUNT = 'acct_journal';

async function store(t: { after(fn: () => Promise<void>): void }): Promise<Db> {
  const db = await openStore('sqlite::memory:');
  t.after(() => db.destroy());
  await db.insertInto('accounts').values({ id: ACCOUNT, name: 'j', plan: null, balance: 1_000_000n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
  return db;
}

function record(id: string, cost: bigint): RequestRecord {
  return { id, created_at: 1, account_id: ACCOUNT, key_id: null, endpoint: 'chat', status: 200, stream: 0, cost, latency_ms: 3, prompt_tokens: 5, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 7, failover: 0, reserved: 900n };
}

/** The real SQLite sink, with every batch it was given kept for inspection. */
function recordingSink(db: Db, failFirst = 0): { batches: JournalBatch[]; sink: (b: JournalBatch) => void } {
  const apply = createSqliteJournalSink(sqliteHandle(db)!);
  const batches: JournalBatch[] = [];
  let failures = failFirst;
  return {
    batches,
    sink(b) {
      batches.push(structuredClone(b));
      if (failures-- > 0) throw new Error('disk full');
      apply(b);
    },
  };
}

async function state(db: Db) {
  const acct = await db.selectFrom('accounts').select('balance').where('id', '=', ACCOUNT).executeTakeFirstOrThrow();
  const reservations = await db.selectFrom('reservations').select('request_id').orderBy('request_id').execute();
  const charges = await db.selectFrom('ledger').select(['request_id', 'amount']).where('kind', '=', 'charge').orderBy('id').execute();
  const requests = await db.selectFrom('requests').select(['id', 'cost']).orderBy('id').execute();
  return { balance: BigInt(acct.balance), reservations: reservations.map((r) => r.request_id), charges, requests };
}

test('a reservation settled before the next commit is never written; its charge, debit and request row are', async (t) => {
  const db = await store(t);
  const { batches, sink } = recordingSink(db);
  const wb = new WriteBehind(sink, log, { flushMs: 60_000 });
  wb.reserve('req_a', ACCOUNT, 900n, 1);
  wb.reserve('req_b', ACCOUNT, 900n, 1);
  wb.settle('req_a', ACCOUNT, 120n, null, 2);
  wb.record(record('req_a', 120n));
  // Released with nothing charged: neither the reservation nor a settlement reaches the store.
  wb.settle('req_b', ACCOUNT, 0n, null, 2);
  wb.record(record('req_b', 0n));
  await wb.flush();

  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0]!.reserves, []);
  assert.deepEqual(batches[0]!.settles, [['req_a', ACCOUNT, 120n, null, 2, 0]]);
  const s = await state(db);
  assert.equal(s.balance, 1_000_000n - 120n);
  assert.deepEqual(s.reservations, []);
  assert.deepEqual(s.charges, [{ request_id: 'req_a', amount: -120n }]);
  assert.deepEqual(s.requests, [{ id: 'req_a', cost: 120n }, { id: 'req_b', cost: 0n }]);
});

test('a request open across a commit leaves its reservation in the store until it settles', async (t) => {
  const db = await store(t);
  const { batches, sink } = recordingSink(db);
  const wb = new WriteBehind(sink, log, { flushMs: 60_000 });
  wb.reserve('req_long', ACCOUNT, 900n, 1);
  wb.reserve('req_free', ACCOUNT, 900n, 1);
  await wb.flush();
  assert.deepEqual((await state(db)).reservations, ['req_free', 'req_long']);

  wb.settle('req_long', ACCOUNT, 300n, '{"usage_estimated":true}', 5);
  wb.record(record('req_long', 300n));
  wb.settle('req_free', ACCOUNT, 0n, null, 5);
  wb.record(record('req_free', 0n));
  await wb.flush();

  assert.deepEqual(batches[1]!.settles.map((x) => [x[0], x[2], x[5]]), [['req_long', 300n, 1], ['req_free', 0n, 1]]);
  const s = await state(db);
  assert.deepEqual(s.reservations, []);
  assert.equal(s.balance, 1_000_000n - 300n);
  assert.deepEqual(s.charges, [{ request_id: 'req_long', amount: -300n }]);
  const detail = await db.selectFrom('ledger').select('detail').where('request_id', '=', 'req_long').executeTakeFirstOrThrow();
  assert.equal(detail.detail, '{"usage_estimated":true}');
});

test('a failed commit is retried whole, in order, and applied exactly once', async (t) => {
  const db = await store(t);
  const { batches, sink } = recordingSink(db, 1);
  const wb = new WriteBehind(sink, log, { flushMs: 5 });
  wb.reserve('req_1', ACCOUNT, 900n, 1);
  wb.reserve('req_2', ACCOUNT, 900n, 1);
  wb.settle('req_1', ACCOUNT, 50n, null, 2);
  wb.record(record('req_1', 50n));
  await wb.flush(); // fails: req_2's reservation goes back to the queue
  assert.equal(wb.pending, 3);
  assert.deepEqual((await state(db)).requests, []);

  // req_2 settles while its reservation waits to be written again.
  wb.settle('req_2', ACCOUNT, 70n, null, 3);
  wb.record(record('req_2', 70n));
  await wb.close();

  assert.equal(batches.length, 2);
  assert.deepEqual(batches[1]!.reserves.map((r) => r[0]), ['req_2']);
  assert.deepEqual(batches[1]!.settles.map((x) => [x[0], x[5]]), [['req_1', 0], ['req_2', 1]]);
  const s = await state(db);
  assert.equal(s.balance, 1_000_000n - 120n);
  assert.deepEqual(s.reservations, []);
  assert.deepEqual(s.charges.map((c) => c.request_id), ['req_1', 'req_2']);
  assert.deepEqual(s.requests.map((r) => r.id), ['req_1', 'req_2']);
  assert.equal(wb.pending, 0);
});

test('the request row carries every column it was given, in place', async (t) => {
  const db = await store(t);
  const { sink } = recordingSink(db);
  const wb = new WriteBehind(sink, log, { flushMs: 60_000 });
  const full: RequestRecord = {
    id: 'req_full', created_at: 11, account_id: ACCOUNT, key_id: 'key_x', endpoint: 'embeddings', model: 'pub', provider: 'prov', upstream_model: 'up',
    status: 429, error_code: 'rate_limit_exceeded', stream: 1, prompt_tokens: 1, cached_tokens: 2, cache_write_tokens: 3, completion_tokens: 4,
    cost: 5n, ttfb_ms: 6, latency_ms: 7, failover: 1, prices: '{"input":"1"}', reserved: 8n,
  };
  wb.record(full);
  await wb.flush();
  const row = await db.selectFrom('requests').selectAll().where('id', '=', 'req_full').executeTakeFirstOrThrow();
  const asNumbers = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' && k !== 'cost' && k !== 'reserved' ? Number(v) : v]));
  assert.deepEqual(asNumbers, full);
});

test('a large batch (written 32, 8 and 1 rows per statement) lands every row, column and charge, in order', async (t) => {
  const db = await store(t);
  const other = 'acct_other';
  await db.insertInto('accounts').values({ id: other, name: 'o', plan: null, balance: 1_000_000n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
  const { batches, sink } = recordingSink(db);
  const wb = new WriteBehind(sink, log, { flushMs: 60_000 });
  // 45 = 32 + 8 + 5 x 1; every seventh request is free (no ledger entry).
  const expected: RequestRecord[] = [];
  for (let i = 0; i < 45; i++) {
    const id = `req_${String(i).padStart(3, '0')}`;
    const account = i % 2 ? other : ACCOUNT;
    const cost = i % 7 === 0 ? 0n : BigInt(100 + i);
    wb.reserve(id, account, 900n, i);
    wb.settle(id, account, cost, i % 5 === 0 ? `{"n":${i}}` : null, 1000 + i);
    const r: RequestRecord = {
      id, created_at: 1000 + i, account_id: account, key_id: `key_${i}`, endpoint: 'chat.completions', model: `m${i}`, provider: 'p', upstream_model: `u${i}`,
      status: 200 + (i % 3), error_code: i % 3 ? `e${i}` : null, stream: i % 2, prompt_tokens: i, cached_tokens: i * 2, cache_write_tokens: i * 3, completion_tokens: i * 4,
      cost, ttfb_ms: i * 5, latency_ms: i * 6, failover: (i + 1) % 2, prices: `{"input":"${i}"}`, reserved: 900n,
    };
    expected.push(r);
    wb.record(r);
  }
  await wb.flush();
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.records.length, 45);

  const rows = await db.selectFrom('requests').selectAll().orderBy('id').execute();
  const asNumbers = rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' && k !== 'cost' && k !== 'reserved' ? Number(v) : v])));
  assert.deepEqual(asNumbers, expected);

  const paid = expected.filter((r) => r.cost !== 0n);
  const ledger = await db.selectFrom('ledger').select(['account_id', 'request_id', 'amount', 'detail', 'created_at']).where('kind', '=', 'charge').orderBy('id').execute();
  assert.deepEqual(
    ledger.map((l) => [l.account_id, l.request_id, l.amount, l.detail, Number(l.created_at)]),
    paid.map((r) => { const i = Number(r.id.slice(4)); return [r.account_id, r.id, -(r.cost as bigint), i % 5 === 0 ? `{"n":${i}}` : null, 1000 + i]; }),
  );
  const balance = async (id: string) => BigInt((await db.selectFrom('accounts').select('balance').where('id', '=', id).executeTakeFirstOrThrow()).balance);
  const spent = (id: string) => paid.filter((r) => r.account_id === id).reduce((s, r) => s + (r.cost as bigint), 0n);
  assert.equal(await balance(ACCOUNT), 1_000_000n - spent(ACCOUNT));
  assert.equal(await balance(other), 1_000_000n - spent(other));
  assert.deepEqual((await state(db)).reservations, []);
});

test('45 requests open across a commit: every reservation is written (32, 8 and 1 per statement) and each is deleted when its request settles', async (t) => {
  const db = await store(t);
  const { batches, sink } = recordingSink(db);
  const wb = new WriteBehind(sink, log, { flushMs: 60_000 });
  const ids = Array.from({ length: 45 }, (_, i) => `req_${String(i).padStart(3, '0')}`);
  ids.forEach((id, i) => wb.reserve(id, ACCOUNT, 900n + BigInt(i), 5000 + i));
  await wb.flush();
  const open = await db.selectFrom('reservations').selectAll().orderBy('request_id').execute();
  assert.deepEqual(
    open.map((r) => [r.request_id, r.account_id, BigInt(r.amount), Number(r.created_at)]),
    ids.map((id, i) => [id, ACCOUNT, 900n + BigInt(i), 5000 + i]),
  );
  // A reservation written again (a retried batch) is ignored, not an error, and not changed.
  sink({ records: [], reserves: [[ids[0]!, ACCOUNT, 1n, 1]], settles: [] });
  assert.equal(BigInt((await db.selectFrom('reservations').select('amount').where('request_id', '=', ids[0]!).executeTakeFirstOrThrow()).amount), 900n);

  // Settle all but the last two: 43 = 32 + 8 + 3 x 1 deletions in one commit.
  ids.slice(0, 43).forEach((id, i) => {
    wb.settle(id, ACCOUNT, i % 4 === 0 ? 0n : 10n, null, 6000 + i);
    wb.record(record(id, i % 4 === 0 ? 0n : 10n));
  });
  await wb.flush();
  assert.equal(batches[2]!.settles.filter((s) => s[5] === 1).length, 43);
  const s = await state(db);
  assert.deepEqual(s.reservations, ids.slice(43));
  const paid = ids.slice(0, 43).filter((_, i) => i % 4 !== 0);
  assert.deepEqual(s.charges.map((c) => c.request_id), paid);
  assert.equal(s.balance, 1_000_000n - 10n * BigInt(paid.length));
  assert.equal(s.requests.length, 43);
});

test('a statement that fails inside a commit rolls the whole batch back, and the next batch commits', async (t) => {
  const db = await store(t);
  const apply = createSqliteJournalSink(sqliteHandle(db)!);
  // A charge for an account the store does not have breaks the ledger's foreign key,
  // after the batch's reservation and before its request rows.
  const broken: JournalBatch = {
    records: [requestRow(record('req_bad', 5n))],
    reserves: [['req_open', ACCOUNT, 900n, 1]],
    settles: [['req_bad', 'acct_missing', 5n, null, 2, 0]],
  };
  assert.throws(() => apply(broken), /FOREIGN KEY/);
  let s = await state(db);
  assert.deepEqual([s.reservations, s.charges, s.requests, s.balance], [[], [], [], 1_000_000n]);

  apply({ records: [requestRow(record('req_ok', 7n))], reserves: [['req_open', ACCOUNT, 900n, 1]], settles: [['req_ok', ACCOUNT, 7n, null, 2, 0]] });
  s = await state(db);
  assert.deepEqual([s.reservations, s.charges.map((c) => c.request_id), s.requests.map((r) => r.id), s.balance], [['req_open'], ['req_ok'], ['req_ok'], 1_000_000n - 7n]);
});

test('the journal thread commits to the store file, and a file it cannot open fails its start', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-journal-worker-'));
  const file = path.join(dir, 'store.db');
  const db = await openStore(`sqlite:${file}`);
  t.after(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await db.insertInto('accounts').values({ id: ACCOUNT, name: 'j', plan: null, balance: 1_000_000n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
  const worker = await startWorkerJournalSink(file);
  await worker.sink({ records: [requestRow(record('req_w', 3n))], reserves: [['req_open', ACCOUNT, 900n, 1]], settles: [['req_w', ACCOUNT, 3n, null, 2, 0]] });
  // Committed when the sink resolves: visible to the store's own connection at once.
  const s = await state(db);
  assert.deepEqual([s.reservations, s.charges.map((c) => c.request_id), s.requests.map((r) => r.id), s.balance], [['req_open'], ['req_w'], ['req_w'], 1_000_000n - 3n]);
  await worker.close();
  await assert.rejects(startWorkerJournalSink(path.join(dir, 'missing', 'x.db')), /unable to open|cannot open/i);
});

test('waiting counts the batch being committed, and a failed commit is counted (what /metrics shows)', async (t) => {
  const db = await store(t);
  const { sink } = recordingSink(db, 1);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const wb = new WriteBehind(async (b) => {
    await held;
    sink(b);
  }, log, { flushMs: 60_000 });
  for (let i = 0; i < 20; i++) wb.record(record(`req_w${i}`, 0n));
  assert.equal(wb.waiting, 20);
  const first = wb.flush();
  await new Promise((r) => setImmediate(r));
  // The whole batch is in the commit: nothing queued, all of it still waiting.
  assert.equal(wb.pending, 0);
  assert.equal(wb.waiting, 20);
  wb.record(record('req_w20', 0n));
  assert.equal(wb.waiting, 21);
  release();
  assert.equal(await first, false, 'the first commit fails (disk full)');
  assert.equal(wb.failedCommits, 1);
  assert.equal(wb.waiting, 21, 'the failed batch is queued again');
  assert.equal(await wb.flush(), true);
  assert.equal(wb.waiting, 0);
  assert.equal(wb.failedCommits, 1);
  assert.equal((await state(db)).requests.length, 21);
});
