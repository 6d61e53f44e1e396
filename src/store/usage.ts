import { sql } from 'kysely';
import type { Db } from './open.ts';
import { picoToUsd } from '../billing/money.ts';

const DAY_MS = 86_400_000;

/** Token and cost totals of an account's requests, grouped by UTC day, model or key. */
export async function usageTotals(db: Db, accountId: string, q: { from?: number | undefined; to?: number | undefined; group_by: 'day' | 'model' | 'key' }) {
  // Integer division works the same in SQLite and PostgreSQL for bigint columns, and
  // only then: DAY_MS goes in as a bigint, because better-sqlite3 binds a JS number as a
  // float, which made every request's timestamp a day of its own.
  const group =
    q.group_by === 'day' ? sql<string>`cast(created_at / ${BigInt(DAY_MS)} as text)` : q.group_by === 'model' ? sql<string>`coalesce(model, '')` : sql<string>`coalesce(key_id, '')`;
  let sel = db
    .selectFrom('requests')
    .select([
      group.as('grp'),
      sql<bigint>`count(*)`.as('requests'),
      sql<bigint>`sum(prompt_tokens)`.as('prompt_tokens'),
      sql<bigint>`sum(cached_tokens)`.as('cached_tokens'),
      sql<bigint>`sum(cache_write_tokens)`.as('cache_write_tokens'),
      sql<bigint>`sum(completion_tokens)`.as('completion_tokens'),
      // A plain sum(cost) raises "integer overflow" once an account's spend in the range
      // passes $9.2M (int64 picodollars). Whole micro-dollars and the rest are summed
      // apart and joined exactly in JS: cost = (cost / 10^6) * 10^6 + cost % 10^6 under
      // truncating division, in SQLite and PostgreSQL alike.
      sql<bigint>`coalesce(sum(cost / 1000000), 0)`.as('cost_micro'),
      sql<bigint>`coalesce(sum(cost % 1000000), 0)`.as('cost_rest'),
    ])
    .where('account_id', '=', accountId)
    .groupBy('grp')
    .orderBy('grp');
  if (q.from !== undefined) sel = sel.where('created_at', '>=', BigInt(q.from));
  if (q.to !== undefined) sel = sel.where('created_at', '<', BigInt(q.to));
  const rows = await sel.execute();
  return rows.map((r) => {
    const key = q.group_by === 'day' ? new Date(Number(r.grp) * DAY_MS).toISOString().slice(0, 10) : r.grp;
    const prompt = Number(r.prompt_tokens);
    const completion = Number(r.completion_tokens);
    return {
      [q.group_by]: key,
      requests: Number(r.requests),
      prompt_tokens: prompt,
      cached_tokens: Number(r.cached_tokens),
      cache_write_tokens: Number(r.cache_write_tokens),
      completion_tokens: completion,
      total_tokens: prompt + completion,
      cost_usd: picoToUsd(BigInt(r.cost_micro) * 1_000_000n + BigInt(r.cost_rest)),
    };
  });
}
