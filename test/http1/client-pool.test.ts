import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientPool, type CallController, type PoolOptions, type RequestOptions, type ResponseHandler } from '../../src/http1/client-pool.ts';
import type { ResponseHeaders } from '../../src/http1/response-parser.ts';
import { CLOSED_PORT, sleep } from '../helpers/http.ts';

// The upstream connection pool against real servers on 127.0.0.1: node:http servers
// for well-formed exchanges, raw node:net servers for hand-made (often malformed) byte
// streams. Connection reuse is always checked from the server's side (its count of
// accepted connections), not only through pool.size.

// ---------------------------------------------------------------------------------
// Helpers

interface Res {
  status: number;
  headers: ResponseHeaders;
  /** The body decoded as UTF-8. */
  body: string;
  /** The body's exact bytes. */
  bytes: Buffer;
  /** How many onResponseData calls delivered it. */
  dataEvents: number;
}

const GET = (path = '/'): RequestOptions => ({ method: 'GET', path, headers: {} });

/** One call through the pool as a promise: the whole response, or the error. */
function request(pool: ClientPool, opts: Partial<RequestOptions> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: ResponseHeaders | undefined;
    const chunks: Buffer[] = [];
    pool.dispatch(
      { ...GET(), ...opts },
      {
        onRequestStart() {},
        onResponseStart(_c, statusCode, h) {
          status = statusCode;
          headers = h;
        },
        onResponseData(_c, chunk) {
          chunks.push(Buffer.from(chunk)); // a view of the socket's buffer: copy it
        },
        onResponseEnd() {
          const bytes = Buffer.concat(chunks);
          resolve({ status, headers: headers!, body: bytes.toString('utf8'), bytes, dataEvents: chunks.length });
        },
        onResponseError(_c, err) {
          reject(err);
        },
      },
    );
  });
}

type Event = ['start', number] | ['data', Buffer] | ['end'] | ['error', Error];

/** A handler that records every event in order, with optional hooks, and settles `done` at the end or the error. */
class Recorder implements ResponseHandler {
  events: Event[] = [];
  controller: CallController | null = null;
  readonly done: Promise<void>;
  #settle!: () => void;
  readonly hooks: Partial<Record<'data' | 'end' | 'start', (c: CallController, n: number) => void>>;
  #dataCount = 0;

  constructor(hooks: Recorder['hooks'] = {}) {
    this.hooks = hooks;
    this.done = new Promise((resolve) => (this.#settle = resolve));
  }

  onRequestStart(c: CallController): void {
    this.controller = c;
  }
  onResponseStart(c: CallController, statusCode: number): void {
    this.events.push(['start', statusCode]);
    this.hooks.start?.(c, 0);
  }
  onResponseData(c: CallController, chunk: Buffer): void {
    this.events.push(['data', Buffer.from(chunk)]);
    this.hooks.data?.(c, ++this.#dataCount);
  }
  onResponseEnd(c: CallController): void {
    this.events.push(['end']);
    this.hooks.end?.(c, 0);
    this.#settle();
  }
  onResponseError(_c: CallController, err: Error): void {
    this.events.push(['error', err]);
    this.#settle();
  }

  kinds(): string[] {
    return this.events.map((e) => e[0]);
  }
  errors(): Error[] {
    return this.events.filter((e): e is ['error', Error] => e[0] === 'error').map((e) => e[1]);
  }
  body(): Buffer {
    return Buffer.concat(this.events.filter((e): e is ['data', Buffer] => e[0] === 'data').map((e) => e[1]));
  }
}

async function rejectsWithCode(p: Promise<unknown>, code: string, message?: string): Promise<Error> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  }, message);
  assert.equal((caught as { code?: string }).code, code, `${message ?? ''} → ${String(caught)}`);
  return caught as Error;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const DEFAULTS: PoolOptions = { connections: 4, keepAliveTimeoutMs: 5_000, timeoutMs: 3_000, connectTimeoutMs: 3_000 };

/** A pool destroyed at the end of the test (a no-op if the test closed it). */
function newPool(t: TestContext, origin: string, options: Partial<PoolOptions> = {}): ClientPool {
  const pool = new ClientPool(origin, { ...DEFAULTS, ...options });
  t.after(() => pool.destroy());
  return pool;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

interface HttpServer {
  server: http.Server;
  origin: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
}

async function httpServer(t: TestContext, handler: http.RequestListener, options: http.ServerOptions = {}): Promise<HttpServer> {
  const server = http.createServer(options, handler);
  const out: HttpServer = { server, origin: '', port: 0, connections: 0 };
  server.on('connection', () => out.connections++);
  out.port = await listen(server);
  out.origin = `http://127.0.0.1:${out.port}`;
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return out;
}

interface RawRequest {
  head: string;
  body: Buffer;
  /** Index among all requests the server received. */
  index: number;
  /** Index of the connection it came on. */
  conn: number;
}

interface RawServer {
  origin: string;
  port: number;
  connections: number;
  requests: RawRequest[];
  /** Connections closed so far (by either side). */
  closed: number;
}

/**
 * A TCP server that frames requests (head, then a content-length body) and lets
 * `answer` write whatever bytes it likes on the socket.
 */
async function rawServer(t: TestContext, answer: (sock: net.Socket, req: RawRequest) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const out: RawServer = { origin: '', port: 0, connections: 0, requests: [], closed: 0 };
  const server = net.createServer((sock) => {
    const conn = out.connections++;
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('error', () => {});
    sock.on('close', () => {
      sockets.delete(sock);
      out.closed++;
    });
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const req: RawRequest = { head, body: Buffer.from(buf.subarray(end + 4, end + 4 + len)), index: out.requests.length, conn };
        buf = buf.subarray(end + 4 + len);
        out.requests.push(req);
        answer(sock, req);
      }
    });
  });
  out.port = await listen(server);
  out.origin = `http://127.0.0.1:${out.port}`;
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return out;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

/** Writes `data` one byte per write, a timer tick apart, so the client reads it in many small pieces. */
/** Two requests to a server that always writes `response` (whose body is "ok"): both succeed, on two connections. */
async function assertNotReused(t: TestContext, response: string): Promise<void> {
  const srv = await rawServer(t, (sock) => sock.write(response));
  const pool = newPool(t, srv.origin);
  assert.equal((await request(pool)).body, 'ok');
  assert.equal((await request(pool)).body, 'ok');
  assert.equal(srv.connections, 2);
}

async function dribble(sock: net.Socket, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i++) {
    if (sock.destroyed) return;
    sock.write(data.subarray(i, i + 1));
    await new Promise<void>((r) => setTimeout(r, 0));
  }
}

// ---------------------------------------------------------------------------------

describe('ClientPool: requests', () => {
  test('a POST arrives with the exact method, path, headers and body bytes, and one host and content-length', async (t) => {
    const body = 'héllo ✓ {"a":[1,2]}';
    let seen: { method?: string; url?: string; rawHeaders: string[]; body: Buffer } | null = null;
    const srv = await httpServer(t, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
        res.end('done');
      });
    });
    const pool = newPool(t, srv.origin);
    const res = await request(pool, {
      method: 'POST',
      path: '/v1/chat/completions?x=1&y=%20z',
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'x-custom': 'value with spaces',
        authorization: 'Bearer sk-test',
        Host: 'evil.example',
        'Content-Length': '3',
        Connection: 'close',
        'Transfer-Encoding': 'chunked',
        'x-skipped': undefined,
      },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'done');
    assert.ok(seen);
    const s = seen as { method?: string; url?: string; rawHeaders: string[]; body: Buffer };
    assert.equal(s.method, 'POST');
    assert.equal(s.url, '/v1/chat/completions?x=1&y=%20z');
    assert.deepEqual(s.body, Buffer.from(body, 'utf8'));
    const pairs: [string, string][] = [];
    for (let i = 0; i < s.rawHeaders.length; i += 2) pairs.push([s.rawHeaders[i]!.toLowerCase(), s.rawHeaders[i + 1]!]);
    const values = (name: string) => pairs.filter(([n]) => n === name).map(([, v]) => v);
    assert.deepEqual(values('host'), [`127.0.0.1:${srv.port}`]);
    assert.deepEqual(values('content-length'), [String(Buffer.byteLength(body))]);
    assert.equal(Buffer.byteLength(body), body.length + 3, 'the body has multi-byte characters');
    assert.deepEqual(values('connection'), [], 'the caller\'s connection header is not sent');
    assert.deepEqual(values('transfer-encoding'), [], 'the caller\'s transfer-encoding is not sent');
    assert.deepEqual(values('content-type'), ['application/json; charset=utf-8']);
    assert.deepEqual(values('x-custom'), ['value with spaces']);
    assert.deepEqual(values('authorization'), ['Bearer sk-test']);
    assert.deepEqual(values('x-skipped'), [], 'an undefined header is left out');
    assert.ok(s.rawHeaders.includes('Content-Type'), 'header names keep their case');
    // The caller's "Connection: close" was dropped, so the connection is reused.
    await request(pool, { method: 'POST', path: '/again', headers: {}, body: '' });
    assert.equal(srv.connections, 1);
  });

  test('a byte-string body (bodyEncoding latin1) arrives as its bytes, counted in bytes; header values stay UTF-8 as before', async (t) => {
    const bytes = Buffer.concat([Buffer.from('{"a":"你好 ✓"}'), Buffer.from([0xff])]);
    let seen: { body: Buffer; custom: string } | null = null;
    const srv = await httpServer(t, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const i = req.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-custom');
        seen = { body: Buffer.concat(chunks), custom: Buffer.from(req.rawHeaders[i + 1]!, 'latin1').toString('utf8') };
        res.end('done');
      });
    });
    const pool = newPool(t, srv.origin);
    const res = await request(pool, { method: 'POST', path: '/', headers: { 'x-custom': 'café' }, body: bytes.toString('latin1'), bodyEncoding: 'latin1' });
    assert.equal(res.status, 200);
    const s = seen as unknown as { body: Buffer; custom: string };
    assert.deepEqual(s.body, bytes);
    assert.equal(s.custom, 'café');
    // And the connection is still in step: a second request on it is answered.
    assert.equal((await request(pool, { method: 'POST', path: '/', headers: {}, body: 'x' })).status, 200);
    assert.equal(srv.connections, 1);
  });

  test('a POST without a body sends content-length: 0; a GET sends no content-length', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin);
    await request(pool, { method: 'POST', path: '/p', headers: {} });
    await request(pool, { method: 'GET', path: '/g', headers: {} });
    assert.match(srv.requests[0]!.head, /^POST \/p HTTP\/1\.1\r\n/);
    assert.match(srv.requests[0]!.head, /\r\ncontent-length: 0(\r\n|$)/i);
    assert.match(srv.requests[1]!.head, /^GET \/g HTTP\/1\.1\r\n/);
    assert.doesNotMatch(srv.requests[1]!.head, /content-length/i);
    assert.equal(srv.connections, 1);
  });

  test('a HEAD response has no body even with a content-length, and the connection is reused', async (t) => {
    const srv = await rawServer(t, (sock, req) => sock.write(req.head.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n' : OK));
    const pool = newPool(t, srv.origin);
    const head = await request(pool, { method: 'HEAD', path: '/', headers: {} });
    assert.equal(head.status, 200);
    assert.equal(head.bytes.length, 0);
    assert.equal(head.headers.get('content-length'), '5');
    assert.equal((await request(pool)).body, 'ok');
    assert.equal(srv.connections, 1);
  });
});

describe('ClientPool: keep-alive and queueing', () => {
  test('20 sequential requests use one connection', async (t) => {
    const srv = await httpServer(t, (req, res) => res.end(`answer to ${req.url}`));
    const pool = newPool(t, srv.origin);
    for (let i = 0; i < 20; i++) {
      const res = await request(pool, GET(`/n/${i}`));
      assert.equal(res.body, `answer to /n/${i}`);
      assert.equal(pool.size, 1);
    }
    assert.equal(srv.connections, 1);
  });

  test('20 concurrent requests with connections: 4 open at most 4 connections and all complete', async (t) => {
    let inFlight = 0;
    let maxInFlight = 0;
    const srv = await httpServer(t, (req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        res.end(`body of ${req.url}`);
      }, 15);
    });
    const pool = newPool(t, srv.origin, { connections: 4 });
    const calls = Array.from({ length: 20 }, (_, i) => request(pool, GET(`/c/${i}`)));
    assert.equal(pool.size, 4, 'four connections opened at once');
    const results = await Promise.all(calls);
    results.forEach((r, i) => assert.equal(r.body, `body of /c/${i}`));
    assert.equal(srv.connections, 4);
    assert.equal(maxInFlight, 4);
    assert.equal(pool.size, 4);
  });

  test('a connection idle for longer than keepAliveTimeoutMs is not reused', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin, { keepAliveTimeoutMs: 100 });
    await request(pool);
    await request(pool);
    assert.equal(srv.connections, 1);
    await sleep(150);
    await request(pool);
    assert.equal(srv.connections, 2);
    await waitFor(() => srv.closed === 1, 'the stale connection to be closed');
  });

  test('an idle connection outlives timeoutMs when keepAliveTimeoutMs is longer', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin, { timeoutMs: 150, keepAliveTimeoutMs: 5_000 });
    await request(pool);
    await sleep(400);
    assert.equal(pool.size, 1, 'the idle connection is still open');
    await request(pool);
    assert.equal(srv.connections, 1);
  });

  test('Connection: close in the response: the next request opens a new connection', async (t) => {
    const srv = await httpServer(t, (_req, res) => {
      res.setHeader('connection', 'close');
      res.end('bye');
    });
    const pool = newPool(t, srv.origin);
    assert.equal((await request(pool)).body, 'bye');
    assert.equal(pool.size, 0);
    assert.equal((await request(pool)).body, 'bye');
    assert.equal(srv.connections, 2);
  });

  test("the server's keep-alive hint, minus a 1 s margin, limits reuse", async (t) => {
    let hint = 'timeout=1';
    const srv = await rawServer(t, (sock) => sock.write(`HTTP/1.1 200 OK\r\nkeep-alive: ${hint}\r\ncontent-length: 2\r\n\r\nok`));
    const pool = newPool(t, srv.origin);
    // timeout=1: 1 s − 1 s margin = 0, so even 50 ms later the connection is not reused.
    await request(pool);
    await sleep(50);
    await request(pool);
    assert.equal(srv.connections, 2);
    // timeout=5 (4 s after the margin): reused.
    hint = 'timeout=5, max=100';
    await request(pool);
    assert.equal(srv.connections, 3);
    await sleep(50);
    await request(pool);
    assert.equal(srv.connections, 3);
  });

  // The keep-alive race: a server closes a connection it holds idle just as the pool
  // writes the next request on it. The server's side is played by closing the socket
  // on the second request, without a byte of answer.
  for (const [how, close] of [['closes', (s: net.Socket) => s.end()], ['resets', (s: net.Socket) => s.resetAndDestroy()]] as const) {
    test(`a reused connection the server ${how} before a byte of answer: the POST is sent again, once, on a new connection`, async (t) => {
      const srv = await rawServer(t, (sock, req) => {
        if (req.index === 1) close(sock);
        else sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${req.body.length}\r\n\r\n${req.body.toString('latin1')}`);
      });
      const pool = newPool(t, srv.origin);
      const post = (body: string): Partial<RequestOptions> => ({ method: 'POST', path: '/p', body });
      assert.equal((await request(pool, post('first'))).body, 'first');
      assert.equal((await request(pool, post('second'))).body, 'second');
      assert.deepEqual(srv.requests.map((r) => [r.conn, r.body.toString()]), [[0, 'first'], [0, 'second'], [1, 'second']]);
    });
  }

  test('a reused connection the server closes after working on the request for seconds: a failure, not sent again', async (t) => {
    // Not the idle race: the server read the request and may have billed for it.
    const srv = await rawServer(t, (sock, req) => {
      if (req.index === 1) setTimeout(() => sock.end(), 1200);
      else sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${req.body.length}\r\n\r\n${req.body.toString('latin1')}`);
    });
    const pool = newPool(t, srv.origin);
    const post = (body: string): Partial<RequestOptions> => ({ method: 'POST', path: '/p', body });
    assert.equal((await request(pool, post('first'))).body, 'first');
    await assert.rejects(request(pool, post('second')), (err: any) => err.code === 'UPSTREAM_CLOSED');
    assert.deepEqual(srv.requests.map((r) => [r.conn, r.body.toString()]), [[0, 'first'], [0, 'second']]);
  });

  test('a 408 on a reused connection (a server timing out the idle connection) sends the call again on a new one; on a new connection it is the answer', async (t) => {
    const TIMEOUT_408 = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 7\r\n\r\ntimeout';
    const srv = await rawServer(t, (sock, req) => {
      if (req.index === 1) sock.end(TIMEOUT_408);
      else sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${req.body.length}\r\n\r\n${req.body.toString('latin1')}`);
    });
    const pool = newPool(t, srv.origin);
    const post = (body: string): Partial<RequestOptions> => ({ method: 'POST', path: '/p', body });
    assert.equal((await request(pool, post('first'))).body, 'first');
    const second = await request(pool, post('second'));
    assert.deepEqual([second.status, second.body], [200, 'second']);
    assert.deepEqual(srv.requests.map((r) => [r.conn, r.body.toString()]), [[0, 'first'], [0, 'second'], [1, 'second']]);

    const always = await rawServer(t, (sock) => sock.end(TIMEOUT_408));
    const fresh = newPool(t, always.origin);
    const res = await request(fresh, post('x'));
    assert.deepEqual([res.status, res.body], [408, 'timeout']);
    assert.equal(always.requests.length, 1);
  });

  test('a call sent again keeps to the connection limit, and the calls queued behind it follow', async (t) => {
    const srv = await rawServer(t, (sock, req) => {
      if (req.index === 1) sock.end();
      else sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${req.body.length}\r\n\r\n${req.body.toString('latin1')}`);
    });
    const pool = newPool(t, srv.origin, { connections: 1 });
    const post = (body: string): Partial<RequestOptions> => ({ method: 'POST', path: '/p', body });
    await request(pool, post('a'));
    const calls = [request(pool, post('b')), request(pool, post('c')), request(pool, post('d'))];
    assert.deepEqual((await Promise.all(calls)).map((r) => r.body), ['b', 'c', 'd']);
    assert.equal(srv.connections, 2, 'one new connection, not one for the retry and one for the queue');
    assert.equal(pool.size, 1);
    assert.deepEqual(srv.requests.map((r) => r.body.toString()), ['a', 'b', 'b', 'c', 'd']);
  });

  test('no second try when the answer had begun, when the connection was new, or when it already was the second try', async (t) => {
    let mode: 'partial' | 'close' = 'partial';
    const srv = await rawServer(t, (sock, req) => {
      if (req.index === 0 || req.index === 3) sock.write(OK);
      else if (mode === 'partial') sock.end('HTTP/1.1 200 OK\r\ncontent-le');
      else sock.end();
    });
    const pool = newPool(t, srv.origin);
    await request(pool);
    // Part of a head came back: the server read the request, so it is not sent again.
    await rejectsWithCode(request(pool), 'UPSTREAM_CLOSED');
    assert.equal(srv.requests.length, 2);
    // A new connection closed at once: no keep-alive race, nothing sent again.
    mode = 'close';
    await rejectsWithCode(request(pool), 'UPSTREAM_CLOSED');
    assert.equal(srv.requests.length, 3);
    // Reused (after the OK of request 3), closed, and closed again on the new connection.
    await request(pool);
    await rejectsWithCode(request(pool), 'UPSTREAM_CLOSED');
    assert.equal(srv.requests.length, 6);
    assert.equal(srv.connections, 4);
  });
});

describe('ClientPool: response framing', () => {
  test('content-length body, fed one byte at a time, is byte-exact', async (t) => {
    const body = Buffer.from('héllo ✓ — a body split into single bytes, multi-byte characters included', 'utf8');
    const srv = await rawServer(t, (sock) => {
      void dribble(sock, Buffer.concat([latin1(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    });
    const pool = newPool(t, srv.origin);
    const res = await request(pool);
    assert.equal(res.status, 200);
    assert.deepEqual(res.bytes, body);
    assert.ok(res.dataEvents > 1, `the body came in pieces (${res.dataEvents})`);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    // The response ended exactly at its length: the connection is reused.
    await request(pool);
    assert.equal(srv.connections, 1);
  });

  test('chunked body with many chunks, extensions and trailers, in one write and byte by byte', async (t) => {
    /** A chunked response of `n` chunks of varied sizes (hex in both cases), some with extensions, then trailers. */
    const build = (n: number): { wire: Buffer; body: Buffer } => {
      const wire: Buffer[] = [latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n')];
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const part = Buffer.from(`[${i}:${'é'.repeat(i % 7)}${'x'.repeat(i % 23)}]`, 'utf8');
        parts.push(part);
        const ext = i % 5 === 0 ? ';foo=bar' : i % 5 === 1 ? ';name="quoted value";flag' : '';
        const size = i % 2 ? part.length.toString(16).toUpperCase() : part.length.toString(16);
        wire.push(latin1(`${size}${ext}\r\n`), part, latin1('\r\n'));
      }
      wire.push(latin1('0;last=1\r\nx-checksum: abc\r\nx-other: 1\r\n\r\n'));
      return { wire: Buffer.concat(wire), body: Buffer.concat(parts) };
    };
    const big = build(60);
    const small = build(8);
    let slow = false;
    const srv = await rawServer(t, (sock) => {
      if (slow) void dribble(sock, small.wire);
      else sock.write(big.wire);
    });
    const pool = newPool(t, srv.origin);
    assert.deepEqual((await request(pool)).bytes, big.body);
    slow = true;
    const res = await request(pool);
    assert.deepEqual(res.bytes, small.body);
    assert.ok(res.dataEvents > 8, `the body came in many pieces (${res.dataEvents})`);
    // After the trailers the connection is clean and reused.
    slow = false;
    assert.deepEqual((await request(pool)).bytes, big.body);
    assert.equal(srv.connections, 1);
  });

  test('a body delimited by the connection close is complete, and the connection is not reused', async (t) => {
    const body = Buffer.from('until the end ✓ '.repeat(200), 'utf8');
    let n = 0;
    const srv = await rawServer(t, (sock) => {
      if (n++ === 0) {
        sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
        sock.write(body.subarray(0, 1000));
        setTimeout(() => sock.end(body.subarray(1000)), 20);
      } else sock.write(OK);
    });
    const pool = newPool(t, srv.origin);
    const res = await request(pool);
    assert.deepEqual(res.bytes, body);
    assert.equal(pool.size, 0);
    assert.equal((await request(pool)).body, 'ok');
    assert.equal(srv.connections, 2);
  });

  test('204 has no body, and the connection is reused', async (t) => {
    const srv = await rawServer(t, (sock, req) => sock.write(req.index === 0 ? 'HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n' : OK));
    const pool = newPool(t, srv.origin);
    const res = await request(pool);
    assert.equal(res.status, 204);
    assert.equal(res.bytes.length, 0);
    assert.equal((await request(pool)).body, 'ok');
    assert.equal(srv.connections, 1);
  });

  test('100 Continue and 103 Early Hints before the 200: the handler sees only the 200', async (t) => {
    const wire = latin1(
      'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nx-final: yes\r\nContent-Length: 5\r\n\r\nhello',
    );
    let slow = false;
    const srv = await rawServer(t, (sock) => {
      if (slow) void dribble(sock, wire);
      else sock.write(wire);
    });
    const pool = newPool(t, srv.origin);
    for (const s of [false, true]) {
      slow = s;
      const rec = new Recorder();
      pool.dispatch(GET(), rec);
      await rec.done;
      assert.deepEqual(rec.events.filter((e) => e[0] === 'start'), [['start', 200]], `slow=${s}`);
      assert.equal(rec.body().toString(), 'hello');
      assert.equal(rec.kinds().at(-1), 'end');
    }
    assert.equal(srv.connections, 1);
  });

  test('HTTP/1.0 response without keep-alive is not reused', async (t) => {
    await assertNotReused(t, 'HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });
});

describe('ClientPool: malformed responses', () => {
  const bigHead = 'HTTP/1.1 200 OK\r\n' + Array.from({ length: 80 }, (_, i) => `x-filler-${i}: ${'a'.repeat(1000)}\r\n`).join('') + 'content-length: 2\r\n\r\nok';
  const cases: Record<string, string> = {
    'garbage status line': 'HTXP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
    'four-digit status code': 'HTTP/1.1 2000 OK\r\ncontent-length: 2\r\n\r\nok',
    'header line without a colon': 'HTTP/1.1 200 OK\r\nno-colon-here\r\ncontent-length: 2\r\n\r\nok',
    'header name with a space': 'HTTP/1.1 200 OK\r\nbad name: x\r\ncontent-length: 2\r\n\r\nok',
    'space before the colon': 'HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok',
    'obsolete line folding': 'HTTP/1.1 200 OK\r\nx-a: 1\r\n folded\r\ncontent-length: 2\r\n\r\nok',
    'transfer-encoding and content-length': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    'conflicting content-length': 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok',
    'invalid content-length': 'HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok',
    'transfer-encoding gzip, chunked': 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    'bad chunk size zz': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n',
    'chunk data not followed by CRLF': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n',
    'response head larger than 64 KiB': bigHead,
    'bare LF ending the status line': 'HTTP/1.1 200 OK\ncontent-length: 2\r\n\r\nok',
    'bare LF ending a header line': 'HTTP/1.1 200 OK\r\nx-a: 1\ncontent-length: 2\r\n\r\nok',
    'bare CR in a header value': 'HTTP/1.1 200 OK\r\nx-a: 1\r2\r\ncontent-length: 2\r\n\r\nok',
    'NUL in a header value': 'HTTP/1.1 200 OK\r\nx-a: a\0b\r\ncontent-length: 2\r\n\r\nok',
    '101 Switching Protocols': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
  };

  test('each fails with UPSTREAM_BAD_RESPONSE, closes its connection, and the next request works on a new one', async (t) => {
    let bad: string | null = null;
    const srv = await rawServer(t, (sock) => {
      // The server keeps the connection open: the error must come from the parse.
      if (bad !== null) sock.write(latin1(bad));
      else sock.write(OK);
    });
    const pool = newPool(t, srv.origin, { timeoutMs: 1_500 });
    for (const [name, wire] of Object.entries(cases)) {
      bad = wire;
      const rec = new Recorder();
      pool.dispatch(GET(), rec);
      await rec.done;
      const errors = rec.errors();
      assert.equal(errors.length, 1, `${name}: one error (${rec.kinds().join(',')})`);
      assert.equal((errors[0] as Error & { code?: string }).code, 'UPSTREAM_BAD_RESPONSE', `${name}: ${errors[0]!.message}`);
      assert.ok(!rec.kinds().includes('end'), name);
      assert.equal(pool.size, 0, `${name}: the connection is closed`);
      const before = srv.connections;
      bad = null;
      assert.equal((await request(pool)).body, 'ok', name);
      assert.equal(srv.connections, before + 1, `${name}: the next request opened a new connection`);
    }
    await waitFor(() => srv.closed === Object.keys(cases).length, 'the server to see every bad connection closed');
  });

  test('a head ended by bare LFs only fails as a bad response, not as a timeout', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write('HTTP/1.1 200 OK\ncontent-length: 2\n\nok'));
    const pool = newPool(t, srv.origin, { timeoutMs: 300 });
    await rejectsWithCode(request(pool), 'UPSTREAM_BAD_RESPONSE');
  });

  test('extra bytes after a complete response: the response is delivered, the connection is not reused', async (t) => {
    let mode: 'same-write' | 'later' | 'ok' = 'same-write';
    const srv = await rawServer(t, (sock) => {
      if (mode === 'same-write') sock.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloJUNK AFTER THE BODY');
      else if (mode === 'later') {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
        setTimeout(() => sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno'), 20);
      } else sock.write(OK);
    });
    const pool = newPool(t, srv.origin);
    assert.equal((await request(pool)).body, 'hello');
    assert.equal(pool.size, 0);
    mode = 'later';
    // An unsolicited response arriving on an idle connection closes it.
    assert.equal((await request(pool)).body, 'hello');
    assert.equal(srv.connections, 2);
    await waitFor(() => pool.size === 0, 'the idle connection with stray bytes to be closed');
    mode = 'ok';
    assert.equal((await request(pool)).body, 'ok');
    assert.equal(srv.connections, 3);
  });

  test('chunked trailers followed by extra bytes: not reused', async (t) => {
    await assertNotReused(t, 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n');
  });
});

describe('ClientPool: transport failures', () => {
  for (const [how, code] of [['closes', 'UPSTREAM_CLOSED'], ['resets', 'ECONNRESET']] as const) {
    test(`the server ${how} the connection in the middle of a content-length body: ${code} after onResponseStart`, async (t) => {
      const srv = await rawServer(t, (sock) => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789');
        setTimeout(() => (how === 'closes' ? sock.end() : sock.resetAndDestroy()), 20);
      });
      const pool = newPool(t, srv.origin);
      const rec = new Recorder();
      pool.dispatch(GET(), rec);
      await rec.done;
      assert.deepEqual(rec.kinds(), ['start', 'data', 'error']);
      assert.equal(rec.body().toString(), '0123456789');
      assert.equal((rec.errors()[0] as Error & { code?: string }).code, code);
      assert.equal(pool.size, 0);
    });
  }

  test('the server closes in the middle of a chunked body: UPSTREAM_CLOSED', async (t) => {
    const srv = await rawServer(t, (sock) => sock.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel'));
    const pool = newPool(t, srv.origin);
    await rejectsWithCode(request(pool), 'UPSTREAM_CLOSED');
  });

  test('the server closes before any byte: UPSTREAM_CLOSED; and in the middle of the head', async (t) => {
    let partial = false;
    const srv = await rawServer(t, (sock) => sock.end(partial ? 'HTTP/1.1 200 OK\r\ncontent-le' : ''));
    const pool = newPool(t, srv.origin);
    const rec = new Recorder();
    pool.dispatch(GET(), rec);
    await rec.done;
    assert.deepEqual(rec.kinds(), ['error']);
    assert.equal((rec.errors()[0] as Error & { code?: string }).code, 'UPSTREAM_CLOSED');
    partial = true;
    await rejectsWithCode(request(pool), 'UPSTREAM_CLOSED');
    assert.equal(srv.requests.length, 2);
  });


  test('connection refused: ECONNREFUSED, and queued calls fail too', async (t) => {
    const pool = newPool(t, `http://127.0.0.1:${CLOSED_PORT}`, { connections: 1 });
    const calls = [request(pool), request(pool), request(pool)];
    for (const c of calls) await rejectsWithCode(c, 'ECONNREFUSED');
    assert.equal(pool.size, 0);
  });

  test('headers timeout: a server that never answers → UPSTREAM_HEADERS_TIMEOUT', async (t) => {
    const srv = await rawServer(t, () => {});
    const pool = newPool(t, srv.origin, { timeoutMs: 200 });
    const t0 = performance.now();
    await rejectsWithCode(request(pool), 'UPSTREAM_HEADERS_TIMEOUT');
    const ms = performance.now() - t0;
    assert.ok(ms >= 180 && ms < 1_500, `timed out after ${Math.round(ms)} ms`);
    await waitFor(() => srv.closed === 1, 'the server to see the connection closed');
  });

  test('body timeout: head and part of the body, then silence → UPSTREAM_BODY_TIMEOUT', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart of it'));
    const pool = newPool(t, srv.origin, { timeoutMs: 200 });
    const rec = new Recorder();
    const t0 = performance.now();
    pool.dispatch(GET(), rec);
    await rec.done;
    const ms = performance.now() - t0;
    assert.deepEqual(rec.kinds(), ['start', 'data', 'error']);
    assert.equal((rec.errors()[0] as Error & { code?: string }).code, 'UPSTREAM_BODY_TIMEOUT');
    assert.ok(ms >= 180 && ms < 1_500, `timed out after ${Math.round(ms)} ms`);
  });

  test('a body that keeps trickling in more slowly than timeoutMs in total does not time out', async (t) => {
    const srv = await rawServer(t, (sock) => {
      sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      let i = 0;
      const iv = setInterval(() => {
        if (sock.destroyed) return clearInterval(iv);
        if (i === 8) {
          clearInterval(iv);
          sock.write('0\r\n\r\n');
        } else sock.write(`1\r\n${i++}\r\n`);
      }, 60);
    });
    const pool = newPool(t, srv.origin, { timeoutMs: 200 });
    assert.equal((await request(pool)).body, '01234567');
  });

  test('TLS handshake that never completes → UPSTREAM_CONNECT_TIMEOUT', async (t) => {
    const srv = await rawServer(t, () => {}); // accepts TCP, never speaks TLS
    const pool = newPool(t, `https://127.0.0.1:${srv.port}`, { connectTimeoutMs: 200, timeoutMs: 5_000 });
    const t0 = performance.now();
    await rejectsWithCode(request(pool), 'UPSTREAM_CONNECT_TIMEOUT');
    assert.ok(performance.now() - t0 < 1_500);
  });
});

describe('ClientPool: abort, backpressure, validation', () => {
  test('abort() before the response: the error is the reason, and the server sees its socket close', async (t) => {
    const srv = await rawServer(t, () => {});
    const pool = newPool(t, srv.origin);
    const rec = new Recorder();
    pool.dispatch(GET(), rec);
    await waitFor(() => srv.requests.length === 1, 'the request to arrive');
    const reason = new Error('client went away');
    rec.controller!.abort(reason);
    assert.deepEqual(rec.kinds(), ['error']);
    assert.equal(rec.errors()[0], reason);
    assert.equal(pool.size, 0);
    await waitFor(() => srv.closed === 1, 'the server to see the socket close');
    rec.controller!.abort(new Error('again'));
    assert.equal(rec.events.length, 1, 'a second abort does nothing');
  });

  test('abort() in the middle of a streamed body: one error with the reason, no data after it', async (t) => {
    let serverClosed = false;
    const srv = await httpServer(t, (_req, res) => {
      let i = 0;
      res.writeHead(200, { 'content-type': 'text/plain' });
      const iv = setInterval(() => res.write(`chunk ${i++}\n`), 10);
      res.on('close', () => {
        clearInterval(iv);
        serverClosed = true;
      });
    });
    const pool = newPool(t, srv.origin);
    const reason = new Error('stop');
    const rec = new Recorder({ data: (c, n) => n === 3 && c.abort(reason) });
    pool.dispatch(GET(), rec);
    await rec.done;
    await sleep(80);
    assert.deepEqual(rec.kinds(), ['start', 'data', 'data', 'data', 'error']);
    assert.equal(rec.errors()[0], reason);
    assert.equal(pool.size, 0);
    await waitFor(() => serverClosed, 'the server to see the response closed');
  });

  for (const where of ['start', 'data'] as const) {
    test(`abort() in ${where === 'start' ? 'onResponseStart' : 'the last onResponseData of a content-length body'}: one error, no end`, async (t) => {
      const srv = await rawServer(t, (sock) => sock.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'));
      const pool = newPool(t, srv.origin);
      const reason = new Error('not interested');
      const rec = new Recorder({ [where]: (c: CallController) => c.abort(reason) });
      pool.dispatch(GET(), rec);
      await rec.done;
      await sleep(20);
      assert.deepEqual(rec.kinds(), where === 'start' ? ['start', 'error'] : ['start', 'data', 'error']);
      assert.equal(rec.errors()[0], reason);
      assert.equal(pool.size, 0);
    });
  }

  test('abort() of a call waiting in the queue: it never reaches the server', async (t) => {
    const held: net.Socket[] = [];
    const srv = await rawServer(t, (sock, req) => {
      if (req.index === 0) held.push(sock);
      else sock.write(OK);
    });
    const pool = newPool(t, srv.origin, { connections: 1 });
    const first = request(pool, GET('/first'));
    await waitFor(() => srv.requests.length === 1, 'the first request');
    const rec = new Recorder();
    pool.dispatch(GET('/queued'), rec);
    const reason = new Error('gave up waiting');
    rec.controller!.abort(reason);
    assert.deepEqual(rec.kinds(), ['error']);
    assert.equal(rec.errors()[0], reason);
    held[0]!.write(OK);
    assert.equal((await first).body, 'ok');
    await sleep(30);
    assert.deepEqual(srv.requests.map((r) => r.head.split(' ')[1]), ['/first'], 'the aborted call was never sent');
    assert.equal((await request(pool, GET('/third'))).body, 'ok');
    assert.deepEqual(srv.requests.map((r) => r.head.split(' ')[1]), ['/first', '/third']);
    assert.equal(srv.connections, 1);
  });

  test('abort() in onRequestStart: the call fails at once and nothing is sent', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin);
    const reason = new Error('already cancelled');
    const rec = new Recorder();
    rec.onRequestStart = (c) => c.abort(reason);
    pool.dispatch(GET(), rec);
    assert.deepEqual(rec.kinds(), ['error']);
    assert.equal(rec.errors()[0], reason);
    await sleep(30);
    assert.equal(srv.connections, 0);
  });

  test('abort() after onResponseEnd is a no-op and the connection stays reusable', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin);
    const rec = new Recorder({ end: (c) => c.abort(new Error('inside onResponseEnd')) });
    pool.dispatch(GET(), rec);
    await rec.done;
    rec.controller!.abort(new Error('after the end'));
    await sleep(20);
    assert.deepEqual(rec.kinds(), ['start', 'data', 'end']);
    assert.equal(pool.size, 1);
    await request(pool);
    assert.equal(srv.connections, 1);
  });

  test('pause() stops onResponseData while the server keeps writing; resume() delivers the rest byte-exact', async (t) => {
    const N = 30;
    const piece = (i: number) => Buffer.from(`${String(i).padStart(3, '0')}:${'é✓'.repeat(100)}|`, 'utf8');
    const expected = Buffer.concat(Array.from({ length: N }, (_, i) => piece(i)));
    let written = 0;
    const srv = await httpServer(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(expected.length) });
      const iv = setInterval(() => {
        res.write(piece(written++));
        if (written === N) {
          clearInterval(iv);
          res.end();
        }
      }, 4);
      res.on('close', () => clearInterval(iv));
    });
    const pool = newPool(t, srv.origin);
    let paused = false;
    let pauseSettled = false;
    let writtenAtPause = 0;
    let writtenAtResume = 0;
    let resumedAt = 0;
    const violations: number[] = [];
    const dataTimes: number[] = [];
    const rec = new Recorder({
      data: (c, n) => {
        dataTimes.push(performance.now());
        if (paused && pauseSettled) violations.push(n);
        if (n === 1) {
          paused = true;
          writtenAtPause = written;
          c.pause();
          // Pieces already read in this same tick may still arrive; nothing after it may.
          setImmediate(() => (pauseSettled = true));
          setTimeout(() => {
            writtenAtResume = written;
            paused = false;
            resumedAt = performance.now();
            c.resume();
          }, 120);
        }
      },
    });
    pool.dispatch(GET(), rec);
    await rec.done;
    assert.deepEqual(violations, [], 'no onResponseData while paused');
    assert.ok(writtenAtResume > writtenAtPause + 5, `the server kept writing during the pause (${writtenAtPause} → ${writtenAtResume})`);
    assert.ok(dataTimes.length > 2);
    assert.ok(dataTimes.filter((x) => x >= resumedAt).length > 0, 'data came after resume()');
    assert.equal(rec.kinds().at(-1), 'end');
    assert.deepEqual(rec.body(), expected);
    assert.equal(pool.size, 1);
  });

  test('a call paused for longer than timeoutMs, with its response already sent, completes after resume()', async (t) => {
    const srv = await rawServer(t, (sock) => {
      sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      setTimeout(() => sock.write('6\r\nsecond\r\n0\r\n\r\n'), 30);
    });
    const pool = newPool(t, srv.origin, { timeoutMs: 200 });
    const rec = new Recorder({
      data: (c, n) => {
        if (n === 1) {
          c.pause();
          setTimeout(() => c.resume(), 500);
        }
      },
    });
    pool.dispatch(GET(), rec);
    await rec.done;
    assert.deepEqual(rec.errors().map((e) => (e as Error & { code?: string }).code), []);
    assert.equal(rec.body().toString(), 'firstsecond');
  });

  test('invalid request headers, paths and methods fail with UPSTREAM_INVALID_REQUEST before anything is sent', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin);
    const secret = 'sk-secret-credential-42';
    const bad: [string, Partial<RequestOptions>][] = [
      ['CRLF in a value', { headers: { authorization: `Bearer ${secret}\r\nx-injected: 1` } }],
      ['bare LF in a value', { headers: { authorization: `Bearer ${secret}\nx-injected: 1` } }],
      ['NUL in a value', { headers: { authorization: `Bearer ${secret}\0` } }],
      ['space in a name', { headers: { 'x bad': secret } }],
      ['colon in a name', { headers: { 'x-bad:': secret } }],
      ['space in the path', { path: `/a b?key=${secret}` }],
      ['CRLF in the path', { path: `/a\r\nx-injected: ${secret}` }],
      ['path without a leading slash', { path: `http://evil.example/${secret}` }],
      ['space in the method', { method: 'GET /x' }],
    ];
    for (const [name, opts] of bad) {
      const err = await rejectsWithCode(request(pool, opts), 'UPSTREAM_INVALID_REQUEST', name);
      assert.ok(!err.message.includes(secret), `${name}: the message must not carry the value: ${err.message}`);
      assert.ok(!err.message.includes('injected'), `${name}: ${err.message}`);
    }
    await sleep(30);
    assert.equal(srv.connections, 0, 'nothing reached the server');
    assert.equal(pool.size, 0);
    // The pool still works.
    assert.equal((await request(pool)).body, 'ok');
  });

  test('response headers: duplicates, case, get() and all()', async (t) => {
    const srv = await rawServer(t, (sock) =>
      sock.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1; Path=/\r\nX-Multi: one\r\nset-cookie: b=2\r\nx-multi: two\r\nX-Spaces:   padded value \t\r\nContent-Length: 2\r\n\r\n{}',
      ),
    );
    const pool = newPool(t, srv.origin);
    const { headers, body } = await request(pool);
    assert.equal(body, '{}');
    assert.deepEqual(headers.all('set-cookie'), ['a=1; Path=/', 'b=2']);
    assert.equal(headers.get('content-type'), 'application/json');
    assert.equal(headers.get('x-multi'), 'one, two');
    assert.equal(headers.get('x-spaces'), 'padded value');
    assert.equal(headers.get('x-missing'), undefined);
    assert.deepEqual(headers.all('x-missing'), []);
    assert.deepEqual(headers.raw.slice(0, 4), ['Content-Type', 'application/json', 'Set-Cookie', 'a=1; Path=/']);
  });
});

describe('ClientPool: close and destroy', () => {
  test('close() waits for the call in flight, fails queued calls, then resolves; dispatch afterwards fails', async (t) => {
    const srv = await httpServer(t, (req, res) => setTimeout(() => res.end(`slow ${req.url}`), 100));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const order: string[] = [];
    const inFlight = request(pool, GET('/a')).then((r) => {
      order.push('call');
      return r;
    });
    const queued = request(pool, GET('/b'));
    await waitFor(() => srv.connections === 1, 'the connection');
    const closed = pool.close().then(() => order.push('close'));
    await rejectsWithCode(queued, 'UPSTREAM_POOL_CLOSED');
    assert.equal((await inFlight).body, 'slow /a');
    await closed;
    assert.deepEqual(order, ['call', 'close']);
    assert.equal(pool.size, 0);
    await rejectsWithCode(request(pool), 'UPSTREAM_POOL_CLOSED');
    await pool.close();
  });

  test('close() called twice while a call is in flight: both promises resolve', async (t) => {
    const srv = await httpServer(t, (_req, res) => setTimeout(() => res.end('x'), 50));
    const pool = newPool(t, srv.origin);
    const call = request(pool);
    await waitFor(() => srv.connections === 1, 'the connection');
    const first = pool.close();
    const second = pool.close();
    await call;
    const settled = (p: Promise<void>) => Promise.race([p.then(() => true), sleep(500).then(() => false)]);
    assert.deepEqual([await settled(first), await settled(second)], [true, true]);
  });

  test('close() with only idle connections resolves at once and closes them', async (t) => {
    const srv = await rawServer(t, (sock) => sock.write(OK));
    const pool = newPool(t, srv.origin);
    await Promise.all([request(pool), request(pool), request(pool)]);
    assert.equal(pool.size, 3);
    await pool.close();
    assert.equal(pool.size, 0);
    await waitFor(() => srv.closed === 3, 'the server to see all three close');
  });

  test('destroy() fails a call in flight and a queued one with UPSTREAM_POOL_CLOSED', async (t) => {
    const srv = await rawServer(t, () => {});
    const pool = newPool(t, srv.origin, { connections: 1 });
    const inFlight = request(pool);
    const queued = request(pool);
    await waitFor(() => srv.requests.length === 1, 'the request');
    pool.destroy();
    await rejectsWithCode(inFlight, 'UPSTREAM_POOL_CLOSED');
    await rejectsWithCode(queued, 'UPSTREAM_POOL_CLOSED');
    assert.equal(pool.size, 0);
    await waitFor(() => srv.closed === 1, 'the server to see the socket close');
    await rejectsWithCode(request(pool), 'UPSTREAM_POOL_CLOSED');
  });
});

describe('ClientPool: https', () => {
  let dir = '';
  let key: Buffer;
  let cert: Buffer;
  let otherCert: Buffer;
  let server: https.Server;
  let port = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-pool-tls-'));
    const openssl = (args: string[]) => {
      try {
        execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
        if (e.code === 'ENOENT') throw new Error('the openssl CLI is needed to generate a test certificate and was not found on PATH');
        throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
      }
    };
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
    // The same key, certified for another name only.
    openssl(['req', '-x509', '-key', 'key.pem', '-out', 'other.pem', '-days', '1', '-subj', '/CN=other.example', '-addext', 'subjectAltName=DNS:other.example']);
    key = readFileSync(join(dir, 'key.pem'));
    cert = readFileSync(join(dir, 'cert.pem'));
    otherCert = readFileSync(join(dir, 'other.pem'));
    server = https.createServer({ key, cert }, (req, res) => res.end(`secure ${req.url} via ${req.headers.host}`));
    port = await listen(server);
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('with the certificate as ca, requests to https://localhost succeed and reuse the connection', async (t) => {
    const pool = newPool(t, `https://localhost:${port}`, { tls: { ca: cert } });
    assert.equal((await request(pool, GET('/one'))).body, `secure /one via localhost:${port}`);
    assert.equal((await request(pool, GET('/two'))).body, `secure /two via localhost:${port}`);
    assert.equal(pool.size, 1);
    const byIp = newPool(t, `https://127.0.0.1:${port}`, { tls: { ca: cert } });
    assert.equal((await request(byIp, GET('/ip'))).body, `secure /ip via 127.0.0.1:${port}`);
  });

  test('a new connection resumes the TLS session of an earlier one', async (t) => {
    const reused: boolean[] = [];
    const resuming = https.createServer({ key, cert }, (req, res) => {
      reused.push((req.socket as import('node:tls').TLSSocket).isSessionReused());
      res.end('ok');
    });
    const resumingPort = await listen(resuming);
    t.after(() => {
      resuming.closeAllConnections();
      return new Promise<void>((resolve) => resuming.close(() => resolve()));
    });
    const pool = newPool(t, `https://localhost:${resumingPort}`, { tls: { ca: cert } });
    await request(pool, GET('/first'));
    // Two at once: one goes to the idle connection, the other needs a new one.
    await Promise.all([request(pool, GET('/a')), request(pool, GET('/b'))]);
    assert.equal(pool.size, 2);
    assert.deepEqual(reused.slice(0, 1), [false], 'the first connection makes a full handshake');
    assert.ok(reused.slice(1).includes(true), `the second connection resumed the session (reused: ${reused.join(', ')})`);
  });

  test('without the ca the certificate is rejected (verification is on)', async (t) => {
    const pool = newPool(t, `https://localhost:${port}`);
    const err = await request(pool).then(
      () => assert.fail('a self-signed certificate was accepted'),
      (e: Error & { code?: string }) => e,
    );
    assert.match(String(err.code), /SELF_SIGNED|UNABLE_TO_VERIFY/, String(err));
    assert.equal(pool.size, 0);
  });

  test('a trusted certificate for another name is rejected (the host name is checked)', async (t) => {
    const other = https.createServer({ key, cert: otherCert }, (_req, res) => res.end('should not get here'));
    const otherPort = await listen(other);
    t.after(() => {
      other.closeAllConnections();
      return new Promise<void>((resolve) => other.close(() => resolve()));
    });
    const pool = newPool(t, `https://localhost:${otherPort}`, { tls: { ca: otherCert } });
    const err = await request(pool).then(
      () => assert.fail('a certificate for other.example was accepted for localhost'),
      (e: Error & { code?: string }) => e,
    );
    assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID', String(err));
  });
});
