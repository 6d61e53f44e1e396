import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, SqliteDialect, type CompiledQuery } from 'kysely';
import { openStore, sqliteHandle } from '../../src/store/open.ts';
import { queryRequests } from '../../src/store/requests.ts';
import type { Database } from '../../src/store/schema.ts';

// One account's request log, as the admin API and `tollgate requests --account` page it,
// on a store that has run for months: queries run on the event loop, so one that sorts
// the account's whole log holds every customer's request for as long.

const row = (id: string, createdAt: number) => ({
  id, created_at: BigInt(createdAt), account_id: 'acct_a', key_id: 'key_a', endpoint: 'chat.completions', model: 'm', provider: 'p',
  upstream_model: 'm', status: 200, error_code: null, stream: 0, prompt_tokens: 1, cached_tokens: 0, cache_write_tokens: 0,
  completion_tokens: 1, cost: 0n, ttfb_ms: 1, latency_ms: 1, failover: 0, prices: null, reserved: null,
});

test("one account's page of the request log reads the index in order instead of sorting the account's whole log", async () => {
  const db = await openStore('sqlite::memory:');
  try {
    await db.insertInto('accounts').values({ id: 'acct_a', name: 'a', plan: null, balance: 0n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
    const raw = sqliteHandle(db)!;
    const seen: CompiledQuery[] = [];
    const traced = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }), log: (e) => void seen.push(e.query) });
    await queryRequests(traced, { account_id: 'acct_a', limit: 101 });
    await queryRequests(traced, { account_id: 'acct_a', from: 0, to: 5, before: 'req_x', limit: 101 });
    const listing = seen.filter((q) => /order by/i.test(q.sql));
    assert.ok(listing.length >= 2);
    for (const q of listing) {
      const plan = raw.prepare(`explain query plan ${q.sql}`).all(...(q.parameters as unknown[])) as { detail: string }[];
      const steps = plan.map((p) => p.detail).join('; ');
      assert.match(steps, /requests_account_time/, steps);
      assert.doesNotMatch(steps, /USE TEMP B-TREE FOR ORDER BY/, `the whole account is sorted: ${steps}`);
    }
  } finally {
    await db.destroy();
  }
});

test("an upgraded store's older random request ids come after the newer time-ordered ones, and pages neither skip nor repeat", async () => {
  const db = await openStore('sqlite::memory:');
  try {
    await db.insertInto('accounts').values({ id: 'acct_a', name: 'a', plan: null, balance: 0n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
    const t = Date.UTC(2026, 11, 1);
    // Before the time-ordered ids: req_ + 32 random hex digits, which mostly sort after them.
    const legacy = [row('req_f3a1c2d4e5f60718293a4b5c6d7e8f90', t), row('req_0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e', t + 1000), row('req_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d', t + 2000)];
    const fresh = [0, 1, 2].map((i) => row(`req_${(t + 86_400_000 + i).toString(36).padStart(9, '0')}${'0'.repeat(15)}${i}`, t + 86_400_000 + i));
    await db.insertInto('requests').values([...legacy, ...fresh]).execute();
    const newestFirst = [...fresh].reverse().concat([...legacy].reverse()).map((r) => r.id);
    assert.deepEqual((await queryRequests(db, { account_id: 'acct_a', limit: 100 })).map((r) => r.id), newestFirst);
    const paged: string[] = [];
    let before: string | undefined;
    for (;;) {
      const rows = await queryRequests(db, { account_id: 'acct_a', before, limit: 2 });
      if (rows.length === 0) break;
      paged.push(...rows.map((r) => r.id));
      before = rows.at(-1)!.id;
    }
    assert.deepEqual(paged, newestFirst);
  } finally {
    await db.destroy();
  }
});
