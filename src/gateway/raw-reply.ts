import type { ServerResponse } from 'node:http';
import type { GatewayError } from '../protocol/errors.ts';
import { CORS_HEADERS } from './cors.ts';

// Responses of the data plane, written to node:http directly: one writeHead with every
// header at once (no per-header setHeader), the body in the same write.

/** `json` is text, or a byte string (protocol/byte-strings.ts) with encoding 'latin1'. */
export function writeJson(res: ServerResponse, status: number, headers: Record<string, string>, json: string, encoding: 'utf8' | 'latin1' = 'utf8'): void {
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(encoding === 'latin1' ? json.length : Buffer.byteLength(json));
  res.writeHead(status, headers);
  res.end(json, encoding);
}

/** An OpenAI-shaped error; `headers` (e.g. rate-limit headers already decided) go with it. */
export function writeError(res: ServerResponse, requestId: string, err: GatewayError, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.end();
    return;
  }
  // Only a browser sends Origin (cors.ts): SDKs on servers get no CORS headers.
  const cors = res.req?.headers.origin !== undefined ? CORS_HEADERS : undefined;
  const out: Record<string, string> = { 'x-request-id': requestId, ...cors, ...headers };
  if (err.headers) Object.assign(out, err.headers);
  try {
    writeJson(res, err.status, out, err.toBody(requestId));
  } catch {
    // A header node:http refuses (a bug of ours) must not leave the client waiting:
    // the error goes out with the request id alone.
    if (!res.headersSent) writeJson(res, err.status, { 'x-request-id': requestId, ...cors }, err.toBody(requestId));
    else res.end();
  }
}
