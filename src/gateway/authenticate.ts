import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../protocol/errors.ts';
import { looksLikeApiKey } from '../auth/api-keys.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';
import type { Runtime } from './runtime.ts';

// Authorization: Bearer <key> only. Every failure is 401 invalid_api_key; the message
// says which kind of failure, and never echoes the key.

function fail(message: string): GatewayError {
  return new GatewayError('invalid_api_key', message);
}

function bearer(headers: IncomingHttpHeaders): string {
  const h = headers.authorization;
  if (!h) throw fail('Missing API key. Send it as "Authorization: Bearer <key>".');
  if (h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') throw fail('Malformed Authorization header. Send it as "Authorization: Bearer <key>".');
  return h.slice(7).trim();
}

function check(row: ApiKeyRow | null, now: number): ApiKeyRow {
  if (!row) throw fail('Invalid API key.');
  if (row.revokedAt !== null) throw fail('This API key has been revoked.');
  if (row.expiresAt !== null && row.expiresAt <= now) throw fail(`This API key expired at ${new Date(row.expiresAt).toISOString()}.`);
  return row;
}

/** Resolves the caller's key. Synchronous (no I/O) when the key is cached. */
export function authenticate(rt: Runtime, headers: IncomingHttpHeaders): ApiKeyRow | Promise<ApiKeyRow> {
  const key = bearer(headers);
  const prefix = rt.config.key_prefix;
  if (!looksLikeApiKey(key, prefix) && !rt.oldKeyPrefixes.some((p) => looksLikeApiKey(key, p))) throw fail(`Malformed API key: Tollgate keys start with "${prefix}".`);
  const hash = rt.keys.hashOf(key);
  const now = Date.now();
  const cached = rt.keys.peek(hash, now);
  if (cached !== undefined) return check(cached, now);
  return rt.keys.load(hash).then((row) => check(row, Date.now()));
}

/**
 * The key as it stands now: the same row when nothing changed; the store's row when an
 * admin change (revocation, expiry, overrides) dropped it from the cache; a 401 when it
 * is no longer valid. For a request that waited between authentication and admission.
 */
export function recheckKey(rt: Runtime, key: ApiKeyRow): ApiKeyRow | Promise<ApiKeyRow> {
  const now = Date.now();
  const cached = rt.keys.peek(key.hash, now);
  if (cached !== undefined) return check(cached, now);
  return rt.keys.load(key.hash).then((row) => check(row, Date.now()));
}
