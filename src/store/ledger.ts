import { sql } from 'kysely';
import type { Db } from './open.ts';
import { picoToUsd } from '../billing/money.ts';

export async function listLedger(db: Db, accountId: string, limit: number, before?: number) {
  let q = db.selectFrom('ledger').selectAll().where('account_id', '=', accountId).orderBy('id', 'desc').limit(limit);
  if (before !== undefined) q = q.where(sql<boolean>`id < ${before}`);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: Number(r.id),
    kind: r.kind,
    amount_usd: picoToUsd(BigInt(r.amount)),
    request_id: r.request_id,
    note: r.note,
    actor: r.actor,
    detail: r.detail ? JSON.parse(r.detail) : null,
    created_at: new Date(Number(r.created_at)).toISOString(),
  }));
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
