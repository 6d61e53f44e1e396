import assert from 'node:assert/strict';
import { connect } from 'node:net';

// Small HTTP helpers for integration tests: raw requests with fetch, and one assertion
// for the OpenAI error shape that also checks nothing secret leaks into the response.

/** The upstream credential in defaultConfig(); it must never reach a client. */
export const UPSTREAM_SECRET = 'sk-upstream-secret-value-123';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** POSTs a body (an object is JSON-encoded; a string is sent as is) with an optional Bearer key. */
export async function post(url: string, body: unknown, opts: { key?: string | null; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.headers ?? {}) };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export async function get(url: string, opts: { key?: string | null; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export interface ErrorExpectation {
  status: number;
  type: string;
  code: string;
  /** Checked when present (null included). */
  param?: string | null;
  /** Checked against error.message when present. */
  message?: RegExp;
}

/** Every response seen by expectError, for a final sweep (see assertNoLeaks). */
export const seenErrorResponses: RawResponse[] = [];

/**
 * Asserts an OpenAI-shaped error: exact status, type, code (and param), a non-empty
 * message, and error.request_id equal to the x-request-id header. Also asserts that
 * none of `forbidden` appears in the body or any header.
 */
export function expectError(res: RawResponse, exp: ErrorExpectation, forbidden: readonly string[] = []): any {
  seenErrorResponses.push(res);
  assert.equal(res.status, exp.status, `status (body: ${res.text})`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  let body: any;
  assert.doesNotThrow(() => (body = JSON.parse(res.text)), `error body is JSON: ${res.text}`);
  assert.equal(typeof body.error, 'object', res.text);
  assert.deepEqual(Object.keys(body).sort(), ['error']);
  const e = body.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'request_id', 'type'], res.text);
  assert.equal(e.type, exp.type, res.text);
  assert.equal(e.code, exp.code, res.text);
  if ('param' in exp) assert.equal(e.param, exp.param, res.text);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  if (exp.message) assert.match(e.message, exp.message);
  const rid = res.headers.get('x-request-id');
  assert.ok(rid, 'x-request-id header present');
  assert.equal(e.request_id, rid);
  assertNoLeaks(res, forbidden);
  return e;
}

export function assertNoLeaks(res: RawResponse, forbidden: readonly string[]): void {
  const headerText = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
  for (const f of forbidden) {
    if (!f) continue;
    assert.ok(!res.text.includes(f), `response body leaks ${JSON.stringify(f)}: ${res.text}`);
    assert.ok(!headerText.includes(f), `response headers leak ${JSON.stringify(f)}: ${headerText}`);
  }
}

/** Things about an upstream that a client must never see. */
export function upstreamSecrets(up: { baseUrl: string; port: number }): string[] {
  return [UPSTREAM_SECRET, up.baseUrl, `127.0.0.1:${up.port}`, `:${up.port}/`, `localhost:${up.port}`];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port that was free a moment ago (for processes that cannot be given port 0). */
export { freePort } from './process.ts';

/**
 * A port where connections are refused. Not one from freePort(): a port free a moment
 * ago can be taken by a server another test file (running alongside) starts on port 0,
 * and a "dead" upstream then answers. Port 2 is below the ephemeral range, so no port-0
 * server ever gets it, nothing on a test machine listens there, and unlike 9 (discard)
 * it is not on fetch's list of blocked ports, so the CLI's fetch tries it too.
 */
export const CLOSED_PORT = 2;

/**
 * Writes raw bytes to a server (a request node:http or fetch would not send: two
 * Authorization headers, a body withheld after its head) and reads one whole answer
 * framed by Content-Length, as latin1 text, head included.
 */
export function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      got += c;
      const end = got.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(got);
      if (end !== -1 && length && got.length >= end + 4 + Number(length[1])) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error(`no whole answer within 5 s; got ${JSON.stringify(got)}`));
    });
  });
}

/** Reads an OpenAI SDK chat stream to its end: the content it spelled and the total_tokens of its usage chunk (0 without one). */
export async function readChatStream(stream: AsyncIterable<{ choices: Array<{ delta?: { content?: string | null } }>; usage?: { total_tokens: number } | null }>): Promise<{ text: string; total: number }> {
  let text = '';
  let total = 0;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    if (c.usage) total = c.usage.total_tokens;
  }
  return { text, total };
}
