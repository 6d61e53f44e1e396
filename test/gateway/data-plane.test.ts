import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import net from 'node:net';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, post } from '../helpers/http.ts';

// The data plane's POST endpoints are served by node:http directly, ahead of Fastify
// (src/gateway/data-plane.ts): URL matching, body reading and its limits, the stream's
// headers and backpressure are Tollgate's own code there, so they are tested here.

const CHAT = { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] };
const tooLarge = { status: 413, type: 'invalid_request_error', code: 'request_too_large', param: null };

/** A POST whose body is sent in chunks, with no Content-Length. */
function postChunked(url: string, key: string, parts: string[]): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    // The gateway may answer and close before the whole body is sent.
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === parts.length) return void req.end();
      req.write(parts[i++], () => setImmediate(next));
    };
    next();
  });
}

/**
 * Streams 16 MB of frames, pausing `pauseMs` after the first chunk: more than the
 * loopback socket buffers hold, so while the client reads nothing the gateway's writes
 * back up and it must pause the upstream. The text must arrive whole.
 */
async function readLongStreamSlowly(up: FakeOpenAI, tg: TestGateway, key: string, pauseMs: number): Promise<void> {
  const words = Array.from({ length: 4_000 }, (_, i) => `w${i}${'.'.repeat(4_000)}`);
  up.behave({ text: words.join(' ') });
  try {
    const client = new OpenAI({ apiKey: key, baseURL: `${tg.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ ...CHAT, messages: [{ role: 'user', content: 'long' }], stream: true } as const);
    let text = '';
    let n = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (++n === 1) await new Promise((r) => setTimeout(r, pauseMs));
    }
    assert.equal(text.length, words.join(' ').length);
    assert.equal(text, words.join(' '));
  } finally {
    up.behave({});
  }
}

describe('data plane on node:http', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), max_body_bytes: 4096 } });
    ({ key } = await tg.customer({ creditUsd: '10' }));
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  test('a trailing slash and a query string reach the same endpoints', async () => {
    for (const path of ['/v1/chat/completions/', '/v1/chat/completions?x=1', '/api/v1/chat/completions/?x=1']) {
      const r = await post(`${tg.url}${path}`, CHAT, { key });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(JSON.parse(r.text).object, 'chat.completion');
      assert.match(r.headers.get('x-request-id') ?? '', /^req_/);
    }
    const e = await post(`${tg.url}/api/v1/embeddings/`, { model: 'embed-small', input: 'hello' }, { key });
    assert.equal(e.status, 200, e.text);
    assert.equal(JSON.parse(e.text).object, 'list');
  });

  test('a known path asked with another method is a 405 naming the methods it takes; an unknown path is a 404', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/chat/completions', 'POST'],
      ['GET', '/api/v1/embeddings/?x=1', 'POST'],
      ['POST', '/v1/models', 'GET, HEAD'],
      ['DELETE', '/api/v1/models/deepseek-v4-flash', 'GET, HEAD'],
      ['PUT', '/admin/v1/accounts/acct_x/keys', 'GET, HEAD, POST'],
      ['GET', '/admin/v1/keys/key_x', 'DELETE, PATCH'],
      ['POST', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await fetch(`${tg.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
      const text = await r.text();
      const e = expectError({ status: r.status, headers: r.headers, text }, { status: 405, type: 'invalid_request_error', code: 'method_not_allowed', param: null });
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(e.message, `${path.split('?')[0]} does not take ${method}; it takes ${allow}.`);
    }
    for (const [method, path] of [['POST', '/v1/chat/completion'], ['GET', '/v1/nothing'], ['GET', '/admin/v1/accounts/a/b/c']] as const) {
      const r = await fetch(`${tg.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify(CHAT) : undefined });
      const text = await r.text();
      expectError({ status: r.status, headers: r.headers, text }, { status: 404, type: 'invalid_request_error', code: 'not_found', param: null });
      assert.equal(r.headers.get('allow'), null);
    }
  });

  test('a body over max_body_bytes sent without Content-Length is refused with 413 while it arrives', async () => {
    const n = up.requests.length;
    const parts = [`{"model":"deepseek-v4-flash","messages":[{"role":"user","content":"`, ...Array.from({ length: 10 }, () => 'x'.repeat(1000)), `"}]}`];
    const r = await postChunked(`${tg.url}/v1/chat/completions`, key, parts).catch((err: Error) => err);
    // The gateway answers as soon as the limit is passed; the client may see the answer
    // or, if it was still writing, the connection closing under it. Never a 200.
    if (r instanceof Error) assert.match(r.message, /EPIPE|ECONNRESET|socket hang up/);
    else {
      assert.equal(r.status, 413, r.text);
      const body = JSON.parse(r.text);
      assert.equal(body.error.code, 'request_too_large');
      assert.equal(body.error.request_id, r.headers['x-request-id']);
    }
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
    // The gateway is fine afterwards.
    assert.equal((await post(`${tg.url}/v1/chat/completions`, CHAT, { key })).status, 200);
  });

  test('a body over max_body_bytes with Content-Length is refused before it is read', async () => {
    const r = await post(`${tg.url}/v1/chat/completions`, { ...CHAT, pad: 'y'.repeat(5000) }, { key });
    expectError(r, tooLarge);
    assert.equal(r.headers.get('connection'), 'close');
  });

  test('a chunked body under the limit is read whole', async () => {
    const body = JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: 'split across chunks' }] });
    const parts = [body.slice(0, 10), body.slice(10, 30), body.slice(30)];
    const r = await postChunked(`${tg.url}/v1/chat/completions`, key, parts);
    assert.equal(r.status, 200, r.text);
    assert.equal(up.requests.at(-1)!.body.messages[0].content, 'split across chunks');
  });

  test('a stream\'s headers reach the client at once even when the first frame is late', async () => {
    up.behave({ firstFrameDelayMs: 800, text: 'late but whole' });
    try {
      const t0 = performance.now();
      const res = await fetch(`${tg.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...CHAT, stream: true }),
      });
      const headersAfter = performance.now() - t0;
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.ok(headersAfter < 500, `headers took ${headersAfter.toFixed(0)} ms; the first frame is 800 ms away`);
      const text = await res.text();
      assert.ok(performance.now() - t0 >= 750, 'the frames really were late');
      const content = text
        .split('\n\n')
        .filter((f) => f.startsWith('data: {'))
        .map((f) => JSON.parse(f.slice(6)).choices[0]?.delta?.content ?? '')
        .join('');
      assert.equal(content, 'late but whole');
      assert.ok(text.endsWith('data: [DONE]\n\n'));
    } finally {
      up.behave({});
    }
  });

  const streamOnce = async () => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...CHAT, stream: true }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'));
  };

  test('streams one after another reuse one upstream connection', async () => {
    const before = { ...up.connections };
    for (let i = 0; i < 5; i++) await streamOnce();
    // Draining the rest of each body after [DONE] hands its connection back to the pool.
    assert.equal(up.connections.closed, before.closed, 'no upstream connection was closed');
    assert.ok(up.connections.opened - before.opened <= 1, `${up.connections.opened - before.opened} new upstream connections for 5 streams`);
  });

  test('an upstream that lingers after [DONE] does not hold the client, and its connection is dropped after a grace period', async () => {
    up.behave({ lingerAfterDoneMs: 5000 });
    try {
      const closedBefore = up.connections.closed;
      const t0 = performance.now();
      await streamOnce();
      assert.ok(performance.now() - t0 < 1000, 'the client had its whole answer at [DONE]');
      for (let i = 0; i < 40 && up.connections.closed === closedBefore; i++) await new Promise((r) => setTimeout(r, 50));
      const after = performance.now() - t0;
      assert.equal(up.connections.closed, closedBefore + 1, 'the lingering connection was closed');
      assert.ok(after >= 900 && after < 2500, `closed after the ~1 s grace, not at once nor at the upstream's 5 s: ${after.toFixed(0)} ms`);
    } finally {
      up.behave({});
    }
  });

  test('a slow reader gets a long stream whole (the upstream is paused, not buffered or dropped)', async () => {
    await readLongStreamSlowly(up, tg, key, 500);
  });
});

describe('a slow reader and the upstream timeout', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  // The fake upstream builds its 16 MB of frames before it answers; under load that alone
  // once took longer than 400 ms, and the gateway rightly timed out the silence.
  const TIMEOUT_MS = 1_000;

  before(async () => {
    up = await startFakeOpenAI();
    const config = defaultConfig(up.baseUrl) as { providers: Record<string, unknown>[] };
    config.providers = config.providers.map((p) => ({ ...p, timeout_ms: TIMEOUT_MS }));
    tg = await startTestGateway({ config });
    ({ key } = await tg.customer({ creditUsd: '10' }));
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  test('an upstream paused for a client slower than timeout_ms is not timed out', async () => {
    // timeout_ms bounds the upstream's silence; while the gateway itself holds the
    // upstream back for a slow client, the upstream is not silent, it is waiting.
    await readLongStreamSlowly(up, tg, key, TIMEOUT_MS * 3);
  });
});

describe('a client that stops reading a stream', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  const SEND_TIMEOUT_MS = 400;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), send_timeout_ms: SEND_TIMEOUT_MS } });
    ({ key, accountId } = await tg.customer({ creditUsd: '10' }));
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  test('is cut after send_timeout_ms: the upstream is released and what it was sent is charged', async () => {
    // Without the cut, the paused upstream connection, its pool slot and the reservation
    // were held for as long as the client's TCP connection lived.
    up.behave({ text: Array.from({ length: 4_000 }, (_, i) => `w${i}${'.'.repeat(4_000)}`).join(' ') });
    const from = up.requests.length;
    const body = JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: 'long' }], stream: true });
    const socket = net.connect(Number(new URL(tg.url).port), '127.0.0.1');
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // Read the head for the request id, then nothing more: the kernel's buffers fill.
    const head = await new Promise<string>((resolve) => {
      let got = '';
      const onData = (c: Buffer) => {
        got += c.toString('latin1');
        if (!got.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.pause();
        resolve(got);
      };
      socket.on('data', onData);
    });
    try {
      assert.match(head, /^HTTP\/1\.1 200/);
      const id = /x-request-id: (\S+)/i.exec(head)![1]!;
      const t0 = performance.now();
      await up.waitForAbort(10_000, from);
      assert.ok(performance.now() - t0 < 8_000, 'the upstream was released');
      let rec: any;
      for (let i = 0; i < 100 && !rec; i++) {
        rec = (await tg.admin('GET', `/requests?account_id=${accountId}`)).body.data.find((x: any) => x.id === id);
        if (!rec) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(rec, 'the request was recorded');
      assert.equal(rec.status, 200);
      assert.equal(rec.error_code, 'client_send_timeout');
      assert.ok(rec.completion_tokens > 0, 'what was streamed is counted');
      assert.ok(Number(rec.cost_usd) > 0, 'and charged');
    } finally {
      socket.destroy();
      up.behave({});
    }
  });
});
