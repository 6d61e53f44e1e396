import { sql } from 'kysely';
import type { Db } from './open.ts';
import { picoToUsd } from '../billing/money.ts';

/**
 * An account's ledger, newest first. A charge's detail (model, token counts, prices,
 * reservation) comes from its request's log row, written in the same transaction;
 * the entry itself stores only what was exceptional (estimated usage, an overrun).
 */
export async function listLedger(db: Db, accountId: string, limit: number, before?: number) {
  let q = db
    .selectFrom('ledger')
    .leftJoin('requests', 'requests.id', 'ledger.request_id')
    .select([
      'ledger.id', 'ledger.kind', 'ledger.amount', 'ledger.request_id', 'ledger.note', 'ledger.actor', 'ledger.detail', 'ledger.created_at',
      'requests.model', 'requests.provider', 'requests.upstream_model', 'requests.prompt_tokens', 'requests.cached_tokens',
      'requests.cache_write_tokens', 'requests.completion_tokens', 'requests.prices', 'requests.reserved',
    ])
    .where('ledger.account_id', '=', accountId)
    .orderBy('ledger.id', 'desc')
    .limit(limit);
  if (before !== undefined) q = q.where(sql<boolean>`ledger.id < ${before}`);
  const rows = await q.execute();
  return rows.map((r) => {
    const own = r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null;
    const fromRequest =
      r.kind === 'charge' && r.prompt_tokens !== null
        ? {
            model: r.model,
            provider: r.provider,
            upstream_model: r.upstream_model,
            prompt_tokens: Number(r.prompt_tokens),
            cached_tokens: Number(r.cached_tokens),
            cache_write_tokens: Number(r.cache_write_tokens),
            completion_tokens: Number(r.completion_tokens),
            prices: r.prices ? JSON.parse(r.prices) : null,
            reserved_usd: r.reserved === null ? null : picoToUsd(BigInt(r.reserved)),
          }
        : null;
    return {
      id: Number(r.id),
      kind: r.kind,
      amount_usd: picoToUsd(BigInt(r.amount)),
      request_id: r.request_id,
      note: r.note,
      actor: r.actor,
      detail: fromRequest || own ? { ...fromRequest, ...own } : null,
      created_at: new Date(Number(r.created_at)).toISOString(),
    };
  });
}

export interface LedgerMismatch {
  account_id: string;
  balance_usd: string;
  ledger_sum_usd: string;
  difference_usd: string;
}

/** Every account whose stored balance differs from the sum of its ledger entries. */
export async function verifyLedger(db: Db): Promise<LedgerMismatch[]> {
  const rows = await db
    .selectFrom('accounts')
    .leftJoin(
      db.selectFrom('ledger').select(['account_id', sql<bigint>`sum(amount)`.as('total')]).groupBy('account_id').as('l'),
      'l.account_id',
      'accounts.id',
    )
    .select(['accounts.id', 'accounts.balance', 'l.total'])
    .execute();
  const out: LedgerMismatch[] = [];
  for (const r of rows) {
    const balance = BigInt(r.balance);
    const total = r.total === null ? 0n : BigInt(r.total);
    if (balance !== total) {
      out.push({ account_id: r.id, balance_usd: picoToUsd(balance), ledger_sum_usd: picoToUsd(total), difference_usd: picoToUsd(balance - total) });
    }
  }
  return out;
}
