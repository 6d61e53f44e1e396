import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../../src/providers/anthropic/adapter.ts';
import { mapAnthropicStopReason } from '../../../src/providers/anthropic/map-anthropic-stop-reason.ts';
import { convertAnthropicUsage } from '../../../src/providers/anthropic/convert-anthropic-usage.ts';
import { readJsonFixture } from './translate-sse.ts';

const parse = (name: string) => anthropicAdapter.parseChatResponse(readJsonFixture(name));

test('simple response → chat.completion with usage', () => {
  const { body, usage } = parse('simple.response.json');
  assert.equal(body.id, 'msg_01XFDUDYJgAACzvnptvVoYEL');
  assert.equal(body.object, 'chat.completion');
  assert.equal(typeof body.created, 'number');
  assert.equal(body.model, 'claude-sonnet-4-5-20250929');
  assert.deepEqual(body.choices, [{
    index: 0,
    message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
    logprobs: null,
    finish_reason: 'stop',
  }]);
  assert.deepEqual(usage, { prompt: 12, cached: 0, cacheWrite: 0, completion: 11, reasoning: 0 });
  assert.equal(body.usage.prompt_tokens, 12);
  assert.equal(body.usage.completion_tokens, 11);
  assert.equal(body.usage.total_tokens, 23);
});

test('parallel tool_use → tool_calls with JSON arguments, finish_reason tool_calls', () => {
  const { body } = parse('tools.response.json');
  const msg = body.choices[0].message;
  assert.equal(msg.content, "I'll check the weather in both cities.");
  assert.deepEqual(msg.tool_calls, [
    { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' } },
    { id: 'toolu_01B7Yq3zN3V8eQm1cT4xk2Rp', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' } },
  ]);
  assert.equal(body.choices[0].finish_reason, 'tool_calls');
});

test('cache usage: prompt includes cache reads and writes', () => {
  const { body, usage } = parse('cache-usage.response.json');
  assert.deepEqual(usage, { prompt: 21 + 12000 + 188086, cached: 12000, cacheWrite: 188086, completion: 393, reasoning: 0 });
  assert.equal(body.usage.prompt_tokens, 200107);
  assert.equal(body.usage.prompt_tokens_details.cached_tokens, 12000);
  assert.equal(body.usage.prompt_tokens_details.cache_write_tokens, 188086);
});

test('thinking → reasoning_content; signature rides on the first tool call id', () => {
  const { body } = parse('thinking.response.json');
  const msg = body.choices[0].message;
  assert.equal(msg.reasoning_content, 'The user wants the weather in Paris. I should call get_weather with Paris, France.');
  assert.equal(msg.content, null);
  assert.equal(msg.tool_calls[0].id, 'toolu_01CswdEQBMshySk6Y9DFKrfq__tb__82.EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+ZfqYjzwQ8tRMzAf9/+t5KIybbhc6Jk2xzPjQ2MiU4hkjVAuJTz8kDkv7l/2qNWQjb6YjJEZ0QK8uA5Et3bS8TQIRBjTuUyRkxdBRRXhCQ==');
});

test('forced JSON tool answer → message content, finish_reason stop', () => {
  const { body } = parse('json-schema.response.json');
  assert.deepEqual(body.choices[0].message, { role: 'assistant', content: '{"city":"Paris","temperature_c":18}', refusal: null });
  assert.equal(body.choices[0].finish_reason, 'stop');
});

test('stop_reason mapping', () => {
  assert.equal(mapAnthropicStopReason('end_turn'), 'stop');
  assert.equal(mapAnthropicStopReason('stop_sequence'), 'stop');
  assert.equal(mapAnthropicStopReason('max_tokens'), 'length');
  assert.equal(mapAnthropicStopReason('model_context_window_exceeded'), 'length');
  assert.equal(mapAnthropicStopReason('tool_use'), 'tool_calls');
  assert.equal(mapAnthropicStopReason('tool_use', { answeredWithJsonTool: true }), 'stop');
  assert.equal(mapAnthropicStopReason('refusal'), 'content_filter');
  assert.equal(mapAnthropicStopReason('pause_turn'), 'stop');
  assert.equal(mapAnthropicStopReason(null), 'stop');
  const { body } = anthropicAdapter.parseChatResponse({ ...readJsonFixture('simple.response.json'), stop_reason: 'max_tokens' });
  assert.equal(body.choices[0].finish_reason, 'length');
});

test('usage conversion tolerates missing fields', () => {
  assert.equal(convertAnthropicUsage(undefined), null);
  assert.deepEqual(convertAnthropicUsage({ input_tokens: 5, output_tokens: 2 }), { prompt: 5, cached: 0, cacheWrite: 0, completion: 2, reasoning: 0 });
  assert.deepEqual(convertAnthropicUsage({ input_tokens: 5, output_tokens: 2, cache_read_input_tokens: null, cache_creation_input_tokens: null }), { prompt: 5, cached: 0, cacheWrite: 0, completion: 2, reasoning: 0 });
});

test('usage without input_tokens or output_tokens is no report (null), and an answer without usage has none', () => {
  assert.equal(convertAnthropicUsage({ output_tokens: 5 }), null);
  assert.equal(convertAnthropicUsage({ input_tokens: 5, output_tokens: null }), null);
  const { body, usage } = anthropicAdapter.parseChatResponse({ ...readJsonFixture('simple.response.json'), usage: undefined });
  assert.equal(usage, null);
  assert.equal(body.usage, undefined);
});

test('usage counts that cannot be true are kept for billing to reject, not turned into 0 or hidden in the prompt sum', () => {
  const read = (u: Record<string, unknown>) => convertAnthropicUsage({ input_tokens: 5, output_tokens: 2, ...u })!;
  assert.equal(read({ output_tokens: -2 }).completion, -2);
  assert.equal(read({ output_tokens: '2' }).completion, NaN);
  assert.equal(read({ input_tokens: 4.5 }).prompt, 4.5);
  // -5 fresh + 10 cached would pass for a prompt of 5.
  assert.equal(read({ input_tokens: -5, cache_read_input_tokens: 10 }).prompt, -5);
  const inf = read({ cache_creation_input_tokens: Infinity });
  assert.equal(inf.cacheWrite, Infinity);
  assert.equal(inf.prompt, Infinity);
});
