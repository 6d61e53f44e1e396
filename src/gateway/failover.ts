import { GatewayError } from '../protocol/errors.ts';
import { UnsupportedFieldError } from '../providers/unsupported.ts';
import type { UpstreamRequest } from '../providers/types.ts';
import type { ModelEntry, Route } from './catalog.ts';
import type { Exchange } from './exchange.ts';
import { routeOrder } from './router.ts';
import type { Runtime } from './runtime.ts';
import { dispatchUpstream, type UpstreamResponse } from './upstream-call.ts';
import { fromTransportError, fromUpstreamStatus, invalidUpstreamResponse, OPERATOR_FAULT_LOG, type UpstreamRefusal } from './upstream-errors.ts';

// Sends a request to a model's routes in order until one answers. An attempt fails over
// on connection failure, timeout (a 408 too), 5xx, 429, a redirect, or a refusal of the
// operator's own account or route (credentials, balance, a 404 for the upstream model):
// always before anything has been sent to the client (streams are only opened to the
// client after this returns). Other 4xx answers are the request's fault and go straight
// back. Failover happens after admission, so extra attempts never count against the
// customer's rate limits, and only the attempt that answered is metered.
// A 200 is not yet an answer: `accept` reads what the caller needs of it (a whole
// non-streaming body; a stream's content type) inside the attempt, so a body that stalls,
// is cut or is not JSON fails over and counts against the upstream's breaker, as a bad
// status does. Such an answer used to be taken as a success: the breaker never paused
// an upstream that answered 200 and then failed, and a healthy second route got nothing.

export interface Answer {
  route: Route;
  res: UpstreamResponse;
}

function isRetryableStatus(status: number): boolean {
  // A redirect is no API's answer (not followed: see upstream-errors.ts); a 408 is the
  // upstream not getting the gateway's request in time, never the client's fault.
  return status >= 500 || status === 429 || status === 408 || status < 400;
}

export async function sendWithFailover<T>(
  rt: Runtime,
  ex: Exchange,
  model: ModelEntry,
  build: (route: Route) => UpstreamRequest,
  accept: (answer: Answer) => Promise<T> | T,
  /** The caller tells the route's breaker how the answer went (a stream, when it ends). */
  breakerAtEnd = false,
): Promise<T> {
  const order = routeOrder(model);
  let lastError: GatewayError | null = null;
  let unsupported: UnsupportedFieldError | null = null;
  let attempts = 0;
  /** The wait each failed route asked for (its error's Retry-After), in ms. */
  const waited = new Map<Route, number>();
  for (const route of order) {
    const breaker = route.upstream.breaker;
    if (!breaker.tryAcquire()) continue;
    let req: UpstreamRequest;
    try {
      req = build(route);
    } catch (err) {
      breaker.release();
      // A route whose wire protocol cannot honour a field is skipped for one that can.
      if (err instanceof UnsupportedFieldError) {
        unsupported ??= err;
        continue;
      }
      refuseUnsent(ex);
      throw err;
    }
    attempts++;
    ex.route = route;
    // Any answer not from the first-choice route is a failover, also when that route was
    // skipped because its breaker is open.
    ex.failover = route !== order[0];
    let res: UpstreamResponse;
    try {
      if (ex.clientGone) throw new Error('client gone');
      res = await callUpstream(route, req, ex);
    } catch (err) {
      if (ex.clientGone) {
        breaker.release();
        throw new GatewayError('invalid_request', 'Client closed the request.', { status: 499, codeOverride: 'client_closed' });
      }
      breaker.failure();
      lastError = fromTransportError(err);
      waited.set(route, retryAfterMs(lastError));
      rt.log.warn({ request_id: ex.id, provider: route.upstream.id, code: (err as { code?: string }).code }, 'upstream attempt failed');
      continue;
    }
    if (res.statusCode >= 300) {
      const { error, fault } = await readUpstreamError(route, res);
      // Rejected credentials, a used-up balance or a missing model at this upstream are
      // the operator's, and last: the next route may well answer, and the breaker spares
      // this one the requests that would fail the same way.
      if (fault) rt.log.error({ request_id: ex.id, provider: route.upstream.id, status: res.statusCode }, OPERATOR_FAULT_LOG[fault]);
      if (isRetryableStatus(res.statusCode) || fault) {
        // A missing model is that route's alone: the upstream itself answered, and the
        // breaker, which is the upstream's, must not pause its other models.
        if (fault === 'route') breaker.success();
        else breaker.failure();
        lastError = error;
        waited.set(route, retryAfterMs(error));
        if (!fault) rt.log.warn({ request_id: ex.id, provider: route.upstream.id, status: res.statusCode }, 'upstream attempt failed');
        continue;
      }
      breaker.success();
      throw error;
    }
    // A 200 web page is no API's answer: a base_url that points at a site, a captive
    // portal, a proxy's login page. The next route may well answer.
    if (isWebPage(res)) {
      res.body.destroy();
      breaker.failure();
      lastError = invalidUpstreamResponse('a web page (text/html), not an API answer');
      waited.set(route, retryAfterMs(lastError));
      rt.log.error({ request_id: ex.id, provider: route.upstream.id }, 'upstream answered a web page (text/html): check its base_url');
      continue;
    }
    let accepted: T;
    try {
      accepted = await accept({ route, res });
    } catch (err) {
      if (ex.clientGone) {
        breaker.release();
        throw new GatewayError('invalid_request', 'Client closed the request.', { status: 499, codeOverride: 'client_closed' });
      }
      if (!(err instanceof GatewayError) || (err.code !== 'upstream_error' && err.code !== 'upstream_timeout')) {
        breaker.success();
        throw err;
      }
      breaker.failure();
      lastError = err;
      waited.set(route, retryAfterMs(err));
      rt.log.warn({ request_id: ex.id, provider: route.upstream.id, code: err.code }, 'upstream answer unusable');
      continue;
    }
    if (breakerAtEnd) breaker.answered();
    else breaker.success();
    return accepted;
  }
  if (attempts === 0) refuseUnsent(ex);
  if (attempts === 0 && unsupported) throw new GatewayError('unsupported_parameter', unsupported.message, { param: unsupported.param });
  if (attempts === 1 && lastError) throw lastError;
  // The soonest any route may answer: its breaker's pause, or the wait its upstream gave.
  const waits = order.map((r) => Math.max(r.upstream.breaker.retryInMs(), waited.get(r) ?? 0)).filter((ms) => ms > 0);
  const retryAfter = Math.max(1, Math.ceil((waits.length ? Math.min(...waits) : 1000) / 1000));
  const detail = lastError ? ` The last attempt failed: ${lastError.message}` : ' Every upstream is paused after repeated failures.';
  throw new GatewayError('upstreams_unavailable', `No upstream for '${model.id}' is available right now (${attempts} tried).${detail}`, { headers: { 'retry-after': String(retryAfter) } });
}

/**
 * A request refused before any upstream saw it (a field no route can send, every route
 * paused) uses up nothing, as one refused at admission does: SDKs retry a 503, and each
 * retry used to take a request of the minute until the client read a 429 instead.
 * A json_schema retry's second send comes after an upstream answered, and counts.
 */
function refuseUnsent(ex: Exchange): void {
  if (ex.route === null && ex.grant) Object.assign(ex.headers, ex.grant.refuse());
}

function isWebPage(res: UpstreamResponse): boolean {
  const ct = res.headers.get('content-type');
  return ct !== undefined && /^\s*text\/html\b/i.test(ct);
}

function retryAfterMs(err: GatewayError): number {
  const seconds = Number(err.headers?.['retry-after'] ?? 1);
  return Number.isFinite(seconds) ? seconds * 1000 : 1000;
}

/**
 * One attempt. The time to the response headers is bounded by a timer of its own, from
 * the dispatch (the pool's silence timer starts only once a connection is writing). The
 * call is kept on the Exchange so that a client that goes away aborts it, before or
 * after its headers.
 */
async function callUpstream(route: Route, req: UpstreamRequest, ex: Exchange): Promise<UpstreamResponse> {
  const up = route.upstream;
  const extra = up.config.headers;
  const headers = Object.keys(extra).length ? { ...extra, ...req.headers } : req.headers;
  const call = dispatchUpstream(up.pool, { path: up.basePath + req.path, method: 'POST', headers, body: req.body, bodyEncoding: req.bodyEncoding ?? 'utf8' });
  ex.upstreamCall = call;
  const timer = setTimeout(() => call.abort(Object.assign(new Error('upstream headers timeout'), { code: 'UPSTREAM_HEADERS_TIMEOUT' })), up.config.timeout_ms);
  try {
    return await call.response;
  } finally {
    clearTimeout(timer);
  }
}

/** More of an error body than a message needs: past it (an error page without end) it is cut. */
const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/**
 * The longest an error body is read for, start to end. A real one is a few hundred bytes
 * sent with its head; one that trickles in (each byte within the pool's silence timeout)
 * held the client for as long as the upstream liked. Shorter than timeout_ms (minutes,
 * as it must be for a long answer's first byte): the status alone decides what happens
 * next, and the next route should not wait on a message.
 */
const ERROR_BODY_TIME_MS = 5_000;

async function readUpstreamError(route: Route, res: UpstreamResponse): Promise<UpstreamRefusal> {
  let chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  const timer = setTimeout(() => res.body.destroy(), Math.min(ERROR_BODY_TIME_MS, route.upstream.config.timeout_ms));
  try {
    await res.body.pipe((chunk) => {
      size += chunk.length;
      if (size <= MAX_ERROR_BODY_BYTES) return void chunks.push(chunk);
      cut = true;
      res.body.destroy();
    });
  } catch {
    // The status alone will do, or what came before the cut (a body that ran out of time
    // is no whole message: dropped).
    if (!cut) chunks = [];
  } finally {
    clearTimeout(timer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const info = route.upstream.adapter.parseError(res.statusCode, text);
  return fromUpstreamStatus(route.upstream, res.statusCode, info, res.headers.all('retry-after')[0]);
}
