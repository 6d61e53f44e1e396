import type { ServerResponse } from 'node:http';
import type { GatewayError } from '../protocol/errors.ts';

// Responses of the data plane, written to node:http directly: one writeHead with every
// header at once (no per-header setHeader), the body in the same write.

export function writeJson(res: ServerResponse, status: number, headers: Record<string, string>, json: string): void {
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(json));
  res.writeHead(status, headers);
  res.end(json);
}

/** An OpenAI-shaped error; `headers` (e.g. rate-limit headers already decided) go with it. */
export function writeError(res: ServerResponse, requestId: string, err: GatewayError, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.end();
    return;
  }
  const out: Record<string, string> = { 'x-request-id': requestId, ...headers };
  if (err.headers) Object.assign(out, err.headers);
  writeJson(res, err.status, out, err.toBody(requestId));
}
