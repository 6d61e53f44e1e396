import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../protocol/errors.ts';
import type { Runtime } from '../gateway/runtime.ts';
import { requireAdmin } from './auth.ts';
import { parseWith, readableText } from './validate.ts';
import { page } from './page.ts';
import { accountJson, keyJson } from './serialize.ts';
import { newId } from '../store/ids.ts';
import { getAccount, insertAccount, listAccounts, updateAccount } from '../store/accounts.ts';
import { getApiKey, insertApiKey, listApiKeys, revokeApiKey, updateApiKey } from '../store/api-keys.ts';
import { generateApiKey, hashApiKey } from '../auth/api-keys.ts';
import { getRequest, queryRequests } from '../store/requests.ts';
import { registerBillingRoutes } from './billing-routes.ts';
import { StoreMaintenance } from '../store/maintenance.ts';
import { scheduleRequestLogRetention } from '../store/request-log-retention.ts';
import { applyOverrides, keyOverrideFields, keyOverridesSchema, registerPlansRoutes } from './plans-routes.ts';

// The operator's API. JSON in and out; money as USD decimal strings.

const isoDate = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));
const accountCreate = z.strictObject({ name: readableText(200).min(1), plan: z.string().min(1).nullable().optional() });
const accountPatch = z.strictObject({ name: readableText(200).min(1).optional(), plan: z.string().min(1).nullable().optional(), suspended: z.boolean().optional() });
const keyCreate = z.strictObject({ name: readableText(200).optional(), expires_at: isoDate.optional(), ...keyOverrideFields });
const keyPatch = z.strictObject({ name: readableText(200).nullable().optional(), expires_at: isoDate.nullable().optional(), overrides: keyOverridesSchema.nullable().optional(), ...keyOverrideFields });
// Query strings are strict, as bodies are: a misspelt filter (`?acount_id=`) would
// otherwise be dropped and the answer cover every account.
const listQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100), after: z.string().optional() });
// An account's keys, oldest first; `after` is a key id of the same account.
const keysQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100), after: z.string().min(1).optional() });
const requestsQuery = z.strictObject({
  account_id: z.string().optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
  before: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string> }>;

export function registerAdminRoutes(app: FastifyInstance, rt: Runtime): void {
  // Whole-table reads and request-log pruning run on a thread of their own, for as long
  // as the app is open (the app's hooks are the lifecycle this module is given).
  const maintenance = new StoreMaintenance(rt.db);
  let retention: { stop(): void } | null = null;
  app.addHook('onReady', async () => {
    const days = rt.config.request_log?.retention_days;
    if (days !== undefined) retention = scheduleRequestLogRetention(maintenance, { retentionDays: days, requestTimeoutMs: rt.config.request_timeout_ms, log: rt.log });
  });
  app.addHook('onClose', async () => {
    retention?.stop();
    await maintenance.close();
  });
  app.register(
    async (admin) => {
      admin.addHook('onRequest', async (request) => requireAdmin(rt, request));

      const planExists = (plan: string | null | undefined) => {
        if (plan && !rt.limits.plans.has(plan)) throw new GatewayError('invalid_request', `Unknown plan '${plan}'.`, { param: 'plan' });
      };
      const mustAccount = async (id: string) => {
        const a = await getAccount(rt.db, id);
        if (!a) throw new GatewayError('not_found', `No account '${id}'.`);
        return a;
      };

      admin.post('/accounts', async (request: Req, reply: FastifyReply) => {
        const body = parseWith(accountCreate, request.body);
        const plan = body.plan === undefined ? (rt.config.default_plan ?? null) : body.plan;
        planExists(plan);
        const a = await insertAccount(rt.db, { id: newId('acct'), name: body.name, plan, now: Date.now() });
        return reply.code(201).send(accountJson(a, rt.accounts.adopt(a)));
      });

      admin.get('/accounts', async (request: Req) => {
        const q = parseWith(listQuery, request.query);
        const { rows, hasMore } = page(await listAccounts(rt.db, { limit: q.limit + 1, after: q.after }), q.limit);
        return { object: 'list', data: rows.map((a) => accountJson(a, rt.accounts.peek(a.id))), has_more: hasMore };
      });

      admin.get('/accounts/:id', async (request: Req) => {
        const a = await mustAccount(request.params.id!);
        return accountJson(a, rt.accounts.peek(a.id));
      });

      admin.patch('/accounts/:id', async (request: Req) => {
        const body = parseWith(accountPatch, request.body);
        await mustAccount(request.params.id!);
        planExists(body.plan);
        const a = (await updateAccount(rt.db, request.params.id!, body, Date.now()))!;
        return accountJson(a, rt.accounts.adopt(a));
      });

      admin.post('/accounts/:id/keys', async (request: Req, reply: FastifyReply) => {
        const body = parseWith(keyCreate, request.body);
        const account = await mustAccount(request.params.id!);
        if (body.expires_at !== undefined && body.expires_at <= Date.now()) throw new GatewayError('invalid_request', 'expires_at must be in the future.', { param: 'expires_at' });
        const overrides = applyOverrides(rt, null, body);
        const { key, display } = generateApiKey(rt.config.key_prefix);
        const row = { id: newId('key'), accountId: account.id, hash: hashApiKey(rt.secret, key), prefix: display, name: body.name ?? null, createdAt: Date.now(), expiresAt: body.expires_at ?? null, overrides };
        await insertApiKey(rt.db, row);
        rt.keys.remember({ ...row, revokedAt: null });
        return reply.code(201).send({ ...keyJson({ ...row, revokedAt: null }), key });
      });

      admin.get('/accounts/:id/keys', async (request: Req) => {
        const q = parseWith(keysQuery, request.query);
        await mustAccount(request.params.id!);
        const after = q.after === undefined ? undefined : await getApiKey(rt.db, q.after);
        if (q.after !== undefined && after?.accountId !== request.params.id) throw new GatewayError('invalid_request', `No key '${q.after}' in this account to list after.`, { param: 'after' });
        const { rows, hasMore } = page(await listApiKeys(rt.db, request.params.id!, { limit: q.limit + 1, after }), q.limit);
        return { object: 'list', data: rows.map(keyJson), has_more: hasMore };
      });

      // Name, expiry and limit overrides (`overrides: {...}` or the fields at the top level,
      // as on create; null removes one, `overrides: null` all). The key cache entry is
      // replaced, so the change applies to the key's next request.
      admin.patch('/keys/:id', async (request: Req) => {
        const body = parseWith(keyPatch, request.body);
        const k = await getApiKey(rt.db, request.params.id!);
        if (!k) throw new GatewayError('not_found', `No key '${request.params.id}'.`);
        if (body.expires_at != null && body.expires_at <= Date.now()) throw new GatewayError('invalid_request', 'expires_at must be in the future.', { param: 'expires_at' });
        const { name, expires_at, overrides: whole, ...fields } = body;
        let overrides = whole === undefined ? k.overrides : whole === null ? null : applyOverrides(rt, null, whole, 'overrides.models');
        overrides = applyOverrides(rt, overrides, fields);
        const updated = (await updateApiKey(rt.db, k.id, { name, expiresAt: expires_at, overrides }))!;
        rt.keys.invalidate(k.hash);
        rt.keys.remember(updated);
        return keyJson(updated);
      });

      admin.delete('/keys/:id', async (request: Req) => {
        const k = await getApiKey(rt.db, request.params.id!);
        if (!k) throw new GatewayError('not_found', `No key '${request.params.id}'.`);
        await revokeApiKey(rt.db, k.id, Date.now());
        rt.keys.invalidate(k.hash);
        return keyJson((await getApiKey(rt.db, k.id))!);
      });

      admin.get('/requests', async (request: Req) => {
        const q = parseWith(requestsQuery, request.query);
        await rt.journal.flush();
        const { rows, hasMore } = page(await queryRequests(rt.db, { ...q, limit: q.limit + 1 }), q.limit);
        return { object: 'list', data: rows, has_more: hasMore };
      });
      admin.get('/requests/:id', async (request: Req) => {
        await rt.journal.flush();
        const r = await getRequest(rt.db, request.params.id!);
        if (!r) throw new GatewayError('not_found', `No request '${request.params.id}'.`);
        return r;
      });
      registerBillingRoutes(admin, rt, mustAccount, maintenance);
      registerPlansRoutes(admin, rt, mustAccount);
    },
    { prefix: '/admin/v1' },
  );
}
