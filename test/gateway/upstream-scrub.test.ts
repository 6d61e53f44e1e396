import { test } from 'node:test';
import assert from 'node:assert/strict';
import { providerSchema } from '../../src/config/schema.ts';
import { scrubErrorInfo, scrubUpstreamText } from '../../src/gateway/upstream-scrub.ts';

// The rules of upstream-scrub.ts one by one: what an upstream may echo of its key or
// address goes, ordinary error text stays as it was. The end-to-end view (response
// bodies, headers, the request log) is in upstream-error-leaks.test.ts.

const KEY = 'sk-UPSTREAM-SECRET-123';
const upstream = (api_key = KEY, base_url = 'http://127.0.0.1:40123/v1') => ({ config: providerSchema.parse({ id: 'p', kind: 'openai', base_url, api_key }) });
const scrub = (text: string, up = upstream()) => scrubUpstreamText(text, up);

test('the whole key, the base URL, host:port and host go', () => {
  assert.equal(scrub(`key ${KEY} rejected`), 'key [redacted] rejected');
  assert.equal(scrub('POST http://127.0.0.1:40123/v1/chat/completions failed'), 'POST [upstream]/chat/completions failed');
  assert.equal(scrub('connect 127.0.0.1:40123 refused'), 'connect [upstream] refused');
  assert.equal(scrub('host 127.0.0.1 port 40123'), 'host [upstream] port 40123');
  assert.equal(scrub('at https://api.example.com/v1', upstream(KEY, 'https://api.example.com/v1')), 'at [upstream]');
});

test('a masked key goes whole, as OpenAI and others echo it', () => {
  assert.equal(scrub('Incorrect API key provided: sk-UPSTR*************-123. You can find your API key at https://platform.openai.com/account/api-keys.'), 'Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys.');
  // Whichever key it masks, and with the stars at either end.
  assert.equal(scrub('key sk-proj-****abcd is invalid'), 'key [redacted] is invalid');
  assert.equal(scrub('key ****abcd, or sk-abc****'), 'key [redacted], or [redacted]');
});

test('the key’s tail where it ends a word, and its head where it starts one, grown while they match', () => {
  assert.equal(scrub('the key ending in -123 was revoked'), 'the key ending in [redacted] was revoked');
  assert.equal(scrub('key ...ECRET-123.'), 'key ...[redacted].');
  assert.equal(scrub('key sk-UPSTREAM-SEC... is invalid'), 'key [redacted]... is invalid');
  assert.equal(scrub('truncated: sk-UPS'), 'truncated: [redacted]');
  // The tail inside a word, or the head after a letter, is not the key.
  assert.equal(scrub('model gpt-123b, job x-1234, task ask-UPSTR'), 'model gpt-123b, job x-1234, task ask-UPSTR');
});

test('ordinary error text passes unchanged', () => {
  const texts = [
    'temperature must be at most 2',
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130012 tokens.",
    'Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.',
    'Invalid value for messages[0].content: expected a string, got 2 * 3.',
    '',
  ];
  for (const t of texts) assert.equal(scrub(t), t);
});

test('placeholder keys are redacted whole but their fragments are left alone', () => {
  const up = upstream('EMPTY-vllm-key');
  assert.equal(scrub('key EMPTY-vllm-key refused; the vllm-key pool is empty', up), 'key [redacted] refused; the vllm-key pool is empty');
});

test('scrubErrorInfo scrubs every member, bounds the text and keeps type and code only as identifiers', () => {
  const nasty = `http://127.0.0.1:40123/v1 ${KEY}`;
  const info = scrubErrorInfo({ message: `m ${KEY}`, type: nasty, param: KEY, code: KEY }, upstream());
  assert.deepEqual({ ...info }, { message: 'm [redacted]', type: undefined, param: '[redacted]', code: undefined, credentialsRejected: undefined, fundsExhausted: undefined, retryAfterSeconds: undefined });
  const ok = scrubErrorInfo({ message: 'bad', type: 'invalid_request_error', param: 'messages[0].content', code: 'invalid_value' }, upstream());
  assert.deepEqual([ok.type, ok.param, ok.code], ['invalid_request_error', 'messages[0].content', 'invalid_value']);
  assert.equal(scrubErrorInfo({ message: 'x', code: '1001' }, upstream()).code, '1001');
  // Free text and overlong codes are no codes.
  assert.equal(scrubErrorInfo({ message: 'x', code: 'quota exceeded for project 7' }, upstream()).code, undefined);
  assert.equal(scrubErrorInfo({ message: 'x', code: 'c'.repeat(65) }, upstream()).code, undefined);
  assert.equal(scrubErrorInfo({ message: 'x', code: 'c'.repeat(64) }, upstream()).code, 'c'.repeat(64));
  // Bounded after scrubbing: a key near the cut is still redacted whole.
  const long = scrubErrorInfo({ message: `${'a '.repeat(497)}${KEY}`, param: `${'p'.repeat(195)}${KEY}` }, upstream());
  assert.ok(!long.message.includes('sk-UP') && long.message.length <= 1001, long.message);
  assert.ok(!long.param!.includes('sk-UP') && long.param!.length <= 201, long.param);
});

test('an upstream’s huge error body is scrubbed in linear time', () => {
  const big = `${'a'.repeat(2_000_000)}***${'-'.repeat(2_000_000)} -12`;
  const t0 = performance.now();
  scrub(big);
  assert.ok(performance.now() - t0 < 2000, `took ${(performance.now() - t0).toFixed(0)} ms`);
});

test('the key in another letter case, base64-encoded, or a middle cut out of it goes too', () => {
  const key = 'sk-upstream-secret-value-123';
  const up = upstream(key);
  const b64 = Buffer.from(key).toString('base64');
  assert.equal(scrub(`bad auth header Bearer ${b64}`, up), 'bad auth header Bearer [redacted]');
  assert.equal(scrub(`Authorization: Basic ${Buffer.from(`Bearer ${key}`).toString('base64')}`, up), 'Authorization: Basic [redacted]');
  assert.equal(scrub(`token ${b64.replace(/=+$/, '')} refused`, up), 'token [redacted] refused');
  assert.equal(scrub('key ...upstream-secret-val... invalid', up), 'key ...[redacted]... invalid');
  assert.equal(scrub(`${key.toUpperCase()} bad`, up), '[redacted] bad');
  assert.equal(scrub('the key UPSTREAM-SECRET-VALUE was logged', up), 'the key [redacted] was logged');
  // Words of the key shorter than 12 characters, or words that only share a few, stay.
  assert.equal(scrub('an upstream secret value is needed: upstream-req', up), 'an upstream secret value is needed: upstream-req');
});

test('a megabyte of error message costs the scrub no more than its first kilobytes', () => {
  const up = upstream('sk-upstream-secret-value-123');
  const t0 = performance.now();
  const info = scrubErrorInfo({ message: 'abcdefghijklmnop'.repeat(65_536) + ' sk-upstream-secret-value-123' }, up);
  assert.ok(performance.now() - t0 < 100, `took ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(info.message.length <= 1001);
  assert.equal(scrubErrorInfo({ message: `${'x'.repeat(990)} sk-upstream-secret-value-123 more` }, up).message, `${'x'.repeat(990)} [redacted…`.slice(0, 1000) + '…');
});
