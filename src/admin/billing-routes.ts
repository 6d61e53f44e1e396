import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../protocol/errors.ts';
import type { Runtime } from '../gateway/runtime.ts';
import { parseWith, readableText } from './validate.ts';
import { page } from './page.ts';
import { perMillionToPerToken, picoToUsd, usdToPico } from '../billing/money.ts';
import { pricesToJson } from '../billing/prices.ts';
import type { AccountRow } from '../store/accounts.ts';
import { listLedger } from '../store/ledger.ts';
import type { StoreMaintenance } from '../store/maintenance.ts';

// Credits, adjustments, the ledger, usage totals and model prices.

const usd = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return usdToPico(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const creditBody = z.strictObject({ amount_usd: usd.refine((p) => p > 0n, 'must be greater than zero'), note: readableText(500, { lines: true }).optional() });
const adjustmentBody = z.strictObject({
  amount_usd: usd.refine((p) => p !== 0n, 'must not be zero'),
  kind: z.enum(['refund', 'adjustment']).default('adjustment'),
  reason: readableText(500, { lines: true }).min(1, 'a reason is required'),
});
const price = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    perMillionToPerToken(v);
    return String(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const pricingBody = z.strictObject({ input: price, cached_input: price.optional(), output: price, cache_write: price.optional() });
const isoDate = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));
// Strict, as in routes.ts; `before` is a ledger entry id (`before=` read as 0 gave an empty page).
const ledgerQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100), before: z.coerce.number().int().positive().optional() });
const usageQuery = z.strictObject({ from: isoDate.optional(), to: isoDate.optional(), group_by: z.enum(['day', 'model', 'key']).default('day') });
const allUsageQuery = z.strictObject({ from: isoDate.optional(), to: isoDate.optional(), group_by: z.enum(['day', 'model', 'key', 'account']).default('day') });

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string> }>;

function actorOf(request: FastifyRequest): string {
  const who = request.headers['x-tollgate-actor'];
  return typeof who === 'string' && who ? `admin:${who.slice(0, 100)}` : 'admin';
}

export function registerBillingRoutes(admin: FastifyInstance, rt: Runtime, mustAccount: (id: string) => Promise<AccountRow>, maintenance: StoreMaintenance): void {
  admin.post('/accounts/:id/credits', async (request: Req, reply: FastifyReply) => {
    const body = parseWith(creditBody, request.body);
    await mustAccount(request.params.id!);
    const r = await rt.billing.post(request.params.id!, 'credit', body.amount_usd, body.note ?? null, actorOf(request));
    return reply.code(201).send({ entry_id: r.entryId, balance_usd: picoToUsd(r.balance) });
  });

  admin.post('/accounts/:id/adjustments', async (request: Req, reply: FastifyReply) => {
    const body = parseWith(adjustmentBody, request.body);
    await mustAccount(request.params.id!);
    if (body.kind === 'refund' && body.amount_usd < 0n) throw new GatewayError('invalid_request', 'A refund must be positive.', { param: 'amount_usd' });
    const r = await rt.billing.post(request.params.id!, body.kind, body.amount_usd, body.reason, actorOf(request));
    return reply.code(201).send({ entry_id: r.entryId, balance_usd: picoToUsd(r.balance) });
  });

  admin.get('/accounts/:id/ledger', async (request: Req) => {
    const q = parseWith(ledgerQuery, request.query);
    await mustAccount(request.params.id!);
    await rt.journal.flush();
    const { rows, hasMore } = page(await listLedger(rt.db, request.params.id!, q.limit + 1, q.before), q.limit);
    return { object: 'list', data: rows, has_more: hasMore };
  });

  admin.get('/accounts/:id/usage', async (request: Req) => {
    const q = parseWith(usageQuery, request.query);
    await mustAccount(request.params.id!);
    await rt.journal.flush();
    // On the maintenance thread: without a date range this reads the account's whole log.
    return { object: 'list', group_by: q.group_by, data: await maintenance.usageTotals(request.params.id!, q) };
  });

  // Every account's totals: what the gateway served and charged, by day, model, key or account.
  admin.get('/usage', async (request: Req) => {
    const q = parseWith(allUsageQuery, request.query);
    await rt.journal.flush();
    return { object: 'list', group_by: q.group_by, data: await maintenance.usageTotals(null, q) };
  });

  const mustModel = (id: string) => {
    const m = rt.catalog.find(id);
    if (!m) throw new GatewayError('model_not_found', `No model '${id}'.`);
    return m;
  };

  admin.get('/models/*', async (request: FastifyRequest<{ Params: { '*': string } }>) => {
    const path = request.params['*'];
    if (!path.endsWith('/pricing')) throw new GatewayError('not_found', 'Unknown admin endpoint.');
    const m = mustModel(path.slice(0, -'/pricing'.length));
    return { model: m.id, unit: 'USD per 1M tokens', ...pricesToJson(rt.billing.pricesFor(m.id)!) };
  });

  admin.put('/models/*', async (request: FastifyRequest<{ Params: { '*': string } }>) => {
    const path = request.params['*'];
    if (!path.endsWith('/pricing')) throw new GatewayError('not_found', 'Unknown admin endpoint.');
    const m = mustModel(path.slice(0, -'/pricing'.length));
    const body = parseWith(pricingBody, request.body);
    const p = await rt.billing.setPrices(m.id, body);
    return { model: m.id, unit: 'USD per 1M tokens', ...pricesToJson(p) };
  });

  admin.get('/ledger/verify', async () => {
    await rt.journal.flush();
    // Reads every account and ledger entry: on the maintenance thread, not the event loop.
    const mismatches = await maintenance.verifyLedger();
    return { ok: mismatches.length === 0, mismatches };
  });
}
