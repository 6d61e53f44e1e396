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
  // The client's own cap, in the field the provider reads (DeepSeek ignores max_completion_tokens).
  assert.deepEqual(send(provider(), { ...body, max_completion_tokens: 20 }), { ...body, model: 'up', max_tokens: 20 });
  assert.deepEqual(send(provider({ max_tokens_field: 'max_completion_tokens' }), { ...body, max_tokens: 20 }), { ...body, model: 'up', max_completion_tokens: 20 });
  // Both sent: both kept (admission has lowered each to the cap).
  assert.deepEqual(send(provider(), { ...body, max_tokens: 30, max_completion_tokens: 20 }), { ...body, model: 'up', max_tokens: 30, max_completion_tokens: 20 });
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

test('every error frame becomes an error item, never a chunk passed on raw', () => {
  const push = (data: string) => {
    const out: any[] = [];
    openaiAdapter.createStreamTranslator({ body, upstreamModel: 'up', stream: true }).push({ data }, out);
    return out;
  };
  const cases: Array<[string, string]> = [
    ['{"error":{"message":"overloaded","type":"server_error"}}', 'overloaded'],
    // A bare string, as some OpenAI-compatible servers send.
    ['{"error":"sk-UPSTREAM-SECRET-123 at 127.0.0.1:1"}', 'sk-UPSTREAM-SECRET-123 at 127.0.0.1:1'],
    // Together with choices, empty or not.
    ['{"error":{"message":"sk-UPSTREAM-SECRET-123"},"choices":[]}', 'sk-UPSTREAM-SECRET-123'],
    ['{"id":"c","error":{"code":"server_error","message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}', 'Provider disconnected'],
    // Not JSON: no client could read it, and it is no chunk to pass on.
    ['{"error":{"message":"sk-UPSTREAM-SECRET-123"', 'The upstream provider sent an unreadable error event.'],
    // The error member spelled with an escape, which a text search for it misses.
    ['{"\\u0065rror":{"message":"hidden"}}', 'hidden'],
    // Another gateway's shape ({code, msg}), or a bare message, with no choices.
    ['{"code":401,"msg":"bad key"}', 'bad key'],
    ['{"message":"upstream overloaded"}', 'upstream overloaded'],
  ];
  for (const [data, message] of cases) {
    const out = push(data);
    assert.equal(out.length, 1, data);
    assert.equal(out[0].kind, 'error', data);
    // The item carries what the upstream said; the relay scrubs it (upstream-scrub.ts).
    assert.equal(out[0].error.message, message, data);
  }
  // A chunk whose content mentions "error", or an error member that is null, is a chunk.
  for (const data of ['{"choices":[{"index":0,"delta":{"content":"\\"error\\""}}]}', '{"choices":[{"index":0,"delta":{"content":"x"}}],"error":null}']) {
    assert.deepEqual(push(data), [{ kind: 'chunk', json: data }], data);
  }
});
