import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import BetterSqlite3 from 'better-sqlite3';
import { openStore } from '../../src/store/open.ts';
import { WriteBehind } from '../../src/store/write-behind.ts';
import { startWorkerJournalSink } from '../../src/store/worker-journal-sink.ts';

// A shutdown's last flush can fail for a while: another process (a backup, an operator's
// sqlite3 shell) holds the store's write lock past the busy timeout (5 s). close() used
// to try once, log the failure and return, and the process exited with every request
// record and charge still queued lost. It now retries until the commit goes through.

const ACCOUNT = 'acct_close';

test('close() retries a commit that fails while another connection holds the write lock, and loses nothing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-journal-close-'));
  const file = path.join(dir, 'store.db');
  const db = await openStore(`sqlite:${file}`);
  await db.insertInto('accounts').values({ id: ACCOUNT, name: 'c', plan: null, balance: 1_000_000n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
  const worker = await startWorkerJournalSink(file);
  const lock = new BetterSqlite3(file);
  t.after(async () => {
    if (lock.inTransaction) lock.exec('ROLLBACK');
    lock.close();
    await worker.close();
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const wb = new WriteBehind(worker.sink, pino({ level: 'silent' }), { flushMs: 60_000 });
  for (let i = 0; i < 5; i++) {
    const id = `req_${i}`;
    wb.settle(id, ACCOUNT, 100n, null, 2);
    wb.record({ id, created_at: 1, account_id: ACCOUNT, key_id: null, endpoint: 'chat', status: 200, stream: 0, cost: 100n, latency_ms: 3, prompt_tokens: 5, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 7, failover: 0, reserved: 900n });
  }
  lock.exec('BEGIN IMMEDIATE');
  const closed = wb.close();
  // Held past the journal connection's 5 s busy timeout, so its first commit fails.
  await new Promise((r) => setTimeout(r, 6_000));
  lock.exec('ROLLBACK');
  await closed;

  assert.equal(wb.pending, 0);
  const rows = await db.selectFrom('requests').select('id').execute();
  const charges = await db.selectFrom('ledger').select('amount').where('kind', '=', 'charge').execute();
  const acct = await db.selectFrom('accounts').select('balance').where('id', '=', ACCOUNT).executeTakeFirstOrThrow();
  assert.equal(rows.length, 5, 'every request record reached the store');
  assert.equal(charges.length, 5, 'every charge reached the ledger');
  assert.equal(BigInt(acct.balance), 1_000_000n - 500n);
});

test('close() that gives up says how much is lost, even when a commit was failing slowly as it began, and keeps to its time', async () => {
  // A store locked by another process: each commit waits out a busy timeout, then fails.
  // A retry timer set by the commit under way at close() used to chain a commit of its
  // own, which took the queue as close() read it: 0 lost, and the process exited 0.
  let calls = 0;
  const sink = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 1500));
    throw new Error('database is locked');
  };
  const wb = new WriteBehind(sink, pino({ level: 'silent' }), { flushMs: 20 });
  for (let i = 0; i < 10; i++) wb.record({ id: `r${i}`, created_at: 1, account_id: null, key_id: null, endpoint: 'chat', status: 200, stream: 0, cost: null, latency_ms: 1, prompt_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 0, failover: 0 });
  await new Promise((r) => setTimeout(r, 30)); // the timed flush is committing now
  const started = Date.now();
  const lost = await wb.close(3000);
  const took = Date.now() - started;
  assert.equal(lost, 10, 'every record is counted as lost');
  assert.equal(wb.waiting, 10);
  assert.ok(took < 3000 + 1500 + 1000, `close() took ${took} ms`);
  const after = calls;
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(calls, after, 'no commit is left running or scheduled after close()');
});
