import { randomBytes } from 'node:crypto';

/** Short, URL-safe, prefixed ids: acct_…, key_…, req_… */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
