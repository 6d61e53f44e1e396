import { sql } from 'kysely';
import type { Db } from './open.ts';
import { picoToUsd } from '../billing/money.ts';

const DAY_MS = 86_400_000;

/** `account` only for the gateway-wide totals (no account given). */
export type GroupBy = 'day' | 'model' | 'key' | 'account';
export type UsageQuery = { from?: number | undefined; to?: number | undefined; group_by: GroupBy };

/** One group's sums; cost as whole micro-dollars and the picodollars left over. */
interface Sums {
  requests: bigint;
  prompt_tokens: bigint;
  cached_tokens: bigint;
  cache_write_tokens: bigint;
  completion_tokens: bigint;
  cost_micro: bigint;
  cost_rest: bigint;
}
type SumsRow = { [K in keyof Sums]: bigint | number | string | null } & { grp: string };

/**
 * Token and cost totals of an account's requests (or, with `accountId` null, of every
 * account's), grouped by UTC day, model, key or account: the request log's rows, and the
 * days request-log retention has pruned (usage_daily). A pruned day is kept whole, not by
 * the minute: a `from` or `to` inside it counts all of it. Requests made without a valid
 * key belong to no account and are not counted.
 */
export async function usageTotals(db: Db, accountId: string | null, q: UsageQuery) {
  const [live, pruned] = await Promise.all([logTotals(db, accountId, q), prunedTotals(db, accountId, q)]);
  const groups = new Map<string, Sums>();
  for (const r of [...live, ...pruned]) {
    let g = groups.get(r.grp);
    if (!g) groups.set(r.grp, (g = { requests: 0n, prompt_tokens: 0n, cached_tokens: 0n, cache_write_tokens: 0n, completion_tokens: 0n, cost_micro: 0n, cost_rest: 0n }));
    for (const k of Object.keys(g) as (keyof Sums)[]) g[k] += BigInt(r[k] ?? 0);
  }
  const keys = [...groups.keys()];
  // Days sort as numbers; models and keys as SQL sorted them.
  if (q.group_by === 'day') keys.sort((a, b) => Number(a) - Number(b));
  else keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((grp) => {
    const r = groups.get(grp)!;
    const key = q.group_by === 'day' ? new Date(Number(grp) * DAY_MS).toISOString().slice(0, 10) : grp;
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
      cost_usd: picoToUsd(r.cost_micro * 1_000_000n + r.cost_rest),
    };
  });
}

async function logTotals(db: Db, accountId: string | null, q: UsageQuery): Promise<SumsRow[]> {
  // Integer division works the same in SQLite and PostgreSQL for bigint columns, and
  // only then: DAY_MS goes in as a bigint, because better-sqlite3 binds a JS number as a
  // float, which made every request's timestamp a day of its own.
  const group = {
    day: sql<string>`cast(created_at / ${BigInt(DAY_MS)} as text)`,
    model: sql<string>`coalesce(model, '')`,
    key: sql<string>`coalesce(key_id, '')`,
    account: sql<string>`account_id`,
  }[q.group_by];
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
    .where('account_id', accountId === null ? 'is not' : '=', accountId)
    .groupBy('grp');
  if (q.from !== undefined) sel = sel.where('created_at', '>=', BigInt(q.from));
  if (q.to !== undefined) sel = sel.where('created_at', '<', BigInt(q.to));
  return sel.execute();
}

async function prunedTotals(db: Db, accountId: string | null, q: UsageQuery): Promise<SumsRow[]> {
  const group = { day: sql<string>`cast(day as text)`, model: sql<string>`model`, key: sql<string>`key_id`, account: sql<string>`account_id` }[q.group_by];
  let sel = db
    .selectFrom('usage_daily')
    .select([
      group.as('grp'),
      sql<bigint>`sum(requests)`.as('requests'),
      sql<bigint>`sum(prompt_tokens)`.as('prompt_tokens'),
      sql<bigint>`sum(cached_tokens)`.as('cached_tokens'),
      sql<bigint>`sum(cache_write_tokens)`.as('cache_write_tokens'),
      sql<bigint>`sum(completion_tokens)`.as('completion_tokens'),
      sql<bigint>`sum(cost_micro)`.as('cost_micro'),
      sql<bigint>`sum(cost_rest)`.as('cost_rest'),
    ])
    .where('account_id', accountId === null ? 'is not' : '=', accountId)
    .groupBy('grp');
  // A day counts when any of it is in [from, to).
  if (q.from !== undefined) sel = sel.where('day', '>=', BigInt(Math.floor(q.from / DAY_MS)));
  if (q.to !== undefined) sel = sel.where('day', '<', BigInt(Math.ceil(q.to / DAY_MS)));
  return sel.execute();
}
