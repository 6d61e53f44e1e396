import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall } from 'openai/resources/chat/completions';
import { startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic.ts';
import { startFakeGemini, type FakeGemini } from '../helpers/fake-gemini.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// A conversation whose turns are answered by different providers (a model whose routes
// span them fails over, or its operator changes them between turns). The Anthropic and
// Gemini adapters carry state in the tool call ids they return; replayed to another
// provider, those ids used to go as they were: hundreds of characters to an OpenAI-wire
// upstream (OpenAI: 400, "Expected a string with maximum length 40"), a Gemini thought
// signature to Anthropic as a thinking block's, an Anthropic id whole to Gemini.

const breaker = { failures: 1000, cooldown_ms: 10_000 };
const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
const ANTHROPIC_TOOL_USE_ID = 'toolu_01CswdEQBMshySk6Y9DFKrfq';
const ANTHROPIC_SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+ZfqYjzwQ8tRMzAf9/+t5KIybbhc6Jk2xzPjQ2MiU4hkjVAuJTz8kDkv7l/2qNWQjb6YjJEZ0QK8uA5Et3bS8TQIRBjTuUyRkxdBRRXhCQ==';
const GEMINI_SIGNATURE = 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==';

interface Upstreams {
  anthropic?: FakeAnthropic;
  gemini?: FakeGemini;
  openai?: FakeOpenAI;
}

/** Model `m` served by the given providers, tried in the order given. */
async function gateway(t: TestContext, order: Array<keyof Upstreams>, ups: Upstreams, geminiModel = 'gemini-2.5-flash'): Promise<OpenAI> {
  const base = { anthropic: ups.anthropic?.baseUrl, gemini: ups.gemini?.baseUrl, openai: ups.openai?.baseUrl };
  const models = { anthropic: 'claude-sonnet-4-5-20250929', gemini: geminiModel, openai: 'gpt-4.1' };
  const tg = await startTestGateway({
    config: {
      providers: order.map((kind) => ({ id: kind, kind, base_url: base[kind], api_key: UPSTREAM_SECRET, breaker })),
      models: [{ id: 'm', upstreams: order.map((kind, i) => ({ provider: kind, model: models[kind], priority: order.length - i })), pricing: { input: '1', output: '2' } }],
    },
  });
  t.after(() => tg.close());
  return new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
}

/** A streamed answer's tool calls, put together as a client does. */
async function streamedToolCalls(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>): Promise<{ calls: ChatCompletionMessageToolCall[]; reasoning: string }> {
  const calls: any[] = [];
  let reasoning = '';
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta as any;
    if (typeof delta?.reasoning_content === 'string') reasoning += delta.reasoning_content;
    for (const d of delta?.tool_calls ?? []) {
      const c = (calls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
      if (d.id) c.id = d.id;
      if (d.function?.name) c.function.name += d.function.name;
      if (d.function?.arguments) c.function.arguments += d.function.arguments;
    }
  }
  return { calls, reasoning };
}

function nextTurn(calls: ChatCompletionMessageToolCall[], reasoning: string | undefined): ChatCompletionMessageParam[] {
  return [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: calls, ...(reasoning ? { reasoning_content: reasoning } : {}) } as ChatCompletionMessageParam,
    ...calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: '18 C' })),
  ];
}

test('a tool loop that starts on Anthropic with thinking and fails over to an OpenAI-wire upstream goes on', async (t) => {
  const anthropic = await startFakeAnthropic({ scenario: 'thinking' });
  t.after(() => anthropic.close());
  const openai = await startFakeOpenAI({ text: 'It is 18 C in Paris.', openaiToolCallRules: true });
  t.after(() => openai.close());
  const client = await gateway(t, ['anthropic', 'openai'], { anthropic, openai });

  const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, stream: true });
  const { calls, reasoning } = await streamedToolCalls(first);
  assert.equal(openai.requests.length, 0, 'the first turn was Anthropic\'s');
  assert.ok(calls.length > 0 && calls.every((c) => c.id.length > 40), 'the ids carry the thinking blocks');

  anthropic.setScenario('error-529');
  const second = await client.chat.completions.create({ model: 'm', messages: nextTurn(calls, reasoning), tools }).withResponse();
  assert.equal(second.response.headers.get('x-tollgate-provider'), 'openai');
  assert.equal(second.data.choices[0]!.message.content, 'It is 18 C in Paris.');
  const sent = openai.requests.at(-1)!.body;
  const sentCalls = sent.messages[1].tool_calls.map((c: any) => c.id);
  assert.deepEqual(sentCalls, calls.map(() => ANTHROPIC_TOOL_USE_ID).slice(0, calls.length));
  assert.deepEqual(sent.messages.slice(2).map((m: any) => m.tool_call_id), sentCalls);
});

test('ids a client made up itself reach an OpenAI-wire upstream byte for byte, markers and all', async (t) => {
  const openai = await startFakeOpenAI({ text: 'ok', openaiToolCallRules: true });
  t.after(() => openai.close());
  const client = await gateway(t, ['openai'], { openai });
  const calls: ChatCompletionMessageToolCall[] = [
    { id: 'fn__ts__1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
    { id: 'call_ABC/def+ghi=', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
  ];
  await client.chat.completions.create({ model: 'm', messages: nextTurn(calls, undefined), tools });
  const got = openai.requests.at(-1)!;
  assert.deepEqual(got.body.messages[1].tool_calls.map((c: any) => c.id), ['fn__ts__1', 'call_ABC/def+ghi=']);
  assert.ok(got.text.includes('"tool_call_id":"fn__ts__1"'));
});

test('an id another adapter encoded is shortened the same way in a body the gateway re-serialises', async (t) => {
  const openai = await startFakeOpenAI({ text: 'ok', openaiToolCallRules: true });
  t.after(() => openai.close());
  const client = await gateway(t, ['openai'], { openai });
  // A Gemini id whose plain part is itself over 40 characters, with `/` in its signature
  // that a PHP client would write as `\/`: the text cannot be edited where it stands.
  const id = `fc-${'x'.repeat(50)}__ts__${GEMINI_SIGNATURE}/Zm9v`;
  const body = JSON.stringify({ model: 'm', tools, messages: nextTurn([{ id, type: 'function', function: { name: 'get_weather', arguments: '{}' } }], undefined) }).replaceAll('/', '\\/');
  assert.ok(body.includes('\\/'));
  const res = await fetch(`${client.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200, await res.text());
  const sent = openai.requests.at(-1)!.body;
  const out = sent.messages[1].tool_calls[0].id;
  assert.ok(out.length <= 40 && out !== id);
  assert.equal(sent.messages[2].tool_call_id, out);
});

test('a Gemini id replayed to Anthropic goes as a plain id, its signature not taken for a thinking block\'s', async (t) => {
  const gemini = await startFakeGemini({ scenario: 'tools' });
  t.after(() => gemini.close());
  const anthropic = await startFakeAnthropic({ scenario: 'simple' });
  t.after(() => anthropic.close());
  const client = await gateway(t, ['gemini', 'anthropic'], { gemini, anthropic });

  const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools });
  const calls = first.choices[0]!.message.tool_calls as ChatCompletionMessageToolCall[];
  assert.ok(calls[0]!.id.includes(GEMINI_SIGNATURE), 'the first call carries its thought signature');

  gemini.setScenario('error-500');
  const second = await client.chat.completions.create({ model: 'm', messages: nextTurn(calls, 'I should look up the weather.'), tools }).withResponse();
  assert.equal(second.response.headers.get('x-tollgate-provider'), 'anthropic');
  const sent = anthropic.requests.at(-1)!.body;
  const assistant = sent.messages[1].content;
  assert.ok(!JSON.stringify(sent).includes(GEMINI_SIGNATURE), 'no Gemini signature reached Anthropic');
  assert.deepEqual(assistant.filter((b: any) => b.type === 'thinking'), []);
  const ids = assistant.filter((b: any) => b.type === 'tool_use').map((b: any) => b.id);
  assert.equal(ids[0], calls[0]!.id.slice(0, calls[0]!.id.indexOf('__ts__')));
  assert.deepEqual(sent.messages[2].content.map((b: any) => b.tool_use_id), ids);
});

test('an Anthropic id replayed to Gemini goes as its tool_use id, without Anthropic\'s signature', async (t) => {
  const anthropic = await startFakeAnthropic({ scenario: 'thinking' });
  t.after(() => anthropic.close());
  const gemini = await startFakeGemini({ scenario: 'simple' });
  t.after(() => gemini.close());
  const client = await gateway(t, ['anthropic', 'gemini'], { anthropic, gemini }, 'gemini-3-pro-preview');

  const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools });
  const message = first.choices[0]!.message as any;
  const calls = message.tool_calls as ChatCompletionMessageToolCall[];
  assert.ok(calls[0]!.id.startsWith(`${ANTHROPIC_TOOL_USE_ID}__tb__`));

  anthropic.setScenario('error-529');
  const second = await client.chat.completions.create({ model: 'm', messages: nextTurn(calls, message.reasoning_content), tools }).withResponse();
  assert.equal(second.response.headers.get('x-tollgate-provider'), 'gemini');
  const sent = gemini.requests.at(-1)!.body;
  assert.ok(!JSON.stringify(sent).includes(ANTHROPIC_SIGNATURE), 'no Anthropic signature reached Gemini');
  const call = sent.contents[1].parts.find((p: any) => p.functionCall);
  assert.equal(call.functionCall.id, ANTHROPIC_TOOL_USE_ID);
  assert.equal(sent.contents[2].parts[0].functionResponse.id, ANTHROPIC_TOOL_USE_ID);
});

test('a legacy Anthropic id (__ts__) replayed to Gemini is not read as a thought signature', async (t) => {
  const gemini = await startFakeGemini({ scenario: 'simple' });
  t.after(() => gemini.close());
  const client = await gateway(t, ['gemini'], { gemini });
  const id = `${ANTHROPIC_TOOL_USE_ID}__ts__${ANTHROPIC_SIGNATURE}`;
  await client.chat.completions.create({ model: 'm', messages: nextTurn([{ id, type: 'function', function: { name: 'get_weather', arguments: '{}' } }], undefined), tools });
  const sent = gemini.requests.at(-1)!.body;
  const call = sent.contents[1].parts.find((p: any) => p.functionCall);
  assert.equal(call.functionCall.id, ANTHROPIC_TOOL_USE_ID);
  assert.equal(call.thoughtSignature, undefined);
});

test('an encoded id is replaced only as an id: the same text as a message\'s content, or an occurrence written otherwise, keeps the pairs and the content', async (t) => {
  const openai = await startFakeOpenAI({ text: 'ok', openaiToolCallRules: true });
  t.after(() => openai.close());
  const client = await gateway(t, ['openai'], { openai });
  const id = `${ANTHROPIC_TOOL_USE_ID}__tb__${ANTHROPIC_SIGNATURE}`;
  const post = async (body: string) => {
    const res = await fetch(`${client.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200, await res.text());
    return openai.requests.at(-1)!.body;
  };

  // A user who pastes the id: their words reach the model as written.
  const messages = [...nextTurn([{ id, type: 'function', function: { name: 'get_weather', arguments: '{}' } }], undefined), { role: 'user', content: id }];
  const sent = await post(JSON.stringify({ model: 'm', tools, messages }));
  assert.equal(sent.messages[1].tool_calls[0].id, ANTHROPIC_TOOL_USE_ID);
  assert.equal(sent.messages[2].tool_call_id, ANTHROPIC_TOOL_USE_ID);
  assert.equal(sent.messages[3].content, id);

  // The assistant's id written with `\/`, the tool message's without: both are shortened alike.
  const escapedOnce = JSON.stringify({ model: 'm', tools, messages: messages.slice(0, 3) }).replace(JSON.stringify(id), JSON.stringify(id).replaceAll('/', '\\/'));
  assert.ok(escapedOnce.includes('\\/') && escapedOnce.includes(JSON.stringify(id)));
  const mixed = await post(escapedOnce);
  assert.equal(mixed.messages[1].tool_calls[0].id, ANTHROPIC_TOOL_USE_ID);
  assert.equal(mixed.messages[2].tool_call_id, ANTHROPIC_TOOL_USE_ID);
});
