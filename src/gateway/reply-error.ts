import type { FastifyReply } from 'fastify';
import type { GatewayError } from '../protocol/errors.ts';
import type { Exchange } from './exchange.ts';

export function sendError(reply: FastifyReply, requestId: string, err: GatewayError, ex?: Exchange): FastifyReply {
  if (ex) {
    ex.status = err.status;
    ex.errorCode = err.code;
  }
  if (err.headers) reply.headers(err.headers);
  return reply.code(err.status).type('application/json').send(err.toBody(requestId));
}
