import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../protocol/errors.ts';
import { hashAdminToken, safeEqualHex } from '../auth/api-keys.ts';
import type { Runtime } from '../gateway/runtime.ts';

/** The admin token, or where `alsoHash` is given, a token with that hash (a read-only one). */
export function requireAdmin(rt: Runtime, request: FastifyRequest, alsoHash: string | null = null): void {
  const h = request.headers.authorization;
  if (!h || h.slice(0, 7).toLowerCase() !== 'bearer ') {
    throw new GatewayError('invalid_admin_token', 'Missing admin token. Send it as "Authorization: Bearer <admin token>".');
  }
  const hash = hashAdminToken(h.slice(7).trim());
  if (!safeEqualHex(hash, rt.adminTokenHash) && !(alsoHash !== null && safeEqualHex(hash, alsoHash))) throw new GatewayError('invalid_admin_token', 'Invalid admin token.');
}
