import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiAdapter } from '../../../src/providers/gemini/adapter.ts';
import { mapGeminiFinishReason } from '../../../src/providers/gemini/map-gemini-finish-reason.ts';
import { convertGeminiUsage } from '../../../src/providers/gemini/convert-gemini-usage.ts';
import { readJsonFixture } from './translate-sse.ts';

const parse = (name: string) => geminiAdapter.parseChatResponse(readJsonFixture(name));

test('simple response → chat.completion', () => {
  const { body, usage } = parse('simple.response.json');
  assert.equal(body.id, 'chatcmpl-dX6LadKVC7SZ28oPr9yJoQs');
  assert.equal(body.object, 'chat.completion');
  assert.equal(body.model, 'gemini-2.5-flash');
  assert.deepEqual(body.choices, [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null }, logprobs: null, finish_reason: 'stop' }]);
  assert.deepEqual(usage, { prompt: 8, cached: 0, cacheWrite: 0, completion: 9, reasoning: 0 });
  assert.equal(body.usage.total_tokens, 17);
});

test('parallel function calls → tool_calls; STOP with calls → tool_calls; signature in id and extra_content', () => {
  const { body, usage } = parse('tools.response.json');
  const msg = body.choices[0].message;
  assert.equal(msg.content, null);
  assert.equal(body.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.tool_calls.length, 2);
  const [a, b] = msg.tool_calls;
  const sig = 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==';
  assert.match(a.id, /^call_[0-9a-f]{24}__ts__/);
  assert.ok(a.id.endsWith(`__ts__${sig}`));
  assert.deepEqual(a.extra_content, { google: { thought_signature: sig } });
  assert.deepEqual({ ...a, id: 'x' }, { id: 'x', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' }, extra_content: { google: { thought_signature: sig } } });
  assert.match(b.id, /^call_[0-9a-f]{24}$/);
  assert.notEqual(a.id, b.id);
  assert.deepEqual(b.function, { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' });
  assert.deepEqual(usage, { prompt: 95, cached: 0, cacheWrite: 0, completion: 40 + 176, reasoning: 176 });
  assert.equal(body.usage.completion_tokens_details.reasoning_tokens, 176);
});

test('a second turn built from the parsed tool calls sends the signature back', () => {
  const { body } = parse('tools.response.json');
  const calls = body.choices[0].message.tool_calls.map(({ extra_content: _e, ...c }: any) => c); // a client that drops extra fields
  const req = geminiAdapter.buildChatRequest({
    body: { messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: null, tool_calls: calls }, ...calls.map((c: any) => ({ role: 'tool', tool_call_id: c.id, content: '{"temp_c":18}' }))] },
    upstreamModel: 'gemini-3-pro-preview',
    stream: false,
  }, { id: 'g', kind: 'gemini' as any, base_url: 'http://x', api_key: 'k', headers: {}, timeout_ms: 1000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false });
  const sent = JSON.parse(req.body);
  const ids = calls.map((c: any) => c.id.replace(/__ts__.*$/, ''));
  assert.deepEqual(sent.contents[1].parts, [
    { functionCall: { id: ids[0], name: 'get_weather', args: { location: 'San Francisco, CA', unit: 'celsius' } }, thoughtSignature: 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==' },
    { functionCall: { id: ids[1], name: 'get_weather', args: { location: 'Paris, France', unit: 'celsius' } } },
  ]);
  assert.deepEqual(sent.contents[2].parts.map((p: any) => p.functionResponse.name), ['get_weather', 'get_weather']);
});

test('thought parts → reasoning_content', () => {
  const { body, usage } = parse('thinking.response.json');
  assert.match(body.choices[0].message.reasoning_content, /^\*\*Counting the letters\*\*/);
  assert.equal(body.choices[0].message.content, 'There are **3** "r"s in strawberry.');
  assert.deepEqual(usage, { prompt: 9, cached: 0, cacheWrite: 0, completion: 268, reasoning: 256 });
});

test('cached content tokens', () => {
  const { usage, body } = parse('cache-usage.response.json');
  assert.deepEqual(usage, { prompt: 323393, cached: 322560, cacheWrite: 0, completion: 14, reasoning: 0 });
  assert.equal(body.usage.prompt_tokens_details.cached_tokens, 322560);
});

test('safety stop and blocked prompt → content_filter', () => {
  assert.equal(parse('safety.response.json').body.choices[0].finish_reason, 'content_filter');
  const blocked = parse('prompt-blocked.response.json').body.choices[0];
  assert.equal(blocked.finish_reason, 'content_filter');
  assert.equal(blocked.message.content, '');
});

test('JSON answers are plain text content', () => {
  assert.equal(parse('json-schema.response.json').body.choices[0].message.content, '{"city": "Paris", "temperature_c": 18}');
});

test('finishReason mapping', () => {
  assert.equal(mapGeminiFinishReason('STOP', false), 'stop');
  assert.equal(mapGeminiFinishReason('STOP', true), 'tool_calls');
  assert.equal(mapGeminiFinishReason('MAX_TOKENS', true), 'length');
  for (const r of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY']) assert.equal(mapGeminiFinishReason(r, false), 'content_filter', r);
  assert.equal(mapGeminiFinishReason('OTHER', false), 'stop');
  assert.equal(mapGeminiFinishReason('MALFORMED_FUNCTION_CALL', false), 'stop');
});

test('usage conversion', () => {
  assert.equal(convertGeminiUsage(undefined), null);
  assert.deepEqual(convertGeminiUsage({ promptTokenCount: 10, toolUsePromptTokenCount: 5, candidatesTokenCount: 3 }), { prompt: 15, cached: 0, cacheWrite: 0, completion: 3, reasoning: 0 });
});

test('usageMetadata without promptTokenCount is no report (null); other counts Gemini leaves out are 0', () => {
  assert.equal(convertGeminiUsage({ totalTokenCount: 10 }), null);
  assert.equal(convertGeminiUsage({ candidatesTokenCount: 3 }), null);
  assert.deepEqual(convertGeminiUsage({ promptTokenCount: 10 }), { prompt: 10, cached: 0, cacheWrite: 0, completion: 0, reasoning: 0 });
});

test('usage counts that cannot be true are kept for billing to reject, not turned into 0 or hidden in a sum or cap', () => {
  const read = (u: Record<string, unknown>) => convertGeminiUsage({ promptTokenCount: 10, candidatesTokenCount: 3, ...u })!;
  assert.equal(read({ promptTokenCount: '10' }).prompt, NaN);
  assert.equal(read({ candidatesTokenCount: 2.5 }).completion, 2.5);
  // -3 thoughts + 3 candidates would pass for 0 output tokens.
  assert.equal(read({ thoughtsTokenCount: -3 }).completion, -3);
  assert.equal(read({ toolUsePromptTokenCount: -10 }).prompt, -10);
  assert.equal(read({ cachedContentTokenCount: Infinity }).cached, Infinity);
});
