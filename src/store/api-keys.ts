import type { Db } from './open.ts';
import type { ApiKeysTable } from './schema.ts';
import { sql, type Selectable } from 'kysely';

export interface KeyOverrides {
  models?: string[];
  rpm?: number;
  tpm?: number;
  daily_tokens?: number;
}

export interface ApiKeyRow {
  id: string;
  accountId: string;
  hash: string;
  prefix: string;
  name: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  overrides: KeyOverrides | null;
}

export function toApiKey(r: Selectable<ApiKeysTable>): ApiKeyRow {
  return {
    id: r.id,
    accountId: r.account_id,
    hash: r.hash,
    prefix: r.prefix,
    name: r.name,
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    overrides: r.overrides ? (JSON.parse(r.overrides) as KeyOverrides) : null,
  };
}

export async function insertApiKey(db: Db, k: Omit<ApiKeyRow, 'revokedAt'>): Promise<void> {
  await db.insertInto('api_keys').values({
    id: k.id,
    account_id: k.accountId,
    hash: k.hash,
    prefix: k.prefix,
    name: k.name,
    created_at: k.createdAt,
    expires_at: k.expiresAt,
    revoked_at: null,
    overrides: k.overrides ? JSON.stringify(k.overrides) : null,
  }).execute();
}

export async function findKeyByHash(db: Db, hash: string): Promise<ApiKeyRow | undefined> {
  const r = await db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
  return r ? toApiKey(r) : undefined;
}

export async function getApiKey(db: Db, id: string): Promise<ApiKeyRow | undefined> {
  const r = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toApiKey(r) : undefined;
}

/** An account's keys, oldest first; a page is `limit` keys after the key `after` (ids are random, so the order is (created_at, id)). */
export async function listApiKeys(db: Db, accountId: string, page?: { limit: number; after?: ApiKeyRow | undefined }): Promise<ApiKeyRow[]> {
  let q = db.selectFrom('api_keys').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id');
  if (page) q = q.limit(page.limit);
  const after = page?.after;
  if (after) q = q.where((eb) => eb.or([eb('created_at', '>', BigInt(after.createdAt)), eb.and([eb('created_at', '=', BigInt(after.createdAt)), eb('id', '>', after.id)])]));
  return (await q.execute()).map(toApiKey);
}

export async function revokeApiKey(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

/** Changes a key's name, expiry or limit overrides (undefined = unchanged); returns the row after. */
export async function updateApiKey(db: Db, id: string, patch: { name?: string | null; expiresAt?: number | null; overrides?: KeyOverrides | null }): Promise<ApiKeyRow | undefined> {
  const set: { name?: string | null; expires_at?: number | null; overrides?: string | null } = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.expiresAt !== undefined) set.expires_at = patch.expiresAt;
  if (patch.overrides !== undefined) set.overrides = patch.overrides && Object.keys(patch.overrides).length ? JSON.stringify(patch.overrides) : null;
  if (Object.keys(set).length) await db.updateTable('api_keys').set(set).where('id', '=', id).execute();
  return getApiKey(db, id);
}

/**
 * The key prefixes (`key_prefix` as it was when each was made) of the keys not revoked,
 * other than `current`. A key's display form is its prefix, four more characters, "…"
 * and its last four (auth/api-keys.ts generateApiKey).
 */
export async function otherLiveKeyPrefixes(db: Db, current: string): Promise<string[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(sql<string>`substr(prefix, 1, instr(prefix, '…') - 5)`.as('p'))
    .distinct()
    .where('revoked_at', 'is', null)
    .execute();
  return rows.map((r) => r.p).filter((p) => p.length > 0 && p !== current);
}
