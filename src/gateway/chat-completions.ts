import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../protocol/errors.ts';
import { validateChatRequest, validateEmbeddingsRequest } from '../protocol/validate.ts';
import { writeOpenAIUsage } from '../protocol/usage.ts';
import type { ChatCall, UpstreamRequest } from '../providers/types.ts';
import { authenticate } from './authenticate.ts';
import { Exchange } from './exchange.ts';
import type { ModelEntry, Route } from './catalog.ts';
import { sendError } from './reply-error.ts';
import type { Runtime } from './runtime.ts';
import { relayStream } from './stream-relay.ts';
import { fromTransportError, fromUpstreamStatus, invalidUpstreamResponse } from './upstream-errors.ts';
import type { Dispatcher } from 'undici';
import { DEFAULT_MAX_OUTPUT_TOKENS } from '../billing/billing.ts';
import { pricesToJson, type Prices } from '../billing/prices.ts';
import { picoToUsd } from '../billing/money.ts';

// The request pipeline for the data plane:
//   authenticate → validate → resolve model → (admit) → route → relay → record.
// Each step throws a GatewayError; the outcome is recorded once in Exchange.finish.

type Endpoint = 'chat' | 'embeddings';

export function makeHandler(rt: Runtime, endpoint: Endpoint) {
  return async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> {
    const ex = new Exchange(request.id, endpoint === 'chat' ? 'chat.completions' : 'embeddings');
    rt.inFlight++;
    try {
      const key = authenticate(rt, request.headers);
      ex.key = key instanceof Promise ? await key : key;
      const account = rt.accounts.get(ex.key.accountId);
      ex.account = account instanceof Promise ? await account : account;
      if (!ex.account) throw new GatewayError('invalid_api_key', 'Invalid API key.');
      return await (endpoint === 'chat' ? chat(rt, ex, request, reply) : embeddings(rt, ex, request, reply));
    } catch (err) {
      if (!(err instanceof GatewayError)) {
        rt.log.error({ err, request_id: ex.id }, 'unexpected error in request pipeline');
        err = new GatewayError('internal_error', 'Internal error. Quote the request id when reporting it.');
      }
      if (reply.sent || reply.raw.headersSent) {
        reply.raw.end();
        return;
      }
      return sendError(reply, ex.id, err as GatewayError, ex);
    } finally {
      rt.inFlight--;
      ex.finish(rt);
    }
  };
}

function resolveModel(rt: Runtime, ex: Exchange, id: string, type: 'chat' | 'embedding'): ModelEntry {
  ex.publicModel = id;
  const model = rt.catalog.find(id);
  if (!model) throw new GatewayError('model_not_found', `The model '${id}' does not exist. GET /v1/models lists the models your key can use.`, { param: 'model' });
  if (model.type !== type) {
    throw new GatewayError('invalid_request', `The model '${id}' is ${model.type === 'chat' ? 'a chat' : 'an embedding'} model; use ${model.type === 'chat' ? '/v1/chat/completions' : '/v1/embeddings'}.`, { param: 'model' });
  }
  ex.model = model;
  return model;
}

function pickRoute(model: ModelEntry): Route {
  return model.routes[0]!;
}

/**
 * Admission: plan and key limits (which may clamp max tokens), then the reservation of
 * the request's maximum cost. Returns the body to send upstream.
 */
function admit(rt: Runtime, ex: Exchange, reply: FastifyReply, body: Record<string, any>, requestedMaxTokens: number | undefined): Record<string, any> {
  const model = ex.model!;
  const grant = rt.limits.admit({ key: ex.key!, account: ex.account!, model, endpoint: ex.endpoint === 'embeddings' ? 'embeddings' : 'chat', body, requestedMaxTokens });
  ex.grant = grant;
  for (const h in grant.headers) reply.header(h, grant.headers[h]);
  let out = body;
  if (grant.clamped && grant.maxOutputTokens !== undefined) {
    out = { ...body };
    if (body.max_completion_tokens != null || body.max_tokens == null) out.max_completion_tokens = grant.maxOutputTokens;
    if (body.max_tokens != null) out.max_tokens = grant.maxOutputTokens;
  }
  ex.body = out;
  const maxOutput = ex.endpoint === 'embeddings' ? 0 : (grant.maxOutputTokens ?? model.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS);
  ex.reservation = rt.billing.reserve(ex.id, ex.account!, model.id, grant.inputTokens, maxOutput);
  reply.header('x-tollgate-token-rate', tokenRate(ex.reservation.prices));
  return out;
}

function tokenRate(p: Prices): string {
  const j = pricesToJson(p);
  return `input=${j.input};cached_input=${j.cached_input};output=${j.output};cache_write=${j.cache_write};unit=USD/1M`;
}

/** Aborts the upstream call when the client goes away before the response is complete. */
function abortOnClientClose(reply: FastifyReply): AbortController {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac;
}

async function callUpstream(rt: Runtime, route: Route, req: UpstreamRequest, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
  const up = route.upstream;
  const headers = up.config.headers && Object.keys(up.config.headers).length ? { ...up.config.headers, ...req.headers } : req.headers;
  try {
    return await up.pool.request({ path: up.basePath + req.path, method: 'POST', headers, body: req.body, signal });
  } catch (err) {
    if (signal.aborted) throw new GatewayError('invalid_request', 'Client closed the request.', { status: 499, codeOverride: 'client_closed' });
    rt.log.warn({ provider: up.id, code: (err as { code?: string }).code }, 'upstream request failed');
    throw fromTransportError(err);
  }
}

async function readUpstreamError(route: Route, res: Dispatcher.ResponseData): Promise<GatewayError> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    /* the status alone will do */
  }
  const info = route.upstream.adapter.parseError(res.statusCode, text);
  const ra = res.headers['retry-after'];
  return fromUpstreamStatus(route.upstream, res.statusCode, info, Array.isArray(ra) ? ra[0] : ra);
}

async function readJson(res: Dispatcher.ResponseData): Promise<unknown> {
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw fromTransportError(err);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidUpstreamResponse('the body is not JSON');
  }
}

function setRouteHeaders(reply: FastifyReply, ex: Exchange, route: Route): void {
  reply.header('x-tollgate-provider', route.upstream.id);
  reply.header('x-tollgate-upstream-model', route.model);
  reply.header('x-tollgate-failover', ex.failover ? 'true' : 'false');
}

async function chat(rt: Runtime, ex: Exchange, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> {
  const info = validateChatRequest(request.body);
  ex.stream = info.stream;
  const model = resolveModel(rt, ex, info.model, 'chat');
  const body = admit(rt, ex, reply, request.body as Record<string, any>, info.maxTokens);
  const route = pickRoute(model);
  ex.route = route;
  const call: ChatCall = { body, upstreamModel: route.model, stream: info.stream };
  const adapter = route.upstream.adapter;
  const upstreamReq = adapter.buildChatRequest(call, route.upstream.config);
  const ac = abortOnClientClose(reply);
  const res = await callUpstream(rt, route, upstreamReq, ac.signal);
  if (res.statusCode >= 400) throw await readUpstreamError(route, res);
  setRouteHeaders(reply, ex, route);

  if (!info.stream) {
    const parsed = adapter.parseChatResponse(await readJson(res));
    const out = parsed.body;
    if (!out || typeof out !== 'object' || !Array.isArray(out.choices)) throw invalidUpstreamResponse('no choices');
    out.model = info.model;
    if (parsed.usage) {
      ex.usage = parsed.usage;
      out.usage = writeOpenAIUsage(out.usage && typeof out.usage === 'object' ? out.usage : {}, parsed.usage);
      const cost = picoToUsd(rt.billing.quote(ex.reservation!, parsed.usage));
      out.usage.cost = cost;
      reply.header('x-tollgate-cost', cost);
    }
    ex.status = 200;
    reply.header('x-tollgate-latency-ms', String(Math.round(performance.now() - ex.startedAt)));
    ex.markFirstByte();
    return reply.code(200).type('application/json').send(JSON.stringify(out));
  }

  const ct = String(res.headers['content-type'] ?? '');
  if (!ct.includes('text/event-stream')) {
    await res.body.dump().catch(() => {});
    throw invalidUpstreamResponse(`expected an event stream, got "${ct.split(';')[0] || 'no content type'}"`);
  }
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.flushHeaders();
  ex.status = 200;
  await relayStream({
    res: raw,
    body: res.body,
    translator: adapter.createStreamTranslator(call),
    upstream: route.upstream,
    ex,
    publicModel: info.model,
    includeUsage: info.includeUsage,
    decorateUsage: (usage) => {
      if (ex.usage) usage.cost = picoToUsd(rt.billing.quote(ex.reservation!, ex.usage));
    },
  });
}

async function embeddings(rt: Runtime, ex: Exchange, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const info = validateEmbeddingsRequest(request.body);
  const model = resolveModel(rt, ex, info.model, 'embedding');
  const body = admit(rt, ex, reply, request.body as Record<string, any>, undefined);
  const route = pickRoute(model);
  ex.route = route;
  const adapter = route.upstream.adapter;
  if (!adapter.buildEmbeddingsRequest || !adapter.parseEmbeddingsResponse) {
    throw new GatewayError('invalid_request', `The model '${info.model}' does not support embeddings.`, { param: 'model' });
  }
  const upstreamReq = adapter.buildEmbeddingsRequest(body, route.model, route.upstream.config);
  const ac = abortOnClientClose(reply);
  const res = await callUpstream(rt, route, upstreamReq, ac.signal);
  if (res.statusCode >= 400) throw await readUpstreamError(route, res);
  setRouteHeaders(reply, ex, route);
  const parsed = adapter.parseEmbeddingsResponse(await readJson(res));
  const out = parsed.body;
  if (!out || typeof out !== 'object' || !Array.isArray(out.data)) throw invalidUpstreamResponse('no data');
  out.model = info.model;
  if (parsed.usage) {
    ex.usage = parsed.usage;
    const cost = picoToUsd(rt.billing.quote(ex.reservation!, parsed.usage));
    if (out.usage && typeof out.usage === 'object') out.usage.cost = cost;
    reply.header('x-tollgate-cost', cost);
  }
  ex.status = 200;
  ex.markFirstByte();
  return reply.code(200).type('application/json').send(JSON.stringify(out));
}
