import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createParser } from 'eventsource-parser';
import { startFakeAnthropic, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { anthropicAdapter } from '../../../src/providers/anthropic/adapter.ts';
import type { ChatCall, StreamItem } from '../../../src/providers/types.ts';
import type { ProviderConfig } from '../../../src/config/schema.ts';

let fake: FakeAnthropic;
let provider: ProviderConfig;
before(async () => {
  fake = await startFakeAnthropic({ apiKey: 'sk-ant-fake', eventDelayMs: 1 });
  provider = { id: 'anthropic', kind: 'anthropic' as any, base_url: fake.baseUrl, api_key: 'sk-ant-fake', headers: {}, timeout_ms: 10_000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false };
});
after(() => fake.close());

async function send(call: ChatCall, p = provider) {
  const req = anthropicAdapter.buildChatRequest(call, p);
  return fetch(p.base_url + req.path, { method: 'POST', headers: req.headers, body: req.body });
}

async function stream(call: ChatCall): Promise<StreamItem[]> {
  const res = await send(call);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const t = anthropicAdapter.createStreamTranslator(call);
  const out: StreamItem[] = [];
  const parser = createParser({ onEvent: (e) => t.push({ event: e.event, data: e.data }, out) });
  const decoder = new TextDecoder();
  for await (const piece of res.body!) parser.feed(decoder.decode(piece as Uint8Array, { stream: true }));
  t.end(out);
  return out;
}

const chat = (content: string, extra: Record<string, any> = {}, isStream = false): ChatCall => ({
  body: { model: 'claude', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content }], ...extra },
  upstreamModel: 'claude-haiku-4-5',
  stream: isStream,
});

test('the adapter requests pass the fake checks; non-streaming simple answer', async () => {
  fake.setScenario('simple');
  const res = await send(chat('Hello'));
  assert.equal(res.status, 200);
  const parsed = anthropicAdapter.parseChatResponse(await res.json());
  assert.equal(parsed.body.choices[0].message.content, 'Hello! How can I help you today?');
  assert.equal(parsed.body.model, 'claude-haiku-4-5');
  const recorded = fake.requests.at(-1)!;
  assert.equal(recorded.path, '/v1/messages');
  assert.equal(recorded.headers['x-api-key'], 'sk-ant-fake');
  assert.equal(recorded.body.max_tokens, 4096);
});

test('scenario marker in the last user message selects the fixture; streamed parallel tools', async () => {
  fake.setScenario('simple');
  const items = await stream(chat('scenario:tools what is the weather?', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }] }, true));
  const calls = items.filter((i) => i.kind === 'chunk').flatMap((i) => JSON.parse((i as any).json).choices[0].delta.tool_calls ?? []);
  assert.deepEqual(calls.filter((c: any) => c.id).map((c: any) => c.index), [0, 1]);
  assert.deepEqual(items.slice(-2).map((i) => i.kind), ['usage', 'done']);
});

test('multi-turn tool loop with thinking is accepted', async () => {
  fake.setScenario('thinking');
  const first = await stream(chat('Weather in Paris?', { reasoning_effort: 'low', tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }] }, true));
  const deltas = first.filter((i) => i.kind === 'chunk').map((i) => JSON.parse((i as any).json).choices[0].delta);
  const tc = deltas.find((d) => d.tool_calls)!.tool_calls[0];
  const args = deltas.flatMap((d) => d.tool_calls ?? []).map((d: any) => d.function.arguments).join('');
  fake.setScenario('simple');
  const res = await send({
    body: {
      reasoning_effort: 'low',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, reasoning_content: deltas.map((d) => d.reasoning_content ?? '').join(''), tool_calls: [{ id: tc.id, type: 'function', function: { name: tc.function.name, arguments: args } }] },
        { role: 'tool', tool_call_id: tc.id, content: '18 C' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }],
    },
    upstreamModel: 'claude-sonnet-4-5',
    stream: false,
  });
  assert.equal(res.status, 200);
  assert.equal(fake.requests.at(-1)!.body.messages[1].content[0].type, 'thinking');
});

test('synthesised stream for a scenario without an SSE fixture (image)', async () => {
  fake.setScenario('image');
  const items = await stream(chat('describe', {}, true));
  const text = items.filter((i) => i.kind === 'chunk').map((i) => JSON.parse((i as any).json).choices[0].delta.content ?? '').join('');
  assert.match(text, /an ant/);
});

test('error scenarios answer in Anthropic\'s shape with the right status', async () => {
  for (const [scenario, status, code] of [['error-401', 401, 'authentication_error'], ['error-429', 429, 'rate_limit_error'], ['error-500', 500, 'api_error'], ['error-529', 529, 'overloaded_error']] as const) {
    fake.setScenario(scenario);
    const res = await send(chat('hi'));
    assert.equal(res.status, status, scenario);
    if (scenario === 'error-429') assert.equal(res.headers.get('retry-after'), '2');
    assert.equal(anthropicAdapter.parseError(res.status, await res.text()).code, code);
  }
  fake.setScenario('stream-error');
  const items = await stream(chat('hi', {}, true));
  assert.equal(items.at(-1)!.kind, 'error');
});

test('wrong api key → 401 fixture', async () => {
  fake.setScenario('simple');
  const res = await send(chat('hi'), { ...provider, api_key: 'wrong' });
  assert.equal(res.status, 401);
});

test('the fake rejects malformed requests with a 400 in Anthropic\'s error shape', async () => {
  const headers = { 'content-type': 'application/json', 'x-api-key': 'sk-ant-fake', 'anthropic-version': '2023-06-01' };
  const bad = [
    { model: 'claude', messages: [{ role: 'user', content: 'no max_tokens' }] },
    { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] },
    { model: 'claude', max_tokens: 10, messages: [{ role: 'system', content: 'x' }] },
    { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] },
    { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }] },
    { model: 'claude', max_tokens: 10, n: 2, messages: [{ role: 'user', content: 'x' }] },
  ];
  for (const body of bad) {
    const res = await fetch(`${fake.baseUrl}/messages`, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(res.status, 400, JSON.stringify(body));
    const j: any = await res.json();
    assert.equal(j.type, 'error');
    assert.equal(j.error.type, 'invalid_request_error');
  }
  const noVersion = await fetch(`${fake.baseUrl}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-fake' }, body: JSON.stringify({ model: 'c', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }) });
  assert.equal(noVersion.status, 400);
  const noKey = await fetch(`${fake.baseUrl}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: '{}' });
  assert.equal(noKey.status, 401);
});
