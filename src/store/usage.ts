import { sql } from 'kysely';
import type { Db } from './open.ts';
import { picoToUsd } from '../billing/money.ts';

const DAY_MS = 86_400_000;

/** Token and cost totals of an account's requests, grouped by UTC day, model or key. */
export async function usageTotals(db: Db, accountId: string, q: { from?: number | undefined; to?: number | undefined; group_by: 'day' | 'model' | 'key' }) {
  // Integer division works the same in SQLite and PostgreSQL for bigint columns.
  const group =
    q.group_by === 'day' ? sql<string>`cast(created_at / ${DAY_MS} as text)` : q.group_by === 'model' ? sql<string>`coalesce(model, '')` : sql<string>`coalesce(key_id, '')`;
  let sel = db
    .selectFrom('requests')
    .select([
      group.as('grp'),
      sql<bigint>`count(*)`.as('requests'),
      sql<bigint>`sum(prompt_tokens)`.as('prompt_tokens'),
      sql<bigint>`sum(cached_tokens)`.as('cached_tokens'),
      sql<bigint>`sum(cache_write_tokens)`.as('cache_write_tokens'),
      sql<bigint>`sum(completion_tokens)`.as('completion_tokens'),
      sql<bigint>`coalesce(sum(cost), 0)`.as('cost'),
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
      cost_usd: picoToUsd(BigInt(r.cost)),
    };
  });
}
