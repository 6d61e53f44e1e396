import type { Db } from './open.ts';
import { picoToUsd } from '../billing/money.ts';

export async function queryRequests(db: Db, q: { account_id?: string | undefined; from?: number | undefined; to?: number | undefined; before?: string | undefined; limit: number }) {
  // Request ids sort by time (request-id.ts), so the primary key orders the log.
  let sel = db.selectFrom('requests').selectAll().orderBy('id', 'desc').limit(q.limit);
  if (q.account_id) sel = sel.where('account_id', '=', q.account_id);
  if (q.from !== undefined) sel = sel.where('created_at', '>=', BigInt(q.from));
  if (q.to !== undefined) sel = sel.where('created_at', '<', BigInt(q.to));
  // The cursor is the last id of the previous page: ids are unique where times are not,
  // so no request sharing a millisecond with the page's end is skipped.
  if (q.before !== undefined) sel = sel.where('id', '<', q.before);
  const rows = await sel.execute();
  return rows.map((r) => ({
    id: r.id,
    created_at: new Date(Number(r.created_at)).toISOString(),
    account_id: r.account_id,
    key_id: r.key_id,
    endpoint: r.endpoint,
    model: r.model,
    provider: r.provider,
    upstream_model: r.upstream_model,
    status: Number(r.status),
    error_code: r.error_code,
    stream: Number(r.stream) === 1,
    prompt_tokens: Number(r.prompt_tokens),
    cached_tokens: Number(r.cached_tokens),
    cache_write_tokens: Number(r.cache_write_tokens),
    completion_tokens: Number(r.completion_tokens),
    cost_usd: r.cost === null ? null : picoToUsd(BigInt(r.cost)),
    ttfb_ms: r.ttfb_ms === null ? null : Number(r.ttfb_ms),
    latency_ms: Number(r.latency_ms),
    failover: Number(r.failover) === 1,
  }));
}
