import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { assertNoLeaks, CLOSED_PORT, expectError, post, UPSTREAM_SECRET, upstreamSecrets } from '../helpers/http.ts';

// Upstream failures as the client sees them: the right status and code in OpenAI shape,
// quickly, never a 500, never a hang, and never the upstream's key, URL or port, nor
// the customer's key.

const TIMEOUT_MS = 600;

describe('upstream errors', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let forbidden: string[];

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({
      config: {
        providers: [
          // Error after error, this file's upstream would be paused by its breaker, which
          // failover.test.ts tests; here each error must reach the client as it is.
          { id: 'fake', kind: 'openai', base_url: up.baseUrl, api_key: UPSTREAM_SECRET, timeout_ms: TIMEOUT_MS, breaker: { failures: 1000, cooldown_ms: 10_000 } },
          { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${CLOSED_PORT}/v1`, api_key: UPSTREAM_SECRET },
        ],
        models: [
          { id: 'deepseek-v4-flash', owned_by: 'deepseek', upstreams: [{ provider: 'fake', model: 'upstream-flash' }], pricing: { input: '0.16', cached_input: '0.004', output: '0.30' } },
          { id: 'dead-model', upstreams: [{ provider: 'dead', model: 'whatever' }], pricing: { input: '1', output: '1' } },
          { id: 'embed-small', type: 'embedding', upstreams: [{ provider: 'fake', model: 'text-embedding-3-small' }], pricing: { input: '0.02', output: '0' } },
        ],
      },
    });
    ({ key } = await tg.customer());
    forbidden = [...upstreamSecrets(up), key, `127.0.0.1:${CLOSED_PORT}`, `:${CLOSED_PORT}/`];
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const chat = (extra: Record<string, unknown> = {}) =>
    post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], ...extra }, { key });
  const upstream502 = { status: 502, type: 'api_error', code: 'upstream_error', param: null };
  /** An upstream message that names everything that must not reach the client. */
  const nasty = () => `bad request to ${up.baseUrl}/chat/completions (host 127.0.0.1:${up.port}) with key ${UPSTREAM_SECRET}`;

  test('connection refused → 502 upstream_error', async () => {
    for (const stream of [false, true]) {
      const t0 = performance.now();
      const e = expectError(await post(`${tg.url}/v1/chat/completions`, { model: 'dead-model', stream, messages: [{ role: 'user', content: 'hi' }] }, { key }), upstream502, forbidden);
      assert.match(e.message, /connect|refused|reach/i);
      assert.ok(performance.now() - t0 < 3000);
    }
  });

  test('an upstream answering garbage → 502 upstream_error', async () => {
    up.behave({ garbage: true });
    expectError(await chat(), upstream502, forbidden);
    // A streaming request answered with a JSON content type is not a stream.
    expectError(await chat({ stream: true }), upstream502, forbidden);
    // Valid JSON that is not a chat completion.
    up.behave({ rawBody: JSON.stringify({ hello: 'world' }) });
    expectError(await chat(), upstream502, forbidden);
    up.behave({ rawBody: '' });
    assert.match(expectError(await chat(), upstream502, forbidden).message, /the body is empty/);
    up.behave({ rawBody: ' \r\n' });
    assert.match(expectError(await chat(), upstream502, forbidden).message, /the body is empty/);
    up.behave({ rawBody: JSON.stringify({ object: 'list' }) });
    expectError(await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key }), upstream502, forbidden);
  });

  test('upstream 500 (and 503) → 502 upstream_error, message scrubbed', async () => {
    for (const status of [500, 503]) {
      up.behave({ status, errorBody: { error: { message: nasty(), type: 'server_error', param: null, code: null } } });
      const e = expectError(await chat(), upstream502, forbidden);
      assert.match(e.message, new RegExp(`HTTP ${status}`));
      expectError(await chat({ stream: true }), upstream502, forbidden);
    }
  });

  test('upstream 400 is passed through as 400 in OpenAI shape with the upstream message', async () => {
    up.behave({ status: 400, errorBody: { error: { message: 'temperature must be at most 2', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
    const e = expectError(await chat({ temperature: 5 }), { status: 400, type: 'invalid_request_error', code: 'invalid_value', param: 'temperature' }, forbidden);
    assert.equal(e.message, 'temperature must be at most 2');
    // Streaming requests get the same JSON error (nothing was streamed yet).
    expectError(await chat({ temperature: 5, stream: true }), { status: 400, type: 'invalid_request_error', code: 'invalid_value', param: 'temperature' }, forbidden);
  });

  test('an upstream 400 naming the upstream key, URL and port is scrubbed', async () => {
    up.behave({ status: 400, errorBody: { error: { message: nasty(), type: 'invalid_request_error', param: null, code: null } } });
    const e = expectError(await chat(), { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request', param: null }, forbidden);
    assert.match(e.message, /^bad request to /);
  });

  test('an upstream 400 in plain text', async () => {
    up.behave({ status: 400, rawBody: 'context too long', contentType: 'text/plain' });
    const e = expectError(await chat(), { status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request', param: null }, forbidden);
    assert.equal(e.message, 'context too long');
  });

  test('a LinkModel-style error body {code, msg, request_id} is recognised', async () => {
    up.behave({ status: 400, errorBody: { code: 1001, msg: 'bad thing', request_id: 'x' } });
    const res = await chat();
    const e = expectError(res, { status: 400, type: 'invalid_request_error', code: '1001', param: null }, forbidden);
    assert.equal(e.message, 'bad thing');
    assert.notEqual(e.request_id, 'x');
    up.behave({ status: 500, errorBody: { code: 5000, msg: 'bad thing on our side', request_id: 'x' } });
    const e2 = expectError(await chat(), upstream502, forbidden);
    assert.match(e2.message, /bad thing on our side/);
  });

  test("upstream 401/403 → 502: the operator's credential problem, not the customer's", async () => {
    for (const status of [401, 403]) {
      up.behave({ status, errorBody: { error: { message: `Incorrect API key provided: ${UPSTREAM_SECRET}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } });
      const e = expectError(await chat(), upstream502, forbidden);
      assert.doesNotMatch(e.message, /Incorrect API key/);
      expectError(await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key }), upstream502, forbidden);
    }
  });

  test("upstream 402, or 429 insufficient_quota → 502: the operator's balance with the provider is used up, not the customer's", async () => {
    const refusals = [
      { status: 402, errorBody: { error: { message: `Insufficient Balance on ${UPSTREAM_SECRET}`, type: 'unknown_error', param: null, code: 'invalid_request_error' } } },
      { status: 402, errorBody: { code: 402, msg: 'insufficient balance', request_id: 'x' } },
      { status: 429, errorBody: { error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } } },
    ];
    for (const r of refusals) {
      up.behave(r);
      for (const stream of [false, true]) {
        const e = expectError(await chat({ stream }), upstream502, forbidden);
        assert.doesNotMatch(e.message, /Insufficient Balance|insufficient balance|exceeded your current quota/);
        assert.match(e.message, /balance or quota/);
      }
    }
    up.behave({ status: 402 });
    expectError(await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key }), upstream502, forbidden);
    up.behave({});
    assert.equal((await chat()).status, 200, 'the upstream is used again once it answers');
  });

  test('every 5xx says when to retry: the upstream\'s own Retry-After when it gave one, else 1 s', async () => {
    up.behave({ status: 503, headers: { 'retry-after': '30' } });
    for (const stream of [false, true]) {
      const res = await chat({ stream });
      expectError(res, upstream502, forbidden);
      assert.equal(res.headers.get('retry-after'), '30');
    }
    up.behave({ status: 500 });
    assert.equal((await chat()).headers.get('retry-after'), '1');
    const refused = await post(`${tg.url}/v1/chat/completions`, { model: 'dead-model', messages: [{ role: 'user', content: 'hi' }] }, { key });
    expectError(refused, upstream502, forbidden);
    assert.equal(refused.headers.get('retry-after'), '1');
    up.behave({ hang: true });
    const late = await chat();
    expectError(late, { status: 504, type: 'api_error', code: 'upstream_timeout', param: null }, forbidden);
    assert.equal(late.headers.get('retry-after'), '1');
    up.behave({});
  });

  test("upstream 404 → 502: the route's upstream model is gone, not the client's model", async () => {
    up.behave({ status: 404, errorBody: { error: { message: 'The model `upstream-flash` does not exist or you do not have access to it.', type: 'invalid_request_error', param: null, code: 'model_not_found' } } });
    for (const stream of [false, true]) {
      const e = expectError(await chat({ stream }), upstream502, forbidden);
      assert.doesNotMatch(e.message, /upstream-flash|does not exist/);
      assert.match(e.message, /does not serve the model this route is configured with/);
    }
    up.behave({});
  });

  test('upstream 429 → 429 with retry-after', async () => {
    up.behave({ status: 429, headers: { 'retry-after': '7' }, errorBody: { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } } });
    const res = await chat();
    const e = expectError(res, { status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited', param: null }, forbidden);
    assert.match(e.message, /Rate limit reached/);
    assert.equal(res.headers.get('retry-after'), '7');
    up.behave({ status: 429 });
    const res2 = await chat({ stream: true });
    expectError(res2, { status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited', param: null }, forbidden);
    assert.ok(Number(res2.headers.get('retry-after')) >= 1);
  });

  test('an upstream that never answers → 504 upstream_timeout, promptly', async () => {
    up.behave({ hang: true });
    for (const stream of [false, true]) {
      const t0 = performance.now();
      const e = expectError(await chat({ stream }), { status: 504, type: 'api_error', code: 'upstream_timeout', param: null }, forbidden);
      const took = performance.now() - t0;
      // Timers fire late on loaded CI machines: allow early by a little, late by a lot.
      assert.ok(took >= TIMEOUT_MS / 2 && took < TIMEOUT_MS + 2500, `took ${took.toFixed(0)} ms`);
      assert.match(e.message, /did not answer in time/);
    }
  });

  test('an upstream stream that dies midway ends the client stream with an error event', async () => {
    up.behave({ text: 'a b c d e f', dieAfterChunks: 2, chunkDelayMs: 20 });
    const t0 = performance.now();
    const res = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { key });
    assert.ok(performance.now() - t0 < 3000);
    assert.equal(res.status, 200);
    assertNoLeaks(res, forbidden);
    const frames = res.text.split('\n\n').filter(Boolean);
    assert.ok(!res.text.includes('[DONE]'));
    const last = JSON.parse(frames.at(-1)!.slice(6));
    assert.equal(last.error.type, 'api_error');
    assert.equal(last.error.code, 'upstream_error');
    assert.equal(last.error.request_id, res.headers.get('x-request-id'));
    const text = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)).choices[0].delta.content ?? '').join('');
    assert.equal(text, 'a b');
  });

  test('an upstream stream that stalls midway ends with an upstream_timeout error event', async () => {
    up.behave({ text: 'a b', chunkDelayMs: TIMEOUT_MS * 3 });
    const t0 = performance.now();
    const res = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }, { key });
    const took = performance.now() - t0;
    assert.ok(took < TIMEOUT_MS * 3, `took ${took.toFixed(0)} ms`);
    assert.equal(res.status, 200);
    assertNoLeaks(res, forbidden);
    const frames = res.text.split('\n\n').filter(Boolean);
    const last = JSON.parse(frames.at(-1)!.slice(6));
    assert.equal(last.error.code, 'upstream_timeout');
    assert.equal(last.error.request_id, res.headers.get('x-request-id'));
  });

  // An error event inside the upstream stream: see stream-error-event.test.ts (it runs
  // the gateway in a child process, because the bug it shows crashes the process).

  test('after all that, the gateway still serves requests', async () => {
    up.behave({ text: 'still alive' });
    const res = await chat();
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).choices[0].message.content, 'still alive');
  });
});

describe('upstream errors below HTTP', () => {
  // An upstream that breaks HTTP itself: what the client sees comes from the gateway's
  // own HTTP client (src/http1/), not from a status the upstream chose.
  let tg: TestGateway;
  let key: string;
  let server: net.Server;
  let answer: (sock: net.Socket) => void = () => {};
  let forbidden: string[];

  before(async () => {
    server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => answer(sock));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    tg = await startTestGateway({
      config: {
        providers: [{ id: 'raw', kind: 'openai', base_url: `http://127.0.0.1:${port}/v1`, api_key: UPSTREAM_SECRET }],
        models: [{ id: 'raw-model', upstreams: [{ provider: 'raw', model: 'm' }], pricing: { input: '1', output: '1' } }],
      },
    });
    ({ key } = await tg.customer());
    forbidden = [UPSTREAM_SECRET, key, `127.0.0.1:${port}`, `:${port}/`];
  });
  after(async () => {
    await tg.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const chat = (stream: boolean) => post(`${tg.url}/v1/chat/completions`, { model: 'raw-model', stream, messages: [{ role: 'user', content: 'hi' }] }, { key });
  const upstream502 = { status: 502, type: 'api_error', code: 'upstream_error', param: null };

  test('a response that is not valid HTTP → 502 naming an invalid response', async () => {
    answer = (sock) => sock.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\nok');
    for (const stream of [false, true]) {
      const e = expectError(await chat(stream), upstream502, forbidden);
      assert.match(e.message, /invalid response/, e.message);
    }
  });

  test('a connection closed before any answer → 502 saying the upstream closed it', async () => {
    answer = (sock) => sock.destroy();
    for (const stream of [false, true]) {
      const e = expectError(await chat(stream), upstream502, forbidden);
      assert.match(e.message, /closed the connection/, e.message);
    }
  });
});
