import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../../src/providers/anthropic/adapter.ts';
import { readFixture } from './translate-sse.ts';

test('Anthropic error bodies → UpstreamErrorInfo', () => {
  assert.deepEqual(anthropicAdapter.parseError(401, readFixture('error-401.json')), { message: 'invalid x-api-key', type: 'authentication_error', code: 'authentication_error' });
  const r429 = anthropicAdapter.parseError(429, readFixture('error-429.json'));
  assert.equal(r429.type, 'rate_limit_error');
  assert.match(r429.message, /exceed the rate limit/);
  assert.deepEqual(anthropicAdapter.parseError(500, readFixture('error-500.json')), { message: 'Internal server error', type: 'api_error', code: 'api_error' });
  assert.deepEqual(anthropicAdapter.parseError(529, readFixture('error-529.json')), { message: 'Overloaded', type: 'api_error', code: 'overloaded_error' });
  assert.equal(anthropicAdapter.parseError(400, readFixture('error-400.json')).type, 'invalid_request_error');
  // `type` is the OpenAI type clients branch on; `code` keeps Anthropic's own.
  for (const [anthropic, openai] of [['request_too_large', 'invalid_request_error'], ['not_found_error', 'invalid_request_error'], ['permission_error', 'permission_error'], ['timeout_error', 'api_error'], ['something_new', 'api_error']] as const) {
    const info = anthropicAdapter.parseError(413, JSON.stringify({ type: 'error', error: { type: anthropic, message: 'm' } }));
    assert.deepEqual([info.type, info.code], [openai, anthropic]);
  }
});

test('non-JSON and empty bodies never throw', () => {
  assert.deepEqual(anthropicAdapter.parseError(529, ''), { message: 'Overloaded', type: 'api_error', code: 'overloaded_error' });
  assert.deepEqual(anthropicAdapter.parseError(502, '<html>Bad gateway</html>'), { message: '<html>Bad gateway</html>' });
  assert.deepEqual(anthropicAdapter.parseError(503, ''), { message: 'upstream error (HTTP 503)' });
  assert.equal(anthropicAdapter.parseError(400, '{"type":"error","error":{}}').message, 'upstream error');
});

test("a prompt over the model's context is OpenAI's context_length_exceeded, which clients branch on", () => {
  const info = anthropicAdapter.parseError(400, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210311 tokens > 200000 maximum' } }));
  assert.equal(info.code, 'context_length_exceeded');
  assert.equal(info.type, 'invalid_request_error');
  assert.match(info.message, /210311 tokens/);
  assert.equal(anthropicAdapter.parseError(400, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: too large' } })).code, 'invalid_request_error');
});
