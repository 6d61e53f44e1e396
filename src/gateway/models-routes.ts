import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../protocol/errors.ts';
import { MAX_MODEL_LENGTH } from '../protocol/validate.ts';
import { authenticate } from './authenticate.ts';
import type { ModelEntry } from './catalog.ts';
import { sendError } from './reply-error.ts';
import type { Runtime } from './runtime.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';
import type { AccountState } from '../billing/account-state.ts';

// GET /v1/models and /v1/models/{id}: only the models the caller's key may use.

function visible(rt: Runtime, key: ApiKeyRow, account: AccountState, m: ModelEntry): boolean {
  return rt.limits.allows(key, account, m);
}

/** The key's account (loaded once, then from memory); a key without one is not valid. */
async function accountOf(rt: Runtime, key: ApiKeyRow): Promise<AccountState> {
  const a = rt.accounts.get(key.accountId);
  const account = a instanceof Promise ? await a : a;
  if (!account) throw new GatewayError('invalid_api_key', 'Invalid API key.');
  return account;
}

function toWire(m: ModelEntry) {
  return { id: m.id, object: 'model', created: m.createdAt, owned_by: m.ownedBy, ...(m.contextWindow ? { context_window: m.contextWindow } : {}) };
}

export function listModelsHandler(rt: Runtime) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const k = authenticate(rt, request.headers);
      const key = k instanceof Promise ? await k : k;
      const account = await accountOf(rt, key);
      const data = [...rt.catalog.models.values()].filter((m) => visible(rt, key, account, m)).map(toWire);
      return reply.type('application/json').send(JSON.stringify({ object: 'list', data }));
    } catch (err) {
      if (err instanceof GatewayError) return sendError(reply, request.id, err);
      throw err;
    }
  };
}

export function getModelHandler(rt: Runtime) {
  return async (request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
    try {
      const k = authenticate(rt, request.headers);
      const key = k instanceof Promise ? await k : k;
      const id = request.params['*'];
      const account = await accountOf(rt, key);
      const m = rt.catalog.find(id);
      if (!m || !visible(rt, key, account, m)) {
        const named = id.length > MAX_MODEL_LENGTH ? `of ${id.length} characters` : `'${id}'`;
        throw new GatewayError('model_not_found', `The model ${named} does not exist or is not available to your key.`, { param: 'model' });
      }
      return reply.type('application/json').send(JSON.stringify(toWire(m)));
    } catch (err) {
      if (err instanceof GatewayError) return sendError(reply, request.id, err);
      throw err;
    }
  };
}
