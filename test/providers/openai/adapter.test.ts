import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openaiAdapter } from '../../../src/providers/openai/adapter.ts';
import { hasUsageObject } from '../../../src/protocol/usage.ts';
import { providerSchema } from '../../../src/config/schema.ts';

const provider = (extra: Record<string, unknown> = {}) => providerSchema.parse({ id: 'p', kind: 'openai', base_url: 'http://127.0.0.1:1/v1', api_key: 'k', ...extra });
const body = { model: 'public', messages: [{ role: 'user', content: 'hi' }] };

test('a gateway-imposed output cap goes in the provider’s max_tokens_field, never over the client’s own', () => {
  const send = (p: ReturnType<typeof provider>, b: Record<string, unknown>) => JSON.parse(openaiAdapter.buildChatRequest({ body: b, upstreamModel: 'up', stream: false, maxOutputTokens: 500 }, p).body);
  assert.deepEqual(send(provider(), body), { ...body, model: 'up', max_tokens: 500 });
  assert.deepEqual(send(provider({ max_tokens_field: 'max_completion_tokens' }), body), { ...body, model: 'up', max_completion_tokens: 500 });
  assert.equal(send(provider(), { ...body, max_completion_tokens: 20 }).max_tokens, undefined);
});

test('streams always ask the upstream for usage, keeping the client’s other stream options', () => {
  const r = JSON.parse(openaiAdapter.buildChatRequest({ body: { ...body, stream: true, stream_options: { other: 1 } }, upstreamModel: 'up', stream: true }, provider()).body);
  assert.deepEqual(r.stream_options, { other: 1, include_usage: true });
});

test('hasUsageObject tells a usage object from usage: null, spaces allowed', () => {
  assert.equal(hasUsageObject('{"choices":[],"usage":{"prompt_tokens":1}}'), true);
  assert.equal(hasUsageObject('{"choices":[],"usage": {"prompt_tokens":1}}'), true);
  assert.equal(hasUsageObject('{"choices":[{"delta":{}}],"usage":null}'), false);
  assert.equal(hasUsageObject('{"choices":[{"delta":{"content":"\\"usage\\":{"}}]}'), false);
});
