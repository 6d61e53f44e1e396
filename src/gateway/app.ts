import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { GatewayError } from '../protocol/errors.ts';
import { DATA_PLANE_PATHS, dataPlaneListener, refusedBeforeBody, type DataPlaneState } from './data-plane.ts';
import { getModelHandler, listModelsHandler } from './models-routes.ts';
import { sendError } from './reply-error.ts';
import type { Runtime } from './runtime.ts';
import { registerAdminRoutes } from '../admin/routes.ts';
import { registerMetricsRoute } from '../metrics/routes.ts';
import { newRequestId } from './request-id.ts';
import { writeError } from './raw-reply.ts';
import { onClientError, onConnect } from './client-error.ts';
import { CORS_HEADERS, isApiPath } from './cors.ts';
import { RouteMethods } from './route-methods.ts';
import { originForm } from './request-target.ts';

// The HTTP surface. Data plane under /v1 and /api/v1 (seed 004's base path); admin
// API under /admin/v1. Every response carries x-request-id.

const KEEP_ALIVE_MS = 65_000;
/** Longest URL path segment the router takes (ids, model names); longer ones get a 414.
 *  Plan ids may be 128 characters (config/schema.ts), each percent-encoded as at most 3:
 *  at 100, a plan with a longer id could be created and then never read or changed. */
const MAX_PARAM_LENGTH = 3 * 128;

export function buildApp(rt: Runtime): FastifyInstance {
  const dataPlane: DataPlaneState = { draining: false };
  const app = Fastify({
    // The data plane's POST endpoints are answered before Fastify sees them (data-plane.ts).
    serverFactory: (handler) => {
      // joinDuplicateHeaders: node:http otherwise keeps the first of two Authorization
      // headers and drops the other, where a proxy in front may read the last; joined,
      // they are neither a key nor a token, and the request is a 401. (The missing Host
      // check is data-plane.ts's, for an OpenAI-shaped answer.)
      const onRequest = dataPlaneListener(rt, dataPlane, handler);
      const server = createServer({ keepAliveTimeout: KEEP_ALIVE_MS, requireHostHeader: false, joinDuplicateHeaders: true }, onRequest);
      server.headersTimeout = KEEP_ALIVE_MS + 1_000;
      // node:http's own answer to this was a bare 417 with no body or request id.
      server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        writeError(res, newRequestId(), new GatewayError('invalid_request', 'Unsupported Expect header: only "100-continue" is understood.', { status: 417 }), { connection: 'close' });
      });
      server.on('connect', onConnect);
      // node:http sent 100 Continue to every such request, even one about to be refused
      // for its key or size, whose client then uploaded its body for nothing. Refused,
      // it gets no 100; its connection closes after the answer, since the client may or
      // may not send the body it announced.
      server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
        if (refusedBeforeBody(rt, req)) res.shouldKeepAlive = false;
        else res.writeContinue();
        onRequest(req, res);
      });
      return server;
    },
    logger: false,
    clientErrorHandler: onClientError,
    bodyLimit: rt.config.max_body_bytes,
    genReqId: newRequestId,
    requestIdHeader: false,
    // Answered in onRequest instead: Fastify's own 503 was in neither of the gateway's
    // shapes and had no request id, and /healthz could not say it was draining.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // The router's own refusals (a path that is not valid percent-encoding, a path
    // segment past maxParamLength) would otherwise leave in Fastify's shape, without a
    // request id.
    frameworkErrors: (err, request, reply) => {
      reply.header('x-request-id', request.id);
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const message = tooLong ? `A segment of the URL path is longer than the ${MAX_PARAM_LENGTH} characters allowed.` : 'The URL path is not valid (check its percent-encoding).';
      sendError(reply, request.id, new GatewayError('invalid_request', message, { status: tooLong ? 414 : 400 }));
    },
  });

  const routeMethods = new RouteMethods();
  for (const path of DATA_PLANE_PATHS) routeMethods.add(path, 'POST');
  app.addHook('onRoute', (route) => routeMethods.add(route.url, route.method));

  // Bodies are JSON whatever the Content-Type says (curl -d sends form encoding), parsed
  // once with the built-in parser; errors become OpenAI-shaped 400s.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    // A DELETE needs no body, whatever Content-Type a client library adds to every call.
    if (text.length === 0 && req.method === 'DELETE') {
      done(null, undefined);
      return;
    }
    if (text.length === 0) {
      done(new GatewayError('invalid_json', 'The request body is empty; send a JSON object.'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new GatewayError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}.`), undefined);
    }
  });

  // Draining: Fastify closes only the connections idle when close() begins. A keep-alive
  // connection whose response (a long stream) finishes later would hold the process open
  // until the client drops it, so close connections as they go idle until the server is closed.
  app.addHook('preClose', (done) => {
    dataPlane.draining = true;
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    app.server.once('close', () => clearInterval(sweep));
    done();
  });

  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.setHeader('x-request-id', request.id);
    if (request.headers.origin !== undefined && isApiPath(request.url)) for (const h in CORS_HEADERS) reply.raw.setHeader(h, CORS_HEADERS[h]!);
    // Draining, the listener is closed; what still arrives came on a connection that was
    // busy (a pipelined request, a pooled health check behind a stream). It is told so,
    // and the connection closes after the answer.
    if (dataPlane.draining) {
      reply.header('connection', 'close');
      if (/^\/healthz\/?(\?|$)/.test(request.url)) return void reply.code(503).send({ status: 'draining' });
      return void sendError(reply, request.id, new GatewayError('shutting_down', 'The gateway is shutting down; retry on another instance.'));
    }
    // A store file deleted or replaced under the gateway: a write would go to a file
    // that no longer exists by any name, so admin changes are refused, as requests are.
    if (rt.journal.lost && request.method !== 'GET' && request.method !== 'HEAD' && originForm(request.url).startsWith('/admin/')) {
      return void sendError(reply, request.id, new GatewayError('store_unavailable', `The store cannot be written: ${rt.journal.lost}. Nothing was changed.`));
    }
    // Answered here, before the body: Fastify reads and parses a 404's body first, which
    // let anyone, on any path, have a 10 MiB body parsed (the event loop held ~300 ms).
    if (request.is404) return void sendError(reply, request.id, notFound(request.method, request.url, routeMethods));
    done();
  });

  app.setErrorHandler((err: FastifyError | GatewayError, request, reply) => {
    if (err instanceof GatewayError) return sendError(reply, request.id, err);
    const code = (err as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, request.id, new GatewayError('request_too_large', `The request body is larger than the ${rt.config.max_body_bytes} bytes allowed.`));
    }
    if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return sendError(reply, request.id, new GatewayError('invalid_request', 'Content-Length does not match the body.'));
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, request.id, new GatewayError('invalid_request', err.message, { status: err.statusCode }));
    }
    // A full disk, or a store file gone: the admin write did not happen.
    if (code === 'SQLITE_FULL' || code?.startsWith('SQLITE_IOERR') || code === 'SQLITE_READONLY') {
      rt.log.error({ err, request_id: request.id }, 'the store cannot be written');
      return sendError(reply, request.id, new GatewayError('store_unavailable', 'The store cannot be written right now (see the gateway\'s log); nothing was changed.'));
    }
    if (code === 'SQLITE_BUSY') {
      rt.log.warn({ request_id: request.id }, 'the store is locked by another process');
      return sendError(reply, request.id, new GatewayError('store_busy', 'The store is locked by another process; nothing was changed. Retry shortly.'));
    }
    // A long admin read (ledger verify, usage) still out when shutdown closed the store.
    if (code === 'STORE_CLOSING') return sendError(reply, request.id, new GatewayError('shutting_down', 'The gateway is shutting down; retry on another instance.'));
    rt.log.error({ err, request_id: request.id }, 'unhandled error');
    return sendError(reply, request.id, new GatewayError('internal_error', 'Internal error. Quote the request id when reporting it.'));
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, request.id, notFound(request.method, request.url, routeMethods)));

  for (const base of ['/v1', '/api/v1']) {
    app.get(`${base}/models`, listModelsHandler(rt));
    app.get(`${base}/models/*`, getModelHandler(rt));
  }
  // A load balancer sends traffic elsewhere while this gateway cannot record it.
  app.get('/healthz', async (_req, reply) => (rt.journal.stalled ? reply.code(503).send({ status: 'store_unavailable' }) : reply.send({ status: 'ok' })));

  registerAdminRoutes(app, rt);
  registerMetricsRoute(app, rt);
  return app;
}

/**
 * OpenAI endpoints clients reach for that the gateway does not serve, and what to use
 * instead: the Vercel AI SDK's `openai(model)` calls the Responses API by default, and
 * its users meet this 404 before anything else.
 */
const OTHER_APIS = new Map([
  ['responses', ' This gateway serves the Chat Completions API (POST /v1/chat/completions), not the Responses API: with the Vercel AI SDK use openai.chat(model) or @ai-sdk/openai-compatible; with the openai SDK, client.chat.completions.create().'],
  ['completions', ' This gateway serves the Chat Completions API (POST /v1/chat/completions), not the legacy Completions API: send the prompt as a user message.'],
]);

/** The endpoint of a /v1 or /api/v1 path ("responses" for /v1/responses/abc), or ''. */
function apiEndpoint(path: string): string {
  const m = /^(?:\/api)?\/v1\/([a-z_]+)(?:\/|$)/.exec(path);
  return m ? m[1]! : '';
}

function notFound(method: string, url: string, routeMethods: RouteMethods): GatewayError {
  const target = originForm(url);
  const path = target.split('?')[0];
  const allowed = routeMethods.allowed(target);
  if (allowed.length === 0) return new GatewayError('not_found', `Unknown endpoint: ${method} ${path}.${OTHER_APIS.get(apiEndpoint(path)) ?? ''}`);
  return new GatewayError('method_not_allowed', `${path} does not take ${method}; it takes ${allowed.join(', ')}.`, { headers: { allow: allowed.join(', ') } });
}
