import { picoToUsd } from '../billing/money.ts';
import type { AccountRow } from '../store/accounts.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';
import type { AccountState } from '../billing/account-state.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** With the live state when the account is loaded: its balance is ahead of the store's. */
export function accountJson(a: AccountRow, live?: AccountState) {
  const balance = live ? live.balance : a.balance;
  const reserved = live ? live.reserved : 0n;
  return {
    id: a.id,
    name: a.name,
    plan: live ? live.plan : a.plan,
    suspended: live ? live.suspended : a.suspended,
    balance_usd: picoToUsd(balance),
    reserved_usd: picoToUsd(reserved),
    available_usd: picoToUsd(balance - reserved),
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
