import { createHmac, randomBytes, timingSafeEqual, createHash } from 'node:crypto';

// API keys: `<prefix><43 base64url chars>` = 256 bits of randomness. Stored only as
// HMAC-SHA256(secret, key); the secret lives in the database settings or the config.

const BODY_LENGTH = 43;
const BODY = /^[A-Za-z0-9_-]+$/;

export function generateApiKey(prefix: string): { key: string; display: string } {
  const key = prefix + randomBytes(32).toString('base64url');
  return { key, display: `${key.slice(0, prefix.length + 4)}…${key.slice(-4)}` };
}

/** Cheap syntactic check before any hashing or lookup. */
export function looksLikeApiKey(key: string, prefix: string): boolean {
  return key.length === prefix.length + BODY_LENGTH && key.startsWith(prefix) && BODY.test(key.slice(prefix.length));
}

export function hashApiKey(secret: string, key: string): string {
  return createHmac('sha256', secret).update(key).digest('hex');
}

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashAdminToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
