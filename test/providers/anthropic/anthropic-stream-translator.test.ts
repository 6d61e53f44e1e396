import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../../src/providers/anthropic/adapter.ts';
import type { ChatCall } from '../../../src/providers/types.ts';
import { chunks, joined, readFixture, translateSse } from './translate-sse.ts';

const call = (body: Record<string, any> = { messages: [{ role: 'user', content: 'hi' }] }): ChatCall => ({ body, upstreamModel: 'claude-sonnet-4-5-20250929', stream: true });
const run = (name: string, pieceSize?: number) => translateSse(readFixture(name), anthropicAdapter.createStreamTranslator(call()), pieceSize);

test('simple stream: role chunk, content deltas, finish chunk, usage, done', () => {
  const items = run('simple.stream.sse');
  const cs = chunks(items);
  for (const c of cs) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, 'msg_01XFDUDYJgAACzvnptvVoYEL');
    assert.equal(c.model, 'claude-sonnet-4-5-20250929');
    assert.equal(typeof c.created, 'number');
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].index, 0);
  }
  assert.deepEqual(cs.map((c) => c.choices[0].delta), [
    { role: 'assistant', content: '' },
    { content: 'Hello!' },
    { content: ' How can I help you today?' },
    {},
  ]);
  assert.deepEqual(cs.map((c) => c.choices[0].finish_reason), [null, null, null, 'stop']);
  assert.deepEqual(items.slice(-2).map((i) => i.kind), ['usage', 'done']);
  const usage = items.at(-2) as Extract<(typeof items)[number], { kind: 'usage' }>;
  assert.deepEqual(usage.usage, { prompt: 12, cached: 0, cacheWrite: 0, completion: 11, reasoning: 0 });
  assert.deepEqual(usage.frame.choices, []);
  assert.equal(usage.frame.object, 'chat.completion.chunk');
  assert.equal(usage.frame.id, 'msg_01XFDUDYJgAACzvnptvVoYEL');
  assert.equal(usage.frame.usage.total_tokens, 23);
});

test('the result does not depend on how the bytes are split', () => {
  assert.deepEqual(chunks(run('tools-parallel.stream.sse', 1)).map((c) => c.choices[0]), chunks(run('tools-parallel.stream.sse', 4096)).map((c) => c.choices[0]));
});

test('parallel tool calls stream with their own indices', () => {
  const items = run('tools-parallel.stream.sse');
  const cs = chunks(items);
  assert.equal(joined(items, 'content'), "I'll check the weather in both cities.");
  const toolDeltas = cs.filter((c) => c.choices[0].delta.tool_calls).map((c) => c.choices[0].delta.tool_calls);
  assert.deepEqual(toolDeltas, [
    [{ index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '' } }],
    [{ index: 0, function: { arguments: '{"location": "San Fra' } }],
    [{ index: 0, function: { arguments: 'ncisco, CA", "unit": "celsius"}' } }],
    [{ index: 1, id: 'toolu_01Pq8rVnXb2KQwJm4Zt7s9Ld', type: 'function', function: { name: 'get_weather', arguments: '' } }],
    [{ index: 1, function: { arguments: '{"location": "Paris, France"' } }],
    [{ index: 1, function: { arguments: ', "unit": "celsius"}' } }],
  ]);
  assert.equal(cs.at(-1).choices[0].finish_reason, 'tool_calls');
  const usage = items.find((i) => i.kind === 'usage') as any;
  assert.deepEqual(usage.usage, { prompt: 472, cached: 0, cacheWrite: 0, completion: 121, reasoning: 0 });
  assert.equal(items.at(-1)!.kind, 'done');
});

test('cache usage in a stream: input from message_start, output from message_delta', () => {
  const usage = run('cache-usage.stream.sse').find((i) => i.kind === 'usage') as any;
  assert.deepEqual(usage.usage, { prompt: 21 + 12000 + 188086, cached: 12000, cacheWrite: 188086, completion: 393, reasoning: 0 });
  assert.equal(usage.frame.usage.prompt_tokens_details.cached_tokens, 12000);
});

test('a message_delta count that is not a number is kept for billing to reject, not passed over for message_start\'s', () => {
  const sse = readFixture('simple.stream.sse');
  const usageOf = (text: string) => (translateSse(text, anthropicAdapter.createStreamTranslator(call())).find((i) => i.kind === 'usage') as any).usage;
  // Skipped, the string left message_start's output_tokens of 1 to be billed.
  assert.equal(usageOf(sse.replace('"usage":{"output_tokens":11}', '"usage":{"output_tokens":"11"}')).completion, NaN);
  assert.equal(usageOf(sse.replace('"usage":{"output_tokens":11}', '"usage":{"output_tokens":-11}')).completion, -11);
  // null means unchanged.
  assert.equal(usageOf(sse.replace('"usage":{"output_tokens":11}', '"usage":{"output_tokens":null}')).completion, 1);
});

test('a stream that reports no usage ends with no usage item (the gateway bills it by estimate), not with zeros', () => {
  const sse = readFixture('simple.stream.sse').replace(/,"usage":\{[^}]*\}/g, '');
  assert.ok(!sse.includes('"usage"'));
  const items = translateSse(sse, anthropicAdapter.createStreamTranslator(call()));
  assert.ok(!items.some((i) => i.kind === 'usage'));
  assert.equal(items.at(-1)!.kind, 'done');
  assert.equal(joined(items, 'content'), 'Hello! How can I help you today?');
});

test('thinking stream: reasoning_content deltas, signature on the tool call id', () => {
  const items = run('thinking.stream.sse');
  assert.equal(joined(items, 'reasoning_content'), 'The user wants the weather in Paris. I should call get_weather with Paris, France.');
  const first = chunks(items).find((c) => c.choices[0].delta.tool_calls)!.choices[0].delta.tool_calls[0];
  assert.equal(first.id, 'toolu_01CswdEQBMshySk6Y9DFKrfq__tb__82.EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+ZfqYjzwQ8tRMzAf9/+t5KIybbhc6Jk2xzPjQ2MiU4hkjVAuJTz8kDkv7l/2qNWQjb6YjJEZ0QK8uA5Et3bS8TQIRBjTuUyRkxdBRRXhCQ==');
  assert.equal(first.index, 0);
});

test('streamed thinking round-trips: the second request carries the thinking block', () => {
  const items = run('thinking.stream.sse');
  const cs = chunks(items);
  // Rebuild the assistant message the way an OpenAI client accumulates deltas.
  const calls: any[] = [];
  for (const c of cs) for (const d of c.choices[0].delta.tool_calls ?? []) {
    if (d.id) calls[d.index] = { id: d.id, type: 'function', function: { name: d.function.name, arguments: '' } };
    else calls[d.index].function.arguments += d.function.arguments;
  }
  const req = anthropicAdapter.buildChatRequest(call({
    reasoning_effort: 'low',
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, reasoning_content: joined(items, 'reasoning_content'), tool_calls: calls },
      { role: 'tool', tool_call_id: calls[0].id, content: '18 C' },
    ],
  }), { id: 'a', kind: 'anthropic' as any, base_url: 'http://x', api_key: 'k', headers: {}, timeout_ms: 1000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false });
  const sent = JSON.parse(req.body);
  assert.equal(sent.messages[1].content[0].type, 'thinking');
  assert.match(sent.messages[1].content[0].signature, /^EqQBCgIYAhIM/);
  assert.equal(sent.messages[1].content[1].id, 'toolu_01CswdEQBMshySk6Y9DFKrfq');
  assert.equal(sent.messages[2].content[0].tool_use_id, 'toolu_01CswdEQBMshySk6Y9DFKrfq');
});

test('forced JSON tool streams as content with finish_reason stop', () => {
  const items = translateSse(readFixture('json-schema.stream.sse'), anthropicAdapter.createStreamTranslator(call({ messages: [], response_format: { type: 'json_object' } })));
  assert.equal(joined(items, 'content'), '{"city": "Paris", "temperature_c": 18}');
  assert.ok(chunks(items).every((c) => !c.choices[0].delta.tool_calls));
  assert.equal(chunks(items).at(-1).choices[0].finish_reason, 'stop');
});

test('error event → error item, nothing after it', () => {
  const items = run('stream-error.stream.sse');
  assert.deepEqual(items.at(-1), { kind: 'error', error: { message: 'Overloaded', type: 'api_error', code: 'overloaded_error' } });
  assert.ok(!items.some((i) => i.kind === 'done' || i.kind === 'usage'));
  assert.equal(joined(items, 'content'), 'Once upon');
  // What a stream cut here is billed for its input: message_start's counts.
  assert.deepEqual(items.filter((i) => i.kind === 'prompt-usage'), [{ kind: 'prompt-usage', usage: { prompt: 12, cached: 0, cacheWrite: 0 } }]);
});

test('a stream cut before message_stop ends with an error item', () => {
  const sse = readFixture('simple.stream.sse');
  const items = translateSse(sse.slice(0, sse.indexOf('event: message_delta')), anthropicAdapter.createStreamTranslator(call()));
  assert.equal(items.at(-1)!.kind, 'error');
  assert.ok(!items.some((i) => i.kind === 'done'));
});

test('refusal and max_tokens stop reasons in a stream', () => {
  const sse = readFixture('simple.stream.sse');
  const refusal = translateSse(sse.replace('"stop_reason":"end_turn"', '"stop_reason":"refusal"'), anthropicAdapter.createStreamTranslator(call()));
  assert.equal(chunks(refusal).at(-1).choices[0].finish_reason, 'content_filter');
  const length = translateSse(sse.replace('"stop_reason":"end_turn"', '"stop_reason":"max_tokens"'), anthropicAdapter.createStreamTranslator(call()));
  assert.equal(chunks(length).at(-1).choices[0].finish_reason, 'length');
});
