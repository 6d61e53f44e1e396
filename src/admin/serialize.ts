import { picoToUsd } from '../billing/money.ts';
import type { AccountRow } from '../store/accounts.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function accountJson(a: AccountRow) {
  return {
    id: a.id,
    name: a.name,
    plan: a.plan,
    suspended: a.suspended,
    balance_usd: picoToUsd(a.balance),
    created_at: iso(a.createdAt),
    updated_at: iso(a.updatedAt),
  };
}

export function keyJson(k: ApiKeyRow) {
  return {
    id: k.id,
    account_id: k.accountId,
    prefix: k.prefix,
    name: k.name,
    created_at: iso(k.createdAt),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    overrides: k.overrides,
  };
}
