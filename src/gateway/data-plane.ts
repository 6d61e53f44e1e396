import { isAscii } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../protocol/errors.ts';
import { authenticate } from './authenticate.ts';
import { handleExchange, type Endpoint } from './chat-completions.ts';
import { Exchange } from './exchange.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';
import { answerPreflight, isApiPath } from './cors.ts';
import { originForm } from './request-target.ts';
import { writeError } from './raw-reply.ts';
import { newRequestId } from './request-id.ts';
import type { Runtime } from './runtime.ts';

// The data plane's POST endpoints are served straight from node:http, ahead of Fastify:
// they carry nearly all the traffic, and Fastify's routing, hooks, content-type parsing
// and reply object cost more per request than everything Tollgate itself does there
// (bench profile). Everything else (models, health, admin, 404s) goes on to Fastify.

const ROUTES: Record<string, Endpoint> = {
  '/v1/chat/completions': 'chat',
  '/api/v1/chat/completions': 'chat',
  '/v1/embeddings': 'embeddings',
  '/api/v1/embeddings': 'embeddings',
};

/** The paths the data plane answers POSTs on. */
export const DATA_PLANE_PATHS: readonly string[] = Object.keys(ROUTES);

/** The endpoint a POST to this URL is for, or undefined. Query strings and one trailing slash are ignored. */
function dataPlaneEndpoint(url: string): Endpoint | undefined {
  // An absolute-form target (`POST http://host/v1/...`, RFC 9112 §3.2.2), which a server
  // must accept: its path is what routes it, as Fastify's routes already did.
  let path = originForm(url);
  const q = path.indexOf('?');
  if (q !== -1) path = path.slice(0, q);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return ROUTES[path];
}

/** What a Host header may hold (RFC 9112 §3.2, RFC 3986 host and port); a space means two
 *  Host headers joined (joinDuplicateHeaders) or a malformed one: both a 400. */
const HOST = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]*$/;

/**
 * Whether a request that asked `Expect: 100-continue` will be refused before its body is
 * read: a data-plane POST whose key is already known to be bad, or whose declared size
 * is over the limit. Such a request gets its refusal instead of a 100, so its client
 * never uploads a body that would be thrown away (curl asks this for bodies over 1 MB).
 */
export function refusedBeforeBody(rt: Runtime, req: IncomingMessage): boolean {
  if (req.method !== 'POST' || dataPlaneEndpoint(req.url ?? '') === undefined) return false;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > rt.config.max_body_bytes) return true;
  try {
    const key = authenticate(rt, req.headers);
    if (key instanceof Promise) key.catch(() => {});
    return false;
  } catch {
    return true;
  }
}

/** Deepest nesting of arrays and objects a body may have: far past what requests use (OpenAI's schemas stop at 10 levels), far short of what overflows the stack. */
const MAX_DEPTH = 256;

export interface DataPlaneState {
  /** Set when the server starts closing: new requests get 503 and the connection is closed. */
  draining: boolean;
}

export function dataPlaneListener(
  rt: Runtime,
  state: DataPlaneState,
  fallback: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = rt.config.max_body_bytes;
  return function onRequest(req, res) {
    const endpoint = req.method === 'POST' ? dataPlaneEndpoint(req.url ?? '') : undefined;
    // HTTP/1.1 requires Host; node:http's own refusal (requireHostHeader) was a bare 400
    // with no body or request id, so the check is made here.
    const host = req.headers.host;
    if (host === undefined ? req.httpVersionMinor === 1 : !HOST.test(host)) {
      req.resume();
      const err = new GatewayError('invalid_request', host === undefined ? 'The request has no Host header, which HTTP/1.1 requires.' : 'The request has more than one Host header, or one that is not a host name and port.');
      if (endpoint !== undefined) return refuse(rt, endpoint, newRequestId(), res, err, knownKey(rt, req), CLOSE);
      writeError(res, newRequestId(), err, CLOSE);
      return;
    }
    if (endpoint === undefined) {
      if (req.method === 'OPTIONS' && isApiPath(req.url ?? '')) return answerPreflight(req, res);
      return fallback(req, res);
    }
    const id = newRequestId();
    if (state.draining) {
      req.resume();
      refuse(rt, endpoint, id, res, new GatewayError('shutting_down', 'The gateway is shutting down; retry on another instance.'), knownKey(rt, req), CLOSE);
      return;
    }
    // The key is checked before the body is kept: read and parsed first, a request with
    // no valid key could make the gateway buffer and parse max_body_bytes (10 MiB held
    // the event loop ~300 ms). A refused key is answered at once and its body discarded
    // as it arrives. A key not cached yet is looked up while the body arrives.
    let keyCheck: Promise<unknown> | undefined;
    // Handed on, so the pipeline does not authenticate twice.
    let keyRow: ApiKeyRow | undefined;
    const declared = req.headers['content-length'];
    const declaredTooLarge = declared !== undefined && Number(declared) > limit;
    try {
      const key = authenticate(rt, req.headers);
      if (key instanceof Promise) keyCheck = key;
      else keyRow = key;
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      // A body too large to be read even with a good key is not read to be discarded
      // either (it may be gigabytes): the connection closes after the answer.
      if (declaredTooLarge) return refuse(rt, endpoint, id, res, err, undefined, CLOSE);
      return refuseUnread(rt, endpoint, id, req, res, err);
    }
    if (declaredTooLarge) {
      // Answer at once and close: reading a body we will refuse only costs bandwidth.
      // Recorded under the key when it is already known (a key still being looked up is
      // not waited for).
      keyCheck?.catch(() => {});
      refuse(rt, endpoint, id, res, tooLarge(limit), keyRow, CLOSE);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    // Settles either way; a store error is left for handleExchange to meet and answer.
    keyCheck = (keyCheck as Promise<ApiKeyRow> | undefined)?.then(
      (row) => {
        keyRow = row;
      },
      (err: unknown) => {
        if (!(err instanceof GatewayError) || refused) return;
        refused = true;
        chunks.length = 0;
        refuseUnread(rt, endpoint, id, req, res, err);
      },
    );
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        chunks.length = 0;
        refuse(rt, endpoint, id, res, tooLarge(limit), keyRow, CLOSE);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      if (!keyCheck) return parseAndServe();
      void keyCheck.then(() => {
        if (!refused) parseAndServe();
      });
    });
    const parseAndServe = () => {
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const text = raw.toString('utf8');
      let body: unknown;
      if (text.length === 0) {
        refuse(rt, endpoint, id, res, new GatewayError('invalid_json', 'The request body is empty; send a JSON object.'), keyRow);
        return;
      }
      try {
        body = JSON.parse(text);
      } catch (err) {
        refuse(rt, endpoint, id, res, new GatewayError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}.`), keyRow);
        return;
      }
      if (nestsDeeper(body, MAX_DEPTH)) {
        refuse(rt, endpoint, id, res, new GatewayError('invalid_request', `The request body nests arrays and objects more than ${MAX_DEPTH} levels deep.`), keyRow);
        return;
      }
      // The upstream gets the client's own bytes (protocol/byte-strings.ts), edited: an
      // ASCII body is its own byte string, any other is copied as one.
      void handleExchange(rt, endpoint, id, req, res, body, isAscii(raw) ? text : raw.toString('latin1'), keyRow);
    };
    // A client that goes away mid-body has no one to answer; node:http closes the socket.
    req.on('error', () => {});
  };
}

/**
 * Answers a request whose key was refused, recorded as handleExchange records a refusal.
 * The body is discarded as it comes, not cut off: closing a connection with a body still
 * arriving can reset it before the client reads the 401.
 */
function refuseUnread(rt: Runtime, endpoint: Endpoint, id: string, req: IncomingMessage, res: ServerResponse, err: GatewayError): void {
  req.resume();
  refuse(rt, endpoint, id, res, err);
}

const CLOSE = { connection: 'close' };

/** The request's key when it is valid and already cached, to record a refusal under its account (one not cached yet is not waited for). */
function knownKey(rt: Runtime, req: IncomingMessage): ApiKeyRow | undefined {
  try {
    const key = authenticate(rt, req.headers);
    if (!(key instanceof Promise)) return key;
    key.catch(() => {});
  } catch {
    // Refused for its own reason; this refusal is recorded without an account.
  }
  return undefined;
}

/**
 * Answers a request refused before the pipeline (its key, its body's size or JSON) and
 * records it as the pipeline records a refusal: one request-log row and one count in the
 * metrics per request, with the key's account when the key was known by then.
 */
function refuse(rt: Runtime, endpoint: Endpoint, id: string, res: ServerResponse, err: GatewayError, key?: ApiKeyRow, headers?: Record<string, string>): void {
  const ex = new Exchange(id, endpoint === 'chat' ? 'chat.completions' : 'embeddings');
  ex.status = err.status;
  ex.errorCode = err.code;
  if (key) ex.key = key;
  if (headers) Object.assign(ex.headers, headers);
  writeError(res, id, err, ex.headers);
  ex.finish(rt);
}

/**
 * Whether a parsed body nests arrays and objects more than `max` levels deep (the body's
 * own object is the first). JSON.parse takes any depth, but the walks made over a body
 * (token counting, validation, the edits for the upstream) overflowed the stack near
 * 4,000 levels and answered 500. Only arrays and objects are visited, so a long array of
 * token ids or a long string costs next to nothing.
 */
function nestsDeeper(v: unknown, max: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (max === 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'object' && x !== null && nestsDeeper(x, max - 1)) return true;
    }
    return false;
  }
  for (const k in v) {
    const x: unknown = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && nestsDeeper(x, max - 1)) return true;
  }
  return false;
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError('request_too_large', `The request body is larger than the ${limit} bytes allowed.`);
}
