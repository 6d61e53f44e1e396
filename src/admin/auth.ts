import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../protocol/errors.ts';
import { hashAdminToken, safeEqualHex } from '../auth/api-keys.ts';
import type { Runtime } from '../gateway/runtime.ts';

export function requireAdmin(rt: Runtime, request: FastifyRequest): void {
  const h = request.headers.authorization;
  if (!h || h.slice(0, 7).toLowerCase() !== 'bearer ') {
    throw new GatewayError('invalid_admin_token', 'Missing admin token. Send it as "Authorization: Bearer <admin token>".');
  }
  if (!safeEqualHex(hashAdminToken(h.slice(7).trim()), rt.adminTokenHash)) throw new GatewayError('invalid_admin_token', 'Invalid admin token.');
}
