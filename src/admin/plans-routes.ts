import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../protocol/errors.ts';
import type { Runtime } from '../gateway/runtime.ts';
import { noQuery, parseWith, readableText } from './validate.ts';
import type { AccountRow } from '../store/accounts.ts';
import { listApiKeys, type KeyOverrides } from '../store/api-keys.ts';
import { isGlob, planJson, type PlanPatch, type PlanSpec } from '../limits/plans.ts';

// Plans (GET/POST/PATCH /plans, GET /plans/{id}) and an account's limits and usage
// (GET /accounts/{id}/limits). Plans made here are stored and override the config
// file's by id; every change applies to the next request. Also the schema of per-key
// overrides, shared with the key routes in routes.ts.

const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'letters, digits, and . _ : / - only (max 128)');
const limit = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const models = z.array(z.string().min(1).max(200)).max(1000);

const planFields = {
  name: readableText(200).min(1).nullable().optional(),
  models: models.nullable().optional(),
  context_tokens: limit.nullable().optional(),
  max_output_tokens: limit.nullable().optional(),
  concurrency: limit.nullable().optional(),
  rpm: limit.nullable().optional(),
  tpm: limit.nullable().optional(),
  daily_tokens: limit.nullable().optional(),
};
const planCreate = z.strictObject({ id: identifier, ...planFields });
const planPatch = z.strictObject(planFields);

/** Per-key overrides, as fields of a key create or update body; null removes one. */
export const keyOverrideFields = {
  models: models.nullable().optional(),
  rpm: limit.nullable().optional(),
  tpm: limit.nullable().optional(),
  daily_tokens: limit.nullable().optional(),
};
export const keyOverridesSchema = z.strictObject(keyOverrideFields);
type OverridePatch = z.infer<typeof keyOverridesSchema>;

/**
 * Applies override fields to a key's current overrides (absent = unchanged, null =
 * removed); null when none remain. Exact model ids must exist (globs may match none yet).
 */
export function applyOverrides(rt: Runtime, current: KeyOverrides | null, patch: OverridePatch, param = 'models'): KeyOverrides | null {
  const out: KeyOverrides = { ...(current ?? {}) };
  for (const k of ['models', 'rpm', 'tpm', 'daily_tokens'] as const) {
    const v = patch[k];
    if (v === undefined) continue;
    if (v === null) delete out[k];
    else (out as Record<string, unknown>)[k] = v;
  }
  if (patch.models) checkModels(rt, patch.models, param);
  return Object.keys(out).length ? out : null;
}

function checkModels(rt: Runtime, list: readonly string[], param: string): void {
  list.forEach((m, i) => {
    if (!isGlob(m) && !rt.catalog.find(m)) throw new GatewayError('invalid_request', `${param}.${i}: unknown model '${m}' (use a configured model id, or a pattern such as 'deepseek-*').`, { param: `${param}.${i}` });
  });
}

type Req = FastifyRequest<{ Params: Record<string, string> }>;

export function registerPlansRoutes(admin: FastifyInstance, rt: Runtime, mustAccount: (id: string) => Promise<AccountRow>): void {
  const plans = rt.limits.plans;
  const mustPlan = (id: string) => {
    const p = plans.get(id);
    if (!p) throw new GatewayError('not_found', `No plan '${id}'.`);
    return p;
  };

  admin.get('/plans', async (request: Req) => {
    parseWith(noQuery, request.query);
    return { object: 'list', data: plans.list().map(planJson), has_more: false };
  });

  admin.get('/plans/:id', async (request: Req) => planJson(mustPlan(request.params.id!)));

  admin.post('/plans', async (request: Req, reply: FastifyReply) => {
    const body = parseWith(planCreate, request.body);
    if (plans.has(body.id)) throw new GatewayError('conflict', `Plan '${body.id}' already exists; change it with PATCH /admin/v1/plans/${body.id}.`, { param: 'id' });
    if (body.models) checkModels(rt, body.models, 'models');
    const spec: PlanSpec = {
      id: body.id,
      name: body.name ?? null,
      models: body.models ?? null,
      context_tokens: body.context_tokens ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      concurrency: body.concurrency ?? null,
      rpm: body.rpm ?? null,
      tpm: body.tpm ?? null,
      daily_tokens: body.daily_tokens ?? null,
    };
    return reply.code(201).send(planJson(await plans.create(spec)));
  });

  admin.patch('/plans/:id', async (request: Req) => {
    const body = parseWith(planPatch, request.body);
    mustPlan(request.params.id!);
    if (body.models) checkModels(rt, body.models, 'models');
    return planJson((await plans.update(request.params.id!, body as PlanPatch))!);
  });

  admin.get('/accounts/:id/limits', async (request: Req) => {
    const a = await mustAccount(request.params.id!);
    const live = rt.accounts.peek(a.id);
    const keys = (await listApiKeys(rt.db, a.id)).filter((k) => k.revokedAt === null);
    return rt.limits.describe({ id: a.id, plan: live ? live.plan : a.plan }, live?.inFlight ?? 0, keys);
  });
}
