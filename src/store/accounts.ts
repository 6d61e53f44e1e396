import type { Db } from './open.ts';
import type { AccountsTable } from './schema.ts';
import type { Selectable } from 'kysely';

export interface AccountRow {
  id: string;
  name: string;
  plan: string | null;
  balance: bigint;
  suspended: boolean;
  createdAt: number;
  updatedAt: number;
}

export function toAccount(r: Selectable<AccountsTable>): AccountRow {
  return {
    id: r.id,
    name: r.name,
    plan: r.plan,
    balance: BigInt(r.balance),
    suspended: Number(r.suspended) !== 0,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export async function insertAccount(db: Db, a: { id: string; name: string; plan: string | null; now: number }): Promise<AccountRow> {
  await db.insertInto('accounts').values({ id: a.id, name: a.name, plan: a.plan, balance: 0n, suspended: 0, created_at: a.now, updated_at: a.now }).execute();
  return { id: a.id, name: a.name, plan: a.plan, balance: 0n, suspended: false, createdAt: a.now, updatedAt: a.now };
}

export async function getAccount(db: Db, id: string): Promise<AccountRow | undefined> {
  const r = await db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toAccount(r) : undefined;
}

export async function listAccounts(db: Db, opts: { limit: number; after?: string | undefined }): Promise<AccountRow[]> {
  let q = db.selectFrom('accounts').selectAll().orderBy('id').limit(opts.limit);
  if (opts.after) q = q.where('id', '>', opts.after);
  return (await q.execute()).map(toAccount);
}

export async function updateAccount(db: Db, id: string, patch: { name?: string; plan?: string | null; suspended?: boolean }, now: number): Promise<AccountRow | undefined> {
  const set: Record<string, unknown> = { updated_at: now };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.plan !== undefined) set.plan = patch.plan;
  if (patch.suspended !== undefined) set.suspended = patch.suspended ? 1 : 0;
  await db.updateTable('accounts').set(set).where('id', '=', id).execute();
  return getAccount(db, id);
}
