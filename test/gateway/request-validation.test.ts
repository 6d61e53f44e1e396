import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, get, post } from '../helpers/http.ts';
import { limitsConfig, textOfTokens } from '../limits/helpers.ts';
import { before, after } from 'node:test';

// What the gateway refuses, and what it counts and caps, for values OpenAI itself refuses
// or that a translating adapter would drop without a word.

describe('chat request validation and caps', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  const TINY = { id: 'tiny', models: ['deepseek-*'], context_tokens: 1000, max_output_tokens: 100 };

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: limitsConfig(up.baseUrl, [TINY]) });
    ({ key } = await tg.customer({ plan: 'tiny' }));
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  const chat = (body: Record<string, unknown>) => post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], ...body }, { key });

  test('max_tokens above the plan cap is clamped even when a smaller max_completion_tokens is also sent', async () => {
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    const n = up.requests.length;
    await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100_000, max_completion_tokens: 10 });
    const sent = up.requests[n]!.body;
    // An upstream that reads max_tokens (most OpenAI-compatible ones) must not get past the cap.
    assert.ok(sent.max_tokens <= 100, `max_tokens sent upstream: ${sent.max_tokens}`);
    assert.ok(sent.max_completion_tokens <= 100, `max_completion_tokens sent upstream: ${sent.max_completion_tokens}`);
  });

  test('legacy functions and function_call count against the context cap', async () => {
    const n = up.requests.length;
    const big = textOfTokens(3000);
    expectError(await chat({ functions: [{ name: 'f', description: big, parameters: { type: 'object' } }] }), { status: 413, type: 'invalid_request_error', code: 'context_length_exceeded' });
    expectError(
      await chat({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, function_call: { name: 'f', arguments: JSON.stringify({ a: big }) } }, { role: 'function', name: 'f', content: 'ok' }] }),
      { status: 413, type: 'invalid_request_error', code: 'context_length_exceeded' },
    );
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
  });

  test('a content part that is not an object, has no type, or whose text is not a string is a 400 naming it', async () => {
    const n = up.requests.length;
    const cases: [unknown, string][] = [
      [[{ type: 'text', text: 5 }], 'messages[0].content[0].text'],
      [[{ type: 'text', text: 'a' }, { type: 'text' }], 'messages[0].content[1].text'],
      [[null], 'messages[0].content[0]'],
      [['plain'], 'messages[0].content[0]'],
      [[{ text: 'a' }], 'messages[0].content[0].type'],
    ];
    for (const [content, param] of cases) {
      expectError(await chat({ messages: [{ role: 'user', content }] }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param });
    }
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
  });

  test("an assistant message's tool_calls must be an array of objects", async () => {
    const n = up.requests.length;
    for (const [tool_calls, param] of [['x', 'messages[1].tool_calls'], [{}, 'messages[1].tool_calls'], [[null], 'messages[1].tool_calls[0]'], [[1], 'messages[1].tool_calls[0]']] as const) {
      expectError(await chat({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', tool_calls }] }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param });
    }
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
  });

  test('a function tool, and a call to one, must name its function', async () => {
    const n = up.requests.length;
    for (const [tool_calls, param] of [[[{}], 'messages[1].tool_calls[0].function'], [[{ id: 'c', type: 'function', function: null }], 'messages[1].tool_calls[0].function'], [[{ id: 'c', type: 'function', function: { arguments: '{}' } }], 'messages[1].tool_calls[0].function.name']] as const) {
      expectError(await chat({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', tool_calls }] }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param });
    }
    for (const [tools, param] of [[[null], 'tools[0]'], [[{ type: 'function', function: null }], 'tools[0].function'], [[{ type: 'function', function: { description: 'd' } }], 'tools[0].function.name']] as const) {
      expectError(await chat({ tools }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param });
    }
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
  });

  test('sampling parameters that are not numbers are a 400, not the provider default', async () => {
    const n = up.requests.length;
    for (const [field, value] of [['temperature', '0.2'], ['top_p', true], ['presence_penalty', [1]], ['frequency_penalty', {}], ['seed', 1.5], ['seed', '7']] as const) {
      expectError(await chat({ [field]: value }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: field });
    }
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], temperature: 0.2, top_p: 1, presence_penalty: -0.5, frequency_penalty: 0, seed: 7 });
    assert.equal(up.requests.at(-1)!.body.temperature, 0.2);
  });

  test('a max_tokens too large for a number says so, not "got null"', async () => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"model":"deepseek-v4-flash","messages":[{"role":"user","content":"hi"}],"max_tokens":1e400}',
    });
    const e = expectError({ status: res.status, headers: res.headers, text: await res.text() }, { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'max_tokens' });
    assert.doesNotMatch(e.message, /null/);
    assert.match(e.message, /too large/);
  });

  test('an empty model is refused as empty, not as "got string"', async () => {
    const e = expectError(await chat({ model: '' }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'model' });
    assert.match(e.message, /empty/);
    assert.doesNotMatch(e.message, /got string/);
  });
});

describe('embeddings input validation', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: limitsConfig(up.baseUrl) });
    ({ key } = await tg.customer());
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  test('input is a string, or an array of strings, of token ids (non-negative integers), or of token-id arrays, never mixed', async () => {
    const n = up.requests.length;
    // [1, text]: read as one token-id array, the text was counted as one token and never
    // measured against the context window.
    for (const input of [[1, 'x'.repeat(50_000)], ['a', 1], [['a']], [1.5], [-1], [[1], 2], [[1, 'a']], [[1, -2]]]) {
      expectError(await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input }, { key }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'input' });
    }
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    for (const input of ['a', ['a', 'b'], [0, 1, 2], [[1, 2], [3]]]) {
      const r = await client.embeddings.create({ model: 'embed-small', input });
      assert.equal(r.object, 'list');
    }
    assert.equal(up.requests.length, n + 4);
  });
});

describe('model names', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key } = await tg.customer());
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  test('a model name longer than any model can have is a 400 that does not echo it, and is not kept in the request log', async () => {
    const long = 'm'.repeat(200_000);
    for (const [path, body] of [
      ['/v1/chat/completions', { model: long, messages: [{ role: 'user', content: 'hi' }] }],
      ['/v1/embeddings', { model: long, input: 'x' }],
    ] as const) {
      const res = await post(`${tg.url}${path}`, body, { key });
      const e = expectError(res, { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'model' });
      assert.ok(res.text.length < 1000, `error body of ${res.text.length} bytes`);
      assert.match(e.message, /at most 1024 characters/);
    }
    const r = await get(`${tg.url}/v1/models/${long.slice(0, 5000)}`, { key });
    expectError(r, { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    assert.ok(r.text.length < 2000, `error body of ${r.text.length} bytes`);
    // A name at the limit is looked up as usual.
    expectError(await post(`${tg.url}/v1/chat/completions`, { model: 'm'.repeat(1024), messages: [{ role: 'user', content: 'hi' }] }, { key }), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    await waitForLog(tg, 3);
    const log = await tg.admin('GET', '/requests?limit=10');
    assert.equal(log.status, 200);
    assert.ok(JSON.stringify(log.body).length < 20_000, `request log holds ${JSON.stringify(log.body).length} bytes`);
  });
});

async function waitForLog(tg: TestGateway, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const log = await tg.admin('GET', '/requests?limit=10');
    if ((log.body?.data?.length ?? 0) >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
