import type BetterSqlite3 from 'better-sqlite3';
import { requestIdFloor } from '../gateway/request-id.ts';

// Request-log retention. Only `requests` rows are deleted: the ledger, balances and
// reservations are never touched, so `ledger verify` (balance = sum of the ledger) holds
// after any prune. Each batch is first added to `usage_daily` (per account, UTC day,
// model and key) in the same transaction, so usage totals stay whole after a prune. A
// charge older than the retention keeps its amount and request id; the model, tokens and
// prices shown beside it came from the deleted log row.

const DAY_MS = 86_400_000;

/** Rows per DELETE: each holds the store's write lock for a few milliseconds only. */
export const PRUNE_BATCH_ROWS = 2000;
/** Between batches the lock is free for the journal and admin writes. */
export const PRUNE_PAUSE_MS = 20;

/**
 * The time before which request rows may go: `retentionDays` ago, but never a row the
 * daily-token reload at start reads (today's, and those begun up to `requestTimeoutMs`
 * before midnight: limits/create.ts).
 */
export function pruneCutoff(now: number, retentionDays: number, requestTimeoutMs: number): number {
  const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
  return Math.min(now - retentionDays * DAY_MS, dayStart - requestTimeoutMs);
}

/** One batch deleter: removes up to `rows` of the oldest rows created before `cutoffMs`, after adding them to usage_daily; returns how many went. */
export function requestLogPruner(sqlite: BetterSqlite3.Database): (cutoffMs: number, rows: number) => number {
  // Request ids begin with their time (request-id.ts), so the primary key is the time
  // index: the oldest rows are the first ones in it, and no scan of the table is needed.
  // created_at is checked too, so a row is never deleted early whatever its id says.
  // Within one transaction the batch query picks the same rows for both statements.
  const batch = 'SELECT id FROM requests WHERE id < ? AND created_at < ? ORDER BY id LIMIT ?';
  const sums = ['requests', 'prompt_tokens', 'cached_tokens', 'cache_write_tokens', 'completion_tokens', 'cost_micro', 'cost_rest'];
  const rollUp = sqlite.prepare(
    `INSERT INTO usage_daily (account_id, day, model, key_id, ${sums.join(', ')})
     SELECT account_id, created_at / ${DAY_MS}, coalesce(model, ''), coalesce(key_id, ''), count(*), sum(prompt_tokens), sum(cached_tokens),
            sum(cache_write_tokens), sum(completion_tokens), coalesce(sum(cost / 1000000), 0), coalesce(sum(cost % 1000000), 0)
     FROM requests WHERE id IN (${batch}) AND account_id IS NOT NULL
     GROUP BY 1, 2, 3, 4
     ON CONFLICT (account_id, day, model, key_id) DO UPDATE SET ${sums.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`,
  );
  const del = sqlite.prepare(`DELETE FROM requests WHERE id IN (${batch})`);
  const prune = sqlite.transaction((floor: string, cutoff: bigint, rows: number): number => {
    rollUp.run(floor, cutoff, rows);
    return del.run(floor, cutoff, rows).changes;
  });
  // IMMEDIATE: the write lock is taken (or waited for, up to busy_timeout) before the
  // batch is read, so the journal thread cannot commit between the two statements.
  return (cutoffMs, rows) => prune.immediate(requestIdFloor(cutoffMs), BigInt(Math.floor(cutoffMs)), rows);
}

/** Deletes every request row created before `cutoffMs`, a batch at a time, pausing between batches; `stop()` true ends it early. */
export async function pruneRequestLog(
  sqlite: BetterSqlite3.Database,
  cutoffMs: number,
  opts: { batchRows?: number; pauseMs?: number; stop?: () => boolean } = {},
): Promise<number> {
  const batchRows = opts.batchRows ?? PRUNE_BATCH_ROWS;
  const pauseMs = opts.pauseMs ?? PRUNE_PAUSE_MS;
  const prune = requestLogPruner(sqlite);
  let total = 0;
  while (!opts.stop?.()) {
    const n = prune(cutoffMs, batchRows);
    total += n;
    if (n < batchRows) break;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return total;
}
