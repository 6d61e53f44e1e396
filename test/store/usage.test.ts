import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/store/open.ts';
import { usageTotals } from '../../src/store/usage.ts';
import { MAX_PICO, picoToUsd } from '../../src/billing/money.ts';

// Usage totals add costs exactly, even past what one int64 of picodollars holds (an
// account's spend over months can pass $9.2M while every balance stays in range), and a
// day's requests make one row.

test('usage totals are exact past $9.2M of spend, grouped by day, model and key', async (t) => {
  const db = await openStore('sqlite::memory:');
  t.after(() => db.destroy());
  await db.insertInto('accounts').values({ id: 'acct_big', name: 'big', plan: null, balance: 0n, suspended: 0, created_at: 0n, updated_at: 0n }).execute();
  // Three requests of $4M and change each, the last cost with every picodollar digit set.
  const costs = [4_000_000_123_456_789_012n, 4_000_000_000_000_000_001n, 3_999_999_999_999_999_999n];
  for (const [i, cost] of costs.entries()) {
    await db
      .insertInto('requests')
      .values({ id: `req_${i}`, created_at: BigInt(86_400_000 * 3 + i), account_id: 'acct_big', key_id: 'key_1', endpoint: 'chat', model: 'm', status: 200, stream: 0, cost, latency_ms: 1, prompt_tokens: 10, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 5, failover: 0 })
      .execute();
  }
  const total = costs.reduce((a, b) => a + b, 0n);
  assert.ok(total > MAX_PICO, 'the sum is past int64');
  for (const group_by of ['day', 'model', 'key'] as const) {
    const rows = await usageTotals(db, 'acct_big', { group_by });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.cost_usd, picoToUsd(total));
    assert.equal(rows[0]!.cost_usd, '12000000.123456789012');
    assert.equal(rows[0]!.requests, 3);
    assert.equal(rows[0]!.total_tokens, 45);
  }
});
