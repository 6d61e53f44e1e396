import type { Selectable } from 'kysely';
import type { Db } from './open.ts';
import type { RequestsTable } from './schema.ts';
import { picoToUsd } from '../billing/money.ts';

export async function queryRequests(db: Db, q: { account_id?: string | undefined; from?: number | undefined; to?: number | undefined; before?: string | undefined; limit: number }) {
  // Request ids sort by time (request-id.ts), so the primary key orders the log.
  let sel = db.selectFrom('requests').selectAll().limit(q.limit);
  if (q.from !== undefined) sel = sel.where('created_at', '>=', BigInt(q.from));
  if (q.to !== undefined) sel = sel.where('created_at', '<', BigInt(q.to));
  if (q.account_id) {
    // One account's log is read in the order of its (account_id, created_at) index. Ordered
    // by id, SQLite sorted the account's whole log for every page, on the event loop (a
    // quarter second per million requests, every customer waiting); and a store upgraded
    // from before time-ordered ids listed its old random ids first.
    sel = sel.where('account_id', '=', q.account_id).orderBy('created_at', 'desc').orderBy('id', 'desc');
    const at = q.before === undefined ? undefined : await db.selectFrom('requests').select('created_at').where('id', '=', q.before).executeTakeFirst();
    if (at) {
      const t = at.created_at;
      sel = sel.where('created_at', '<=', t).where((eb) => eb.or([eb('created_at', '<', t), eb('id', '<', q.before!)]));
      return (await sel.execute()).map(requestJson);
    }
  } else sel = sel.orderBy('id', 'desc');
  // The cursor is the last id of the previous page: ids are unique where times are not,
  // so no request sharing a millisecond with the page's end is skipped.
  if (q.before !== undefined) sel = sel.where('id', '<', q.before);
  const rows = await sel.execute();
  return rows.map(requestJson);
}

/**
 * One request, for support: what a customer quotes from `x-request-id`. Its log row with
 * the prices and reservation it was billed at, and the ledger entries that name it (its
 * charge; after a crash, the release of its reservation). Undefined when no request has
 * that id.
 */
export async function getRequest(db: Db, id: string) {
  const r = await db.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  const entries = await db.selectFrom('ledger').select(['id', 'kind', 'amount', 'note', 'detail', 'created_at']).where('request_id', '=', id).orderBy('id').execute();
  return {
    ...requestJson(r),
    prices: r.prices ? JSON.parse(r.prices) : null,
    reserved_usd: r.reserved === null ? null : picoToUsd(BigInt(r.reserved)),
    ledger: entries.map((e) => ({
      id: Number(e.id),
      kind: e.kind,
      amount_usd: picoToUsd(BigInt(e.amount)),
      note: e.note,
      detail: e.detail ? JSON.parse(e.detail) : null,
      created_at: new Date(Number(e.created_at)).toISOString(),
    })),
  };
}

function requestJson(r: Selectable<RequestsTable>) {
  return {
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
  };
}
