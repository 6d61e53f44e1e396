import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiAdapter } from '../../../src/providers/gemini/adapter.ts';
import { readFixture } from './translate-sse.ts';

test('Gemini error bodies → UpstreamErrorInfo: Google\'s status as the code, the OpenAI error type it stands for as the type', () => {
  assert.deepEqual(geminiAdapter.parseError(400, readFixture('error-400-api-key.json')), { message: 'API key not valid. Please pass a valid API key.', type: 'invalid_request_error', code: 'API_KEY_INVALID', credentialsRejected: true });
  assert.equal(geminiAdapter.parseError(401, readFixture('error-401.json')).type, 'authentication_error');
  const r429 = geminiAdapter.parseError(429, readFixture('error-429.json'));
  assert.equal(r429.type, 'rate_limit_error');
  assert.equal(r429.code, 'RESOURCE_EXHAUSTED');
  assert.match(r429.message, /exceeded your current quota/);
  // The wait is in the body (RetryInfo.retryDelay), not a header.
  assert.equal(r429.retryAfterSeconds, 37);
  assert.deepEqual(geminiAdapter.parseError(500, readFixture('error-500.json')).code, 'INTERNAL');
  assert.deepEqual(geminiAdapter.parseError(503, readFixture('error-503.json')), { message: 'The model is overloaded. Please try again later.', type: 'api_error', code: 'UNAVAILABLE' });
  const r400 = geminiAdapter.parseError(400, `[${readFixture('error-400.json')}]`);
  assert.deepEqual([r400.type, r400.code], ['invalid_request_error', 'INVALID_ARGUMENT']);
});

test('non-JSON bodies never throw', () => {
  assert.deepEqual(geminiAdapter.parseError(502, '<html>502</html>'), { message: '<html>502</html>' });
  assert.deepEqual(geminiAdapter.parseError(504, ''), { message: 'upstream error (HTTP 504)' });
});

test("a prompt over the model's context is OpenAI's context_length_exceeded, which clients branch on", () => {
  const info = geminiAdapter.parseError(400, JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: 'The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).' } }));
  assert.equal(info.code, 'context_length_exceeded');
  assert.equal(info.type, 'invalid_request_error');
  assert.equal(geminiAdapter.parseError(400, JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Invalid JSON payload' } })).code, 'INVALID_ARGUMENT');
});
