import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createParser } from 'eventsource-parser';
import { startFakeGemini, type FakeGemini } from '../../helpers/fake-gemini.ts';
import { geminiAdapter } from '../../../src/providers/gemini/adapter.ts';
import type { ChatCall, StreamItem } from '../../../src/providers/types.ts';
import type { ProviderConfig } from '../../../src/config/schema.ts';

let fake: FakeGemini;
let provider: ProviderConfig;
before(async () => {
  fake = await startFakeGemini({ apiKey: 'AIza-fake', eventDelayMs: 1 });
  provider = { id: 'gemini', kind: 'gemini' as any, base_url: fake.baseUrl, api_key: 'AIza-fake', headers: {}, timeout_ms: 10_000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false };
});
after(() => fake.close());

async function send(call: ChatCall, p = provider) {
  const req = geminiAdapter.buildChatRequest(call, p);
  return fetch(p.base_url + req.path, { method: 'POST', headers: req.headers, body: req.body });
}

async function stream(call: ChatCall): Promise<StreamItem[]> {
  const res = await send(call);
  assert.equal(res.status, 200);
  const t = geminiAdapter.createStreamTranslator(call);
  const out: StreamItem[] = [];
  const parser = createParser({ onEvent: (e) => t.push({ event: e.event, data: e.data }, out) });
  const decoder = new TextDecoder();
  for await (const piece of res.body!) parser.feed(decoder.decode(piece as Uint8Array, { stream: true }));
  t.end(out);
  return out;
}

const weather = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } };
const chat = (content: string, extra: Record<string, any> = {}, isStream = false, model = 'gemini-2.5-flash'): ChatCall => ({
  body: { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content }], ...extra },
  upstreamModel: model,
  stream: isStream,
});
const deltas = (items: StreamItem[]) => items.filter((i) => i.kind === 'chunk').map((i) => JSON.parse((i as any).json).choices[0].delta);

test('the adapter requests pass the fake checks; non-streaming answer', async () => {
  fake.setScenario('simple');
  const res = await send(chat('Hello', { temperature: 0.3, max_tokens: 100, response_format: { type: 'json_object' } }));
  assert.equal(res.status, 200);
  const parsed = geminiAdapter.parseChatResponse(await res.json());
  assert.equal(parsed.body.choices[0].message.content, 'Hello! How can I help you today?');
  const r = fake.requests.at(-1)!;
  assert.equal(r.path, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(r.headers['x-goog-api-key'], 'AIza-fake');
});

test('tool loop on Gemini 3: streamed parallel calls, then the signatures go back and pass validation', async () => {
  const model = 'gemini-3-pro-preview';
  const first = await stream(chat('scenario:tools weather in SF and Paris?', { tools: [weather, { type: 'function', function: { name: 'get_time' } }] }, true, model));
  const calls: any[] = [];
  for (const d of deltas(first)) for (const tc of d.tool_calls ?? []) {
    if (tc.id) calls[tc.index] = { id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } };
    else calls[tc.index].function.arguments += tc.function.arguments;
  }
  assert.equal(calls.length, 3);
  fake.setScenario('simple');
  const second = await send({
    body: {
      messages: [
        { role: 'user', content: 'weather in SF and Paris?' },
        { role: 'assistant', content: 'Checking both cities.', tool_calls: calls },
        ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: '{"ok":true}' })),
      ],
      tools: [weather, { type: 'function', function: { name: 'get_time' } }],
    },
    upstreamModel: model,
    stream: false,
  });
  assert.equal(second.status, 200, await second.clone().text());
  const parts = fake.requests.at(-1)!.body.contents[1].parts;
  assert.equal(parts[1].thoughtSignature, 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==');
});

test('streams: thinking fixture and a synthesised stream for image', async () => {
  fake.setScenario('thinking');
  const t = await stream(chat('count', { reasoning_effort: 'low' }, true));
  assert.match(deltas(t).map((d) => d.reasoning_content ?? '').join(''), /Counting the letters/);
  assert.deepEqual(t.slice(-2).map((i) => i.kind), ['usage', 'done']);
  fake.setScenario('image');
  const img = await stream(chat('describe', {}, true));
  assert.match(deltas(img).map((d) => d.content ?? '').join(''), /an ant/);
  assert.equal(fake.requests.at(-1)!.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
});

test('error scenarios in Google\'s error shape', async () => {
  for (const [scenario, status, type] of [['error-400', 400, 'INVALID_ARGUMENT'], ['error-401', 401, 'UNAUTHENTICATED'], ['error-429', 429, 'RESOURCE_EXHAUSTED'], ['error-500', 500, 'INTERNAL'], ['error-503', 503, 'UNAVAILABLE']] as const) {
    fake.setScenario(scenario);
    const res = await send(chat('hi'));
    assert.equal(res.status, status, scenario);
    if (scenario === 'error-429') assert.equal(res.headers.get('retry-after'), '37');
    assert.equal(geminiAdapter.parseError(res.status, await res.text()).code, type);
  }
  fake.setScenario('stream-error');
  assert.equal((await stream(chat('hi', {}, true))).at(-1)!.kind, 'error');
  fake.setScenario('simple');
  const badKey = await send(chat('hi'), { ...provider, api_key: 'wrong' });
  assert.equal(badKey.status, 400);
  assert.equal(geminiAdapter.parseError(400, await badKey.text()).code, 'API_KEY_INVALID');
});

test('the fake rejects malformed requests with a 400 in Google\'s error shape', async () => {
  const url = `${fake.baseUrl}/models/gemini-3-pro-preview:generateContent`;
  const headers = { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-fake' };
  const bad = [
    { messages: [{ role: 'user', content: 'openai shape' }] },
    { contents: [] },
    { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] },
    { contents: [{ role: 'user', parts: [{ text: 'x', inlineData: { mimeType: 'image/png', data: '' } }] }] },
    { contents: [{ role: 'user', parts: [{ text: 'x' }] }], generationConfig: { max_tokens: 5 } },
    { contents: [{ role: 'user', parts: [{ text: 'x' }] }, { role: 'model', parts: [{ functionCall: { name: 'f', args: {} } }] }] },
    { contents: [{ role: 'user', parts: [{ text: 'x' }] }, { role: 'model', parts: [{ functionCall: { name: 'f', args: {} }, thoughtSignature: 'c2ln' }] }, { role: 'user', parts: [{ functionResponse: { name: 'g', response: {} } }] }] },
  ];
  for (const body of bad) {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(res.status, 400, JSON.stringify(body));
    const j: any = await res.json();
    assert.equal(j.error.status, 'INVALID_ARGUMENT');
  }
  const noKey = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] }) });
  assert.equal(noKey.status, 403);
});
