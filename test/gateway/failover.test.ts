import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startFakeOpenAI, type Behaviour, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startFakeAnthropic } from '../helpers/fake-anthropic.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { CLOSED_PORT, expectError, post, sleep, UPSTREAM_SECRET } from '../helpers/http.ts';
import { usdToPico } from '../../src/billing/money.ts';
import { countTextTokens } from '../../src/limits/token-count.ts';

// Routing with failover and circuit breakers, against real HTTP upstreams: fake-openai
// instances, a closed port, and raw node:http servers. Each test gets its own gateway,
// so breaker state never leaks from one test into another.

const PRICES = { input: '1', output: '2' }; // USD per 1M tokens
const perToken = (usdPerMillion: string) => usdToPico(usdPerMillion) / 1_000_000n;
const costOf = (prompt: number, completion: number) => BigInt(prompt) * perToken(PRICES.input) + BigInt(completion) * perToken(PRICES.output);

interface ProviderSpec {
  url: string;
  timeout_ms?: number;
  breaker?: { failures: number; cooldown_ms: number };
}

interface RouteSpec {
  provider: string;
  weight?: number;
  priority?: number;
}

interface Setup {
  tg: TestGateway;
  key: string;
  accountId: string;
  client: OpenAI;
  /** POSTs a chat request for model `m` (raw, to see every header and byte). */
  chat(extra?: Record<string, unknown>): ReturnType<typeof post>;
  charges(requestId: string): Promise<any[]>;
}

/**
 * A gateway whose model `m` has the given routes; each route's upstream model is named
 * `<provider>-model`. Providers default to a high breaker threshold so only the breaker
 * tests see breakers open.
 */
async function setup(t: TestContext, providers: Record<string, ProviderSpec>, routes: RouteSpec[], extra: { plans?: unknown[]; plan?: string; model?: Record<string, unknown> } = {}): Promise<Setup> {
  const tg = await startTestGateway({
    config: {
      providers: Object.entries(providers).map(([id, p]) => ({
        id,
        kind: 'openai',
        base_url: p.url,
        api_key: UPSTREAM_SECRET,
        ...(p.timeout_ms ? { timeout_ms: p.timeout_ms } : {}),
        breaker: p.breaker ?? { failures: 1000, cooldown_ms: 10_000 },
      })),
      models: [{ id: 'm', upstreams: routes.map((r) => ({ provider: r.provider, model: `${r.provider}-model`, weight: r.weight ?? 1, priority: r.priority ?? 0 })), pricing: PRICES, ...extra.model }],
      ...(extra.plans ? { plans: extra.plans } : {}),
    },
  });
  t.after(() => tg.close());
  const { key, accountId } = await tg.customer(extra.plan ? { plan: extra.plan } : {});
  return {
    tg,
    key,
    accountId,
    client: new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 }),
    chat: (body = {}) => post(`${tg.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }, { key }),
    async charges(requestId) {
      // The ledger is written behind; the admin endpoint flushes, but a stream's charge
      // lands just after its last byte, so poll briefly.
      let found: any[] = [];
      for (let i = 0; i < 50; i++) {
        const r = await tg.admin('GET', `/accounts/${accountId}/ledger?limit=1000`);
        assert.equal(r.status, 200);
        found = (r.body.data as any[]).filter((e) => e.kind === 'charge' && e.request_id === requestId);
        if (found.length) break;
        await sleep(20);
      }
      return found;
    },
  };
}

async function fake(t: TestContext, b: Parameters<typeof startFakeOpenAI>[0] = {}): Promise<FakeOpenAI> {
  const up = await startFakeOpenAI(b);
  t.after(() => up.close());
  return up;
}

/** A raw HTTP server; `handler` sees every request. */
async function rawServer(t: TestContext, handler: Parameters<typeof createServer>[1]): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    handler!(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, hits: () => hits };
}

/**
 * A gateway with two providers, `anthropic` (a fake Anthropic API) and `openai` (a fake
 * OpenAI-compatible one answering `openaiText`), serving `models`. The breakers never
 * open: these tests are about which route answers.
 */
async function mixedProviders(t: TestContext, openaiText: string, models: unknown[]) {
  const anth = await startFakeAnthropic();
  t.after(() => anth.close());
  const oai = await fake(t, { text: openaiText });
  const breaker = { failures: 1000, cooldown_ms: 10_000 };
  const tg = await startTestGateway({
    config: {
      providers: [
        { id: 'anthropic', kind: 'anthropic', base_url: anth.baseUrl, api_key: UPSTREAM_SECRET, breaker },
        { id: 'openai', kind: 'openai', base_url: oai.baseUrl, api_key: UPSTREAM_SECRET, breaker },
      ],
      models,
    },
  });
  t.after(() => tg.close());
  const { key } = await tg.customer();
  return { anth, oai, tg, key };
}

function routedTo(res: { headers: Headers }, provider: string, failover: boolean): void {
  assert.equal(res.headers.get('x-tollgate-provider'), provider);
  assert.equal(res.headers.get('x-tollgate-upstream-model'), `${provider}-model`);
  assert.equal(res.headers.get('x-tollgate-failover'), String(failover));
}

function dataFrames(text: string): string[] {
  return text.split('\n\n').filter(Boolean).map((f) => {
    assert.ok(f.startsWith('data: '), `an SSE data frame: ${JSON.stringify(f)}`);
    return f.slice(6);
  });
}

// ---------------------------------------------------------------------------------
// What fails over

test('connection refused → the next route answers; the headers name it and say failover', async (t) => {
  const dead = `http://127.0.0.1:${CLOSED_PORT}/v1`;
  const b = await fake(t, { text: 'from b' });
  const s = await setup(t, { dead: { url: dead }, b: { url: b.baseUrl } }, [{ provider: 'dead', priority: 1 }, { provider: 'b' }]);
  const res = await s.chat();
  assert.equal(res.status, 200, res.text);
  routedTo(res, 'b', true);
  assert.equal(JSON.parse(res.text).choices[0].message.content, 'from b');
  assert.equal(b.requests.at(-1)!.body.model, 'b-model');
  // Streams fail over the same way: nothing was sent to the client yet.
  const st = await s.chat({ stream: true });
  assert.equal(st.status, 200);
  routedTo(st, 'b', true);
  assert.equal(dataFrames(st.text).at(-1), '[DONE]');
});

test('a connection reset before any answer → the next route answers', async (t) => {
  const reset = await rawServer(t, (req) => req.socket.destroy());
  const b = await fake(t);
  const s = await setup(t, { reset: { url: reset.url }, b: { url: b.baseUrl } }, [{ provider: 'reset', priority: 1 }, { provider: 'b' }]);
  const res = await s.chat();
  assert.equal(res.status, 200, res.text);
  routedTo(res, 'b', true);
  assert.equal(reset.hits(), 1);
});

test('an upstream that closes a kept-alive connection as the next request reaches it: that request is sent again on a new connection and answered, not a 502', async (t) => {
  // The keep-alive race (a server such as uvicorn closing a connection idle for 5 s while
  // the gateway writes on it), played by closing on every second request of a connection.
  const perSocket = new WeakMap<object, number>();
  const up = await rawServer(t, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n === 2) return void req.socket.destroy();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'x', choices: [{ index: 0, message: { role: 'assistant', content: 'still here' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }));
  });
  const s = await setup(t, { only: { url: up.url, breaker: { failures: 1, cooldown_ms: 60_000 } } }, [{ provider: 'only' }]);
  for (let i = 0; i < 3; i++) {
    const res = await s.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.choices[0]!.message.content, 'still here');
  }
  assert.equal(up.hits(), 5, 'the second and third requests each reached the upstream twice');
});

test('an upstream that hangs → fails over once its timeout_ms has passed', async (t) => {
  const hang = await fake(t, { hang: true });
  const b = await fake(t, { text: 'patient' });
  const s = await setup(t, { hang: { url: hang.baseUrl, timeout_ms: 300 }, b: { url: b.baseUrl } }, [{ provider: 'hang', priority: 1 }, { provider: 'b' }]);
  for (const stream of [false, true]) {
    const t0 = performance.now();
    const res = await s.chat({ stream });
    const ms = performance.now() - t0;
    assert.equal(res.status, 200, res.text);
    routedTo(res, 'b', true);
    assert.ok(ms >= 290, `waited for the timeout (${ms.toFixed(0)} ms)`);
    assert.ok(ms < 2500, `did not wait much longer (${ms.toFixed(0)} ms)`);
  }
  assert.equal(hang.requests.length, 2);
  await hang.waitForAbort(2000); // the hung attempt's connection was given up
});

test('a hung upstream is given up close to timeout_ms, not up to a second later', async (t) => {
  const hang = await fake(t, { hang: true });
  const b = await fake(t);
  const s = await setup(t, { hang: { url: hang.baseUrl, timeout_ms: 300 }, b: { url: b.baseUrl } }, [{ provider: 'hang', priority: 1 }, { provider: 'b' }]);
  const t0 = performance.now();
  const res = await s.chat();
  const ms = performance.now() - t0;
  assert.equal(res.status, 200);
  assert.ok(ms < 300 + 250, `failed over after ${ms.toFixed(0)} ms with timeout_ms 300`);
});

// An upstream error (5xx, a rate limit) fails over, and so does a refusal of the
// operator's account or route at that upstream, since another route may still answer:
// DeepSeek and OpenRouter say 402 when the operator's balance with them is used up,
// OpenAI 429 insufficient_quota; a revoked key is 401 or 403; a retired upstream model 404.
const FAILING_ANSWERS: Array<[label: string, behaviour: Behaviour]> = [
  ...[500, 502, 503, 429].map((status): [string, Behaviour] => [String(status), { status, headers: { 'retry-after': '30' } }]),
  ['404 model_not_found', { status: 404, errorBody: { error: { message: 'The model `b-model-0314` has been deprecated.', type: 'invalid_request_error', param: null, code: 'model_not_found' } } }],
  ['401 invalid_api_key', { status: 401, errorBody: { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } }],
  ['403 permission_error', { status: 403, errorBody: { error: { message: 'Your key has been disabled.', type: 'permission_error', param: null, code: null } } }],
  ['402 Insufficient Balance', { status: 402, errorBody: { error: { message: 'Insufficient Balance', type: 'unknown_error', param: null, code: 'invalid_request_error' } } }],
  ['429 insufficient_quota', { status: 429, errorBody: { error: { message: 'You exceeded your current quota.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } } }],
];

for (const [label, behaviour] of FAILING_ANSWERS) {
  test(`an upstream answering ${label} → fails over (streaming too)`, async (t) => {
    const a = await fake(t, behaviour);
    const b = await fake(t, { text: 'second route' });
    const s = await setup(t, { a: { url: a.baseUrl }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
    const res = await s.chat();
    assert.equal(res.status, 200, res.text);
    routedTo(res, 'b', true);
    assert.equal(JSON.parse(res.text).choices[0].message.content, 'second route');
    assert.equal(res.headers.get('retry-after'), null, 'the failed attempt leaves no trace on the answer');
    const st = await s.chat({ stream: true });
    assert.equal(st.status, 200, st.text);
    routedTo(st, 'b', true);
    assert.equal(a.requests.length, 2);
    assert.equal(b.requests.length, 2);
  });
}

test("alone, an upstream refusing the operator's account or route is a 502 the SDKs do not retry (x-should-retry: false); its own failure is one they do", async (t) => {
  for (const [label, behaviour] of FAILING_ANSWERS) {
    const up = await fake(t, behaviour);
    const s = await setup(t, { a: { url: up.baseUrl } }, [{ provider: 'a' }]);
    const res = await s.chat();
    assert.equal(res.status, /^(500|502|503)$/.test(label) ? 502 : label === '429' ? 429 : 502, `${label}: ${res.text}`);
    const operatorFault = !/^(500|502|503|429)$/.test(label);
    assert.equal(res.headers.get('x-should-retry'), operatorFault ? 'false' : null, label);
  }
});

test('an upstream answering a redirect (an http base_url moved to https, a maintenance page) → fails over; alone, a 502 that names it and not where it points', async (t) => {
  const moved = await rawServer(t, (_req, res) => {
    res.writeHead(301, { location: 'https://maintenance.internal.example/v1/chat/completions', 'content-type': 'text/html' });
    res.end('<a href="https://maintenance.internal.example/v1/chat/completions">Moved</a>');
  });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { moved: { url: moved.url }, b: { url: b.baseUrl } }, [{ provider: 'moved', priority: 1 }, { provider: 'b' }]);
  for (const stream of [false, true]) {
    const res = await s.chat({ stream });
    assert.equal(res.status, 200, res.text);
    routedTo(res, 'b', true);
  }
  assert.equal(moved.hits(), 2);
  const alone = await setup(t, { moved: { url: moved.url } }, [{ provider: 'moved' }]);
  for (const stream of [false, true]) {
    const e = expectError(await alone.chat({ stream }), { status: 502, type: 'api_error', code: 'upstream_error', param: null }, [UPSTREAM_SECRET, 'maintenance.internal']);
    assert.match(e.message, /redirect \(HTTP 301\)/);
  }
});

test('an upstream answering 200 with a web page (a base_url pointing at a site or a login page) → fails over; alone, a 502 that says so', async (t) => {
  const site = await rawServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Welcome to nginx!</title>');
  });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { site: { url: site.url }, b: { url: b.baseUrl } }, [{ provider: 'site', priority: 1 }, { provider: 'b' }]);
  for (const stream of [false, true]) {
    const res = await s.chat({ stream });
    assert.equal(res.status, 200, res.text);
    routedTo(res, 'b', true);
  }
  assert.equal(site.hits(), 2);
  const alone = await setup(t, { site: { url: site.url } }, [{ provider: 'site' }]);
  for (const stream of [false, true]) {
    const e = expectError(await alone.chat({ stream }), { status: 502, type: 'api_error', code: 'upstream_error', param: null }, [UPSTREAM_SECRET, 'nginx']);
    assert.match(e.message, /web page/);
  }
});

// A 200 whose answer then fails is a failed attempt: the body is read inside it. Such
// upstreams used to be taken as answering: no failover, and no breaker ever paused them.
for (const [label, answer] of [
  ['a body that is not JSON', (res: any) => res.writeHead(200, { 'content-type': 'application/json' }).end('<<not json>>')],
  ['a connection closed mid-body', (res: any) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
    res.write('{"id":"x","choices":[');
    setTimeout(() => res.socket?.destroy(), 20);
  }],
  ['a body that stalls', (res: any) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":"x",');
  }],
] as const) {
  test(`a non-streaming 200 with ${label} → fails over, and counts against the upstream's breaker`, async (t) => {
    const bad = await rawServer(t, (req, res) => {
      req.resume();
      answer(res);
    });
    const b = await fake(t, { text: 'second route' });
    const s = await setup(t, { bad: { url: bad.url, timeout_ms: 400, breaker: { failures: 2, cooldown_ms: 60_000 } }, b: { url: b.baseUrl } }, [{ provider: 'bad', priority: 1 }, { provider: 'b' }]);
    for (let i = 0; i < 3; i++) {
      const res = await s.chat();
      assert.equal(res.status, 200, res.text);
      routedTo(res, 'b', true);
      assert.equal(JSON.parse(res.text).choices[0].message.content, 'second route');
    }
    assert.equal(bad.hits(), 2, 'paused after two failures: the third request went straight to the second route');
  });
}

test('a non-streaming body that trickles in is given up timeout_ms after its first byte, not read for as long as it goes on', async (t) => {
  const slow = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":"x",');
    const tick = setInterval(() => (res.destroyed ? clearInterval(tick) : res.write(' ')), 100);
    res.on('close', () => clearInterval(tick));
  });
  const s = await setup(t, { slow: { url: slow.url, timeout_ms: 600 } }, [{ provider: 'slow' }]);
  const started = Date.now();
  const res = await s.chat();
  const took = Date.now() - started;
  expectError(res, { status: 504, type: 'api_error', code: 'upstream_timeout', param: null });
  assert.ok(took >= 550 && took < 3000, `gave up after ${took} ms`);
});

test("an upstream's error answer to one customer's prompt (a 200 with an error, an error event) neither fails over nor pauses the upstream for others", async (t) => {
  let mode = 'error';
  const up = await rawServer(t, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const stream = JSON.parse(body).stream === true;
      if (mode === 'error' && !stream) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"error":{"message":"flagged by moderation","type":"invalid_request_error"}}');
      if (mode === 'error') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return void res.end('data: {"error":{"message":"flagged by moderation"}}\n\n');
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'up-model', choices: [{ index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } }));
    });
  });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { up: { url: up.url, breaker: { failures: 2, cooldown_ms: 60_000 } }, b: { url: b.baseUrl } }, [{ provider: 'up', priority: 1 }, { provider: 'b' }]);
  for (let i = 0; i < 3; i++) {
    expectError(await s.chat(), { status: 502, type: 'api_error', code: 'upstream_error', param: null });
    const streamed = await s.chat({ stream: true });
    assert.match(streamed.text, /flagged by moderation/);
  }
  assert.equal(b.requests.length, 0, 'not sent to the next route');
  mode = 'ok';
  const res = await s.chat();
  assert.equal(res.status, 200, res.text);
  routedTo(res, 'up', false);
});

test('a whole answer (finish_reason, usage) whose upstream then goes quiet without [DONE] is complete, and no failure of the upstream', async (t) => {
  const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'quiet-model' };
  const quiet = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'All here' }, finish_reason: null }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })}\n\n`);
    // and then nothing: no [DONE], no end
  });
  const s = await setup(t, { quiet: { url: quiet.url, timeout_ms: 300, breaker: { failures: 2, cooldown_ms: 60_000 } } }, [{ provider: 'quiet' }]);
  for (let i = 0; i < 3; i++) {
    const res = await s.chat({ stream: true });
    assert.equal(res.status, 200);
    assert.match(res.text, /All here/);
    assert.match(res.text, /data: \[DONE\]\n\n$/);
    assert.doesNotMatch(res.text, /"error"/);
  }
  assert.equal(quiet.hits(), 3, 'never paused');
});

test('with n > 1, a stream cut after one choice finished is still a cut stream', async (t) => {
  const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'n-model' };
  const cut = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'half a sen' }, finish_reason: null }], usage })}\n\n`);
    res.end(`data: ${JSON.stringify({ ...base, choices: [{ index: 1, delta: { content: 'Done.' }, finish_reason: 'stop' }], usage })}\n\n`);
  });
  const s = await setup(t, { cut: { url: cut.url } }, [{ provider: 'cut' }]);
  const res = await s.chat({ stream: true, n: 2 });
  assert.match(res.text, /ended the stream early/);
  assert.doesNotMatch(res.text, /\[DONE\]/);
});

test('a json_schema retry that finds no upstream: the request is charged the first answer, logged under the route that gave it', async (t) => {
  let calls = 0;
  const a = await rawServer(t, (req, res) => {
    req.resume();
    if (calls++ > 0) return void res.writeHead(500).end();
    const answer = { id: 'c', object: 'chat.completion', created: 1, model: 'a-model', choices: [{ index: 0, message: { role: 'assistant', content: '{"b":1}' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  const b = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(500).end();
  });
  const s = await setup(t, { a: { url: a.url }, b: { url: b.url } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }], { model: { validate_json_schema: true } });
  const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false };
  const res = await s.chat({ response_format: { type: 'json_schema', json_schema: { name: 's', schema } } });
  assert.equal(res.status, 503, res.text);
  const [charge] = await s.charges(res.headers.get('x-request-id')!);
  assert.equal(-usdToPico(charge.amount_usd), costOf(10, 5), 'the first answer, which the upstream was paid for');
  assert.equal(charge.detail.provider, 'a');
  assert.equal(charge.detail.upstream_model, 'a-model');
});

test('blank keep-alives before a long non-streaming answer (as proxies send) do not count against timeout_ms', async (t) => {
  const answer = { id: 'c', object: 'chat.completion', created: 1, model: 'slow-model', choices: [{ index: 0, message: { role: 'assistant', content: 'worth the wait' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } };
  const slow = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    let n = 0;
    const tick = setInterval(() => {
      if (res.destroyed) return clearInterval(tick);
      if (++n < 10) return void res.write('\n');
      clearInterval(tick);
      res.end(JSON.stringify(answer));
    }, 100);
  });
  const s = await setup(t, { slow: { url: slow.url, timeout_ms: 400 } }, [{ provider: 'slow' }]);
  const res = await s.chat();
  assert.equal(res.status, 200, res.text);
  assert.equal(JSON.parse(res.text).choices[0].message.content, 'worth the wait');
});

test('a streaming request answered 200 with JSON, not an event stream → fails over', async (t) => {
  const json = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"error":"not a stream"}');
  });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { json: { url: json.url }, b: { url: b.baseUrl } }, [{ provider: 'json', priority: 1 }, { provider: 'b' }]);
  const res = await s.chat({ stream: true });
  assert.equal(res.status, 200, res.text);
  routedTo(res, 'b', true);
  assert.match(res.text, /second/);
  assert.equal(json.hits(), 1);
});

test('streams that open and then fail count against the breaker: the upstream is paused, and the next route serves', async (t) => {
  const a = await fake(t, { text: 'one two three four five six', dieAfterChunks: 2, chunkDelayMs: 5 });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { a: { url: a.baseUrl, breaker: { failures: 2, cooldown_ms: 60_000 } }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  for (let i = 0; i < 2; i++) {
    const res = await s.chat({ stream: true });
    routedTo(res, 'a', false);
    assert.doesNotMatch(res.text, /\[DONE\]/);
  }
  const res = await s.chat({ stream: true });
  routedTo(res, 'b', true);
  assert.match(res.text, /\[DONE\]/);
  assert.equal(a.requests.length, 2);
});

test('streams that end well keep the breaker closed: a failure between them does not add up to a pause', async (t) => {
  let n = 0;
  const flaky = await rawServer(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'flaky-model', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] };
    res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    if (n++ % 2 === 0) setTimeout(() => res.socket?.destroy(), 10);
    else res.end('data: [DONE]\n\n');
  });
  const s = await setup(t, { flaky: { url: flaky.url, breaker: { failures: 2, cooldown_ms: 60_000 } } }, [{ provider: 'flaky' }]);
  for (let i = 0; i < 6; i++) {
    const res = await s.chat({ stream: true });
    assert.equal(res.status, 200, res.text);
    routedTo(res, 'flaky', false);
  }
  assert.equal(flaky.hits(), 6);
});

test("an upstream's 408 (it did not get the gateway's request in time) is not the client's fault: fails over; alone, a 502", async (t) => {
  const slow = await rawServer(t, (_req, res) => {
    res.writeHead(408, { connection: 'close', 'content-type': 'text/html' });
    res.end('<h1>408 Request Timeout</h1>');
  });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { slow: { url: slow.url }, b: { url: b.baseUrl } }, [{ provider: 'slow', priority: 1 }, { provider: 'b' }]);
  const res = await s.chat();
  assert.equal(res.status, 200, res.text);
  routedTo(res, 'b', true);
  const alone = await setup(t, { slow: { url: slow.url } }, [{ provider: 'slow' }]);
  const e = expectError(await alone.chat(), { status: 502, type: 'api_error', code: 'upstream_error', param: null });
  assert.match(e.message, /HTTP 408/);
});

test('an error answer whose body never ends is read only so far: the next route answers, not a client held forever', async (t) => {
  const endless = await rawServer(t, (req, res) => {
    res.writeHead(500, { 'content-type': 'text/html' });
    const page = `<p>${'x'.repeat(16 * 1024)}</p>`;
    const iv = setInterval(() => (req.socket.destroyed ? clearInterval(iv) : res.write(page)), 2);
  });
  const b = await fake(t, { text: 'second route' });
  const s = await setup(t, { endless: { url: endless.url }, b: { url: b.baseUrl } }, [{ provider: 'endless', priority: 1 }, { provider: 'b' }]);
  const res = await fetch(`${s.tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}` },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-tollgate-provider'), 'b');
  await res.text();
});

test("an Anthropic upstream out of credit (400 'credit balance is too low', 402 billing_error) → the next route answers; alone, a 502", async (t) => {
  const { anth, oai, tg, key } = await mixedProviders(t, 'second account', [
    { id: 'm', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5', priority: 1 }, { provider: 'openai', model: 'b-model' }], pricing: PRICES },
    { id: 'claude-only', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }], pricing: PRICES },
  ]);
  const ask = (model: string, stream = false) => post(`${tg.url}/v1/chat/completions`, { model, stream, messages: [{ role: 'user', content: 'hi' }] }, { key });
  for (const scenario of ['error-400-credit-balance', 'error-402'] as const) {
    anth.setScenario(scenario);
    for (const stream of [false, true]) {
      const res = await ask('m', stream);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-tollgate-provider'), 'openai');
      assert.equal(res.headers.get('x-tollgate-failover'), 'true');
      const e = expectError(await ask('claude-only', stream), { status: 502, type: 'api_error', code: 'upstream_error', param: null });
      assert.match(e.message, /balance or quota/);
      assert.doesNotMatch(e.message, /credit balance|billing or payment/);
    }
  }
  // An ordinary 400 is still the request's own, not retried elsewhere.
  anth.setScenario('error-400');
  const n = oai.requests.length;
  expectError(await ask('m'), { status: 400, type: 'invalid_request_error', code: 'invalid_request_error' });
  assert.equal(oai.requests.length, n);
});

test('a 400 from the first upstream is the request\'s fault: returned as is, not retried', async (t) => {
  const a = await fake(t, { status: 400, errorBody: { error: { message: 'Invalid value for temperature.', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
  const b = await fake(t);
  const s = await setup(t, { a: { url: a.baseUrl }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  for (const stream of [false, true]) {
    const e = expectError(await s.chat({ stream, temperature: 7 }), { status: 400, type: 'invalid_request_error', code: 'invalid_value', param: 'temperature' });
    assert.match(e.message, /temperature/);
  }
  assert.equal(a.requests.length, 2);
  assert.equal(b.requests.length, 0, 'the second route was never tried');
});

test('a stream that dies mid-way does not fail over: it ends with an error event, and what was generated is charged', async (t) => {
  const a = await fake(t, { text: 'one two three four five six', dieAfterChunks: 2, chunkDelayMs: 5 });
  const b = await fake(t);
  const s = await setup(t, { a: { url: a.baseUrl }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  const res = await s.chat({ stream: true, stream_options: { include_usage: true } });
  assert.equal(res.status, 200);
  routedTo(res, 'a', false);
  const frames = dataFrames(res.text);
  assert.ok(!frames.includes('[DONE]'), 'no [DONE] after a broken stream');
  const last = JSON.parse(frames.at(-1)!);
  assert.deepEqual(Object.keys(last), ['error']);
  assert.equal(last.error.type, 'api_error');
  assert.equal(typeof last.error.code, 'string');
  assert.equal(typeof last.error.message, 'string');
  assert.equal(last.error.request_id, res.headers.get('x-request-id'));
  let text = '';
  for (const f of frames.slice(0, -1)) text += JSON.parse(f).choices[0]?.delta?.content ?? '';
  assert.equal(text, 'one two');
  assert.equal(b.requests.length, 0, 'no failover once bytes reached the client');

  const charges = await s.charges(res.headers.get('x-request-id')!);
  assert.equal(charges.length, 1);
  const d = charges[0].detail;
  assert.equal(d.usage_estimated, true);
  assert.equal(d.provider, 'a');
  assert.equal(d.completion_tokens, countTextTokens('one two'));
  assert.ok(d.prompt_tokens > 0);
  assert.equal(-usdToPico(charges[0].amount_usd), costOf(d.prompt_tokens, d.completion_tokens));
});

test('a route whose provider cannot honour a field is skipped for one that can (mixed providers)', async (t) => {
  const { anth, oai, tg, key } = await mixedProviders(t, 'with logprobs', [
    { id: 'm', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5', priority: 1 }, { provider: 'openai', model: 'gpt-5-mini' }], pricing: PRICES },
    // Equal priority, mostly anthropic: the answer must not depend on the weighted draw.
    { id: 'mixed', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5', weight: 9 }, { provider: 'openai', model: 'gpt-5-mini', weight: 1 }], pricing: PRICES },
    { id: 'claude-only', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }, { provider: 'anthropic', model: 'claude-haiku-4-5' }], pricing: PRICES },
  ]);
  const ask = (model: string) => post(`${tg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }], logprobs: true }, { key });
  const res = await ask('m');
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('x-tollgate-provider'), 'openai');
  assert.equal(anth.requests.length, 0);
  assert.equal(oai.requests[0]!.body.logprobs, true);
  for (let i = 0; i < 20; i++) {
    const r = await ask('mixed');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-provider'), 'openai');
  }
  assert.equal(anth.requests.length, 0);
  // No route can honour it: the client's 400, and no upstream is called.
  const n = oai.requests.length;
  expectError(await ask('claude-only'), { status: 400, type: 'invalid_request_error', code: 'unsupported_parameter', param: 'logprobs' });
  assert.equal(anth.requests.length, 0);
  assert.equal(oai.requests.length, n);
});

// ---------------------------------------------------------------------------------
// Weights and priorities

test('an embeddings route whose provider has no embeddings (Anthropic) is skipped for one that has them', async (t) => {
  const { anth, oai, tg, key } = await mixedProviders(t, 'x', [
    { id: 'emb', type: 'embedding', upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', priority: 2 }, { provider: 'openai', model: 'text-embedding-3-small' }], pricing: PRICES },
  ]);
  const res = await post(`${tg.url}/v1/embeddings`, { model: 'emb', input: 'hello' }, { key });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('x-tollgate-provider'), 'openai');
  assert.equal(JSON.parse(res.text).data.length, 1);
  assert.equal(anth.requests.length, 0);
  assert.equal(oai.requests.length, 1);
});

test('weights 3:1 at equal priority split the traffic roughly 3:1', async (t) => {
  const a = await fake(t);
  const b = await fake(t);
  const s = await setup(t, { a: { url: a.baseUrl }, b: { url: b.baseUrl } }, [{ provider: 'a', weight: 3 }, { provider: 'b', weight: 1 }]);
  const N = 400;
  let next = 0;
  const worker = async () => {
    while (next < N) {
      next++;
      const res = await s.chat();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-tollgate-failover'), 'false');
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  assert.equal(a.requests.length + b.requests.length, N);
  // Expected 300 : 100; σ ≈ 8.7, so ±50 is more than 5σ.
  assert.ok(a.requests.length >= 250 && a.requests.length <= 350, `a got ${a.requests.length} of ${N}`);
});

test('a lower-priority route gets nothing while the higher one is healthy, and takes over when it fails', async (t) => {
  const hi = await fake(t);
  const lo = await fake(t);
  const s = await setup(t, { hi: { url: hi.baseUrl }, lo: { url: lo.baseUrl } }, [{ provider: 'lo', priority: 0, weight: 100 }, { provider: 'hi', priority: 5, weight: 1 }]);
  for (let i = 0; i < 30; i++) {
    const res = await s.chat();
    routedTo(res, 'hi', false);
  }
  assert.equal(hi.requests.length, 30);
  assert.equal(lo.requests.length, 0);
  hi.behave({ status: 503 });
  routedTo(await s.chat(), 'lo', true);
  assert.equal(lo.requests.length, 1);
});

// ---------------------------------------------------------------------------------
// Circuit breakers

test('a breaker opens after N failures, skips the upstream for the cooldown, and closes after a successful probe', async (t) => {
  const a = await fake(t, { status: 500 });
  const b = await fake(t);
  const s = await setup(t, { a: { url: a.baseUrl, breaker: { failures: 2, cooldown_ms: 300 } }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  routedTo(await s.chat(), 'b', true);
  routedTo(await s.chat(), 'b', true);
  const openedAt = performance.now();
  assert.equal(a.requests.length, 2);
  // Open: `a` receives nothing; `b` answers directly (as many requests as fit well
  // inside the cooldown, so a slow machine cannot turn this into a probe).
  let during = 0;
  while (during < 3 && performance.now() - openedAt < 150) {
    const res = await s.chat();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-tollgate-provider'), 'b');
    // The first-choice route was skipped for its open breaker: that is a failover too.
    assert.equal(res.headers.get('x-tollgate-failover'), 'true');
    during++;
  }
  assert.ok(during >= 1, 'at least one request within the cooldown');
  assert.equal(a.requests.length, 2, 'no request reached the open upstream during the cooldown');

  // Cooldown over, `a` still failing: one probe, which fails and reopens the breaker.
  await sleep(320);
  routedTo(await s.chat(), 'b', true);
  assert.equal(a.requests.length, 3, 'one probe');
  assert.equal((await s.chat()).headers.get('x-tollgate-provider'), 'b');
  assert.equal(a.requests.length, 3, 'reopened after the failed probe');

  // Cooldown over again, `a` healthy: the probe succeeds and the breaker closes.
  a.behave({ text: 'a is back' });
  await sleep(320);
  const probe = await s.chat();
  routedTo(probe, 'a', false);
  assert.equal(JSON.parse(probe.text).choices[0].message.content, 'a is back');
  for (let i = 0; i < 5; i++) routedTo(await s.chat(), 'a', false);
  assert.equal(a.requests.length, 4 + 5);
  assert.equal(b.requests.length, 2 + during + 2);
});

test("a 404 for one route's model fails over without pausing the upstream: its other models are still served", async (t) => {
  // One upstream serving `live-model` and no longer `gone-model`.
  const x = await rawServer(t, (req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const model = JSON.parse(raw).model;
      if (model === 'gone-model') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `The model \`${model}\` does not exist.`, type: 'invalid_request_error', param: null, code: 'model_not_found' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'from x' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }));
    });
  });
  const y = await fake(t, { text: 'from y' });
  const tg = await startTestGateway({
    config: {
      providers: [
        { id: 'x', kind: 'openai', base_url: x.url, api_key: UPSTREAM_SECRET, breaker: { failures: 2, cooldown_ms: 10_000 } },
        { id: 'y', kind: 'openai', base_url: y.baseUrl, api_key: UPSTREAM_SECRET },
      ],
      models: [
        { id: 'old', upstreams: [{ provider: 'x', model: 'gone-model', priority: 1 }, { provider: 'y', model: 'y-model' }], pricing: PRICES },
        { id: 'live', upstreams: [{ provider: 'x', model: 'live-model' }], pricing: PRICES },
      ],
    },
  });
  t.after(() => tg.close());
  const { key } = await tg.customer();
  const ask = (model: string) => post(`${tg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] }, { key });
  for (let i = 0; i < 4; i++) {
    const r = await ask('old');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-provider'), 'y');
  }
  assert.equal(x.hits(), 4, 'each request tried x first: its breaker never opened');
  const live = await ask('live');
  assert.equal(live.status, 200, live.text);
  assert.equal(JSON.parse(live.text).choices[0].message.content, 'from x');
});

test('a half-open probe that is a long stream closes the breaker when it opens, not when it ends: requests meanwhile are served', async (t) => {
  const a = await fake(t, { status: 500 });
  const s = await setup(t, { a: { url: a.baseUrl, breaker: { failures: 1, cooldown_ms: 200 } } }, [{ provider: 'a' }]);
  assert.equal((await s.chat()).status, 502);
  expectError(await s.chat(), { status: 503, type: 'api_error', code: 'upstreams_unavailable', param: null });
  await sleep(250);
  a.behave({ text: 'one two three four five six seven eight', chunkDelayMs: 100 });
  const probe = s.chat({ stream: true });
  await sleep(150); // the probe's stream is open and running
  const meanwhile = await s.chat();
  assert.equal(meanwhile.status, 200, meanwhile.text);
  const streamed = await probe;
  assert.match(streamed.text, /\[DONE\]/);
});

test('only one probe goes through a half-open breaker at a time', async (t) => {
  const a = await fake(t, { status: 500 });
  const b = await fake(t);
  const s = await setup(t, { a: { url: a.baseUrl, breaker: { failures: 1, cooldown_ms: 200 } }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  routedTo(await s.chat(), 'b', true);
  assert.equal(a.requests.length, 1);
  await sleep(230);
  a.behave({ delayMs: 400 }); // a slow but healthy probe, still running while the others arrive
  const results = await Promise.all(Array.from({ length: 6 }, () => s.chat()));
  for (const r of results) assert.equal(r.status, 200);
  assert.equal(a.requests.length, 2, 'a single probe while half-open');
  assert.equal(results.filter((r) => r.headers.get('x-tollgate-provider') === 'a').length, 1);
});

test('all routes down → 503 upstreams_unavailable with Retry-After; with every breaker open the upstreams are not called', async (t) => {
  const a = await fake(t, { status: 500 });
  const b = await fake(t, { status: 503 });
  const s = await setup(t, { a: { url: a.baseUrl, breaker: { failures: 2, cooldown_ms: 4000 } }, b: { url: b.baseUrl, breaker: { failures: 2, cooldown_ms: 4000 } } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  const exp = { status: 503, type: 'api_error', code: 'upstreams_unavailable', param: null };
  const e1 = expectError(await s.chat(), exp, [UPSTREAM_SECRET, a.baseUrl, b.baseUrl]);
  assert.match(e1.message, /2 tried/);
  const r2 = await s.chat({ stream: true });
  expectError(r2, exp);
  for (const r of [r2]) assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  assert.equal(a.requests.length, 2);
  assert.equal(b.requests.length, 2);
  // Both breakers are open now: refused at once, Retry-After ≈ the cooldown left.
  const t0 = performance.now();
  const r3 = await s.chat();
  assert.ok(performance.now() - t0 < 1000);
  const e3 = expectError(r3, exp);
  assert.match(e3.message, /0 tried/);
  const ra = Number(r3.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 4, `retry-after ${ra}`);
  assert.equal(a.requests.length, 2);
  assert.equal(b.requests.length, 2);
});

test("all routes down, each with its own Retry-After: the 503's Retry-After is the soonest of them, not 1 second", async (t) => {
  const a = await fake(t, { status: 429, headers: { 'retry-after': '30' } });
  const b = await fake(t, { status: 503, headers: { 'retry-after': '20' } });
  const s = await setup(t, { a: { url: a.baseUrl }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 1 }, { provider: 'b' }]);
  const exp = { status: 503, type: 'api_error', code: 'upstreams_unavailable', param: null };
  const r1 = await s.chat();
  expectError(r1, exp);
  assert.equal(r1.headers.get('retry-after'), '20');
  // A route that gave no wait (here: a 500 without Retry-After) may answer a second later.
  b.behave({ status: 500 });
  const r2 = await s.chat();
  expectError(r2, exp);
  assert.equal(r2.headers.get('retry-after'), '1');
});

test('a single failing route gives its own error (not 503), with Retry-After on an upstream 429', async (t) => {
  const a = await fake(t, { status: 429, headers: { 'retry-after': '12' } });
  const s = await setup(t, { a: { url: a.baseUrl } }, [{ provider: 'a' }]);
  const r = await s.chat();
  expectError(r, { status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited', param: null });
  assert.equal(r.headers.get('retry-after'), '12');
  a.behave({ status: 500 });
  expectError(await s.chat(), { status: 502, type: 'api_error', code: 'upstream_error', param: null });
});

// ---------------------------------------------------------------------------------
// Limits and billing

test('failover attempts do not count against the plan\'s rate limit', async (t) => {
  const dead = `http://127.0.0.1:${CLOSED_PORT}/v1`;
  const b = await fake(t);
  const s = await setup(t, { dead: { url: dead }, b: { url: b.baseUrl } }, [{ provider: 'dead', priority: 1 }, { provider: 'b' }], { plans: [{ id: 'tight', rpm: 2 }], plan: 'tight' });
  // Two requests, each with two upstream attempts: both fit an rpm of 2.
  for (let i = 0; i < 2; i++) {
    const r = await s.chat();
    assert.equal(r.status, 200, `request ${i + 1} of 2 within rpm 2 (${r.text})`);
    routedTo(r, 'b', true);
  }
  // The limit itself is live: the third request in the minute is refused before routing.
  const n = b.requests.length;
  expectError(await s.chat(), { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' });
  assert.equal(b.requests.length, n);
});

test('only the answering attempt is billed: one charge, at the answering route\'s usage', async (t) => {
  const a = await fake(t, { status: 500, usage: { prompt_tokens: 99_999, completion_tokens: 99_999, total_tokens: 199_998 } });
  const c = await fake(t, { status: 429 });
  const b = await fake(t, { promptTokens: 100, completionTokens: 10 });
  const s = await setup(t, { a: { url: a.baseUrl }, c: { url: c.baseUrl }, b: { url: b.baseUrl } }, [{ provider: 'a', priority: 2 }, { provider: 'c', priority: 1 }, { provider: 'b' }]);
  for (const stream of [false, true]) {
    const res = await s.chat(stream ? { stream, stream_options: { include_usage: true } } : {});
    assert.equal(res.status, 200, res.text);
    routedTo(res, 'b', true);
    const charges = await s.charges(res.headers.get('x-request-id')!);
    assert.equal(charges.length, 1, 'exactly one charge for the request');
    assert.equal(-usdToPico(charges[0].amount_usd), costOf(100, 10));
    assert.equal(charges[0].detail.provider, 'b');
    assert.equal(charges[0].detail.upstream_model, 'b-model');
    assert.equal(charges[0].detail.prompt_tokens, 100);
    assert.equal(charges[0].detail.completion_tokens, 10);
  }
  const all = (await s.tg.admin('GET', `/accounts/${s.accountId}/ledger?limit=1000`)).body.data.filter((e: any) => e.kind === 'charge');
  assert.equal(all.length, 2);
  assert.equal(a.requests.length, 2);
  assert.equal(c.requests.length, 2);
});
