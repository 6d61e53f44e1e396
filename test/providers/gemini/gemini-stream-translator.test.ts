import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiAdapter } from '../../../src/providers/gemini/adapter.ts';
import type { ChatCall } from '../../../src/providers/types.ts';
import { chunks, joined, readFixture, translateSse } from './translate-sse.ts';

const call: ChatCall = { body: { messages: [{ role: 'user', content: 'hi' }] }, upstreamModel: 'gemini-2.5-flash', stream: true };
const run = (name: string, pieceSize?: number) => translateSse(readFixture(name), geminiAdapter.createStreamTranslator(call), pieceSize);

test('simple stream: role chunk, content, finish chunk, then usage and done at end', () => {
  const items = run('simple.stream.sse');
  const cs = chunks(items);
  for (const c of cs) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, 'chatcmpl-QHiLaa6LBrb8vdIPoNztsAg');
    assert.equal(c.model, 'gemini-2.5-flash');
    assert.equal(typeof c.created, 'number');
  }
  assert.deepEqual(cs.map((c) => c.choices[0].delta), [{ role: 'assistant', content: '' }, { content: 'Hello!' }, { content: ' How can I help you today?' }, {}]);
  assert.deepEqual(cs.map((c) => c.choices[0].finish_reason), [null, null, null, 'stop']);
  assert.deepEqual(items.slice(-2).map((i) => i.kind), ['usage', 'done']);
  const u = items.at(-2) as any;
  assert.deepEqual(u.usage, { prompt: 8, cached: 0, cacheWrite: 0, completion: 9, reasoning: 0 });
  assert.deepEqual(u.frame.choices, []);
  assert.equal(u.frame.usage.total_tokens, 17);
});

test('a stream that reports no usage ends with no usage item (the gateway bills it by estimate), not with zeros', () => {
  const sse = readFixture('simple.stream.sse').replace(/^data: (.*)$/gm, (_, json) => {
    const { usageMetadata: _u, ...rest } = JSON.parse(json);
    return `data: ${JSON.stringify(rest)}`;
  });
  assert.ok(!sse.includes('usageMetadata'), sse);
  const items = translateSse(sse, geminiAdapter.createStreamTranslator(call));
  assert.ok(!items.some((i) => i.kind === 'usage'));
  assert.equal(items.at(-1)!.kind, 'done');
  assert.equal(joined(items, 'content'), 'Hello! How can I help you today?');
});

test('parallel function calls across chunks get indices 0, 1, 2; first chunk of each carries id/name', () => {
  const items = run('tools-parallel.stream.sse', 1);
  const deltas = chunks(items).filter((c) => c.choices[0].delta.tool_calls).map((c) => c.choices[0].delta.tool_calls[0]);
  assert.equal(deltas.length, 6);
  const starts = deltas.filter((d) => d.id);
  assert.deepEqual(starts.map((d) => [d.index, d.type, d.function.name, d.function.arguments]), [[0, 'function', 'get_weather', ''], [1, 'function', 'get_weather', ''], [2, 'function', 'get_time', '']]);
  assert.ok(starts[0].id.endsWith('__ts__CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw=='));
  assert.deepEqual(starts[0].extra_content, { google: { thought_signature: 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==' } });
  assert.ok(!starts[1].id.includes('__ts__'));
  assert.deepEqual(deltas.filter((d) => !d.id), [
    { index: 0, function: { arguments: '{"location":"San Francisco, CA","unit":"celsius"}' } },
    { index: 1, function: { arguments: '{"location":"Paris, France","unit":"celsius"}' } },
    { index: 2, function: { arguments: '{"timezone":"Europe/Paris"}' } },
  ]);
  assert.equal(joined(items, 'content'), 'Checking both cities.');
  assert.equal(chunks(items).at(-1).choices[0].finish_reason, 'tool_calls');
  assert.equal(chunks(items).at(-1).model, 'gemini-3-pro-preview');
  const u = items.find((i) => i.kind === 'usage') as any;
  assert.deepEqual(u.usage, { prompt: 95, cached: 0, cacheWrite: 0, completion: 52 + 176, reasoning: 176 });
});

test('thinking stream: thought parts → reasoning_content deltas', () => {
  const items = run('thinking.stream.sse');
  assert.equal(joined(items, 'reasoning_content'), "**Counting the letters**\n\nI need to count the r's in strawberry. s-t-r-a-w-b-e-r-r-y. That is three.");
  assert.equal(joined(items, 'content'), 'There are **3** "r"s in strawberry.');
  const u = items.find((i) => i.kind === 'usage') as any;
  assert.deepEqual(u.usage, { prompt: 9, cached: 0, cacheWrite: 0, completion: 268, reasoning: 256 });
});

test('an error object mid-stream → error item, no done', () => {
  const items = run('stream-error.stream.sse');
  assert.equal(joined(items, 'content'), 'Once upon');
  assert.deepEqual(items.at(-1), { kind: 'error', error: { message: 'The model is overloaded. Please try again later.', type: 'api_error', code: 'UNAVAILABLE' } });
  assert.ok(!items.some((i) => i.kind === 'done' || i.kind === 'usage'));
  // What a stream cut here is billed for its input: the prompt's counts, reported once.
  assert.deepEqual(items.filter((i) => i.kind === 'prompt-usage'), [{ kind: 'prompt-usage', usage: { prompt: 8, cached: 0, cacheWrite: 0 } }]);
});

test('a stream that ends without finishReason → error item', () => {
  const sse = readFixture('simple.stream.sse');
  const items = translateSse(sse.slice(0, sse.indexOf('\n\n') + 2), geminiAdapter.createStreamTranslator(call));
  assert.equal(items.at(-1)!.kind, 'error');
});

test('SAFETY and MAX_TOKENS in a stream', () => {
  const sse = readFixture('simple.stream.sse');
  assert.equal(chunks(translateSse(sse.replace('"STOP"', '"SAFETY"'), geminiAdapter.createStreamTranslator(call))).at(-1).choices[0].finish_reason, 'content_filter');
  assert.equal(chunks(translateSse(sse.replace('"STOP"', '"MAX_TOKENS"'), geminiAdapter.createStreamTranslator(call))).at(-1).choices[0].finish_reason, 'length');
});
