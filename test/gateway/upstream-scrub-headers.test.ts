import { test } from 'node:test';
import assert from 'node:assert/strict';
import { providerSchema } from '../../src/config/schema.ts';
import { scrubErrorInfo, scrubUpstreamText } from '../../src/gateway/upstream-scrub.ts';

// A provider's key is not always its api_key: Azure OpenAI takes it as `api-key`, some
// proxies as a header of their own or a second bearer token, which an operator puts in
// the provider's `headers`. What an upstream echoed of such a key reached the client,
// since only api_key was looked for.

const SECRET = 'azure-0123456789abcdef0123456789';
const upstream = providerSchema.parse({ id: 'p', kind: 'openai', base_url: 'http://127.0.0.1:40123/v1', api_key: '', headers: { 'api-key': SECRET, 'x-proxy-auth': 'Bearer proxy-token-abc123defghijklm', 'x-org': 'acme', 'content-type': 'application/json' } });
const up = { config: upstream };

test('a key in the provider headers is scrubbed like api_key, whole and in fragments', () => {
  assert.equal(scrubUpstreamText(`invalid api-key ${SECRET}`, up), 'invalid api-key [redacted]');
  assert.equal(scrubUpstreamText('key ending in ...456789 revoked', up), 'key ending in ...[redacted] revoked');
  assert.equal(scrubUpstreamText('token proxy-token-abc123defghijklm rejected', up), 'token [redacted] rejected');
  assert.equal(scrubErrorInfo({ message: `bad ${SECRET}`, param: SECRET }, up).param, '[redacted]');
});

test('short header values (not secrets) are left alone', () => {
  assert.equal(scrubUpstreamText('organization acme not found', up), 'organization acme not found');
  assert.equal(scrubUpstreamText('Bearer tokens only', up), 'Bearer tokens only');
  assert.equal(scrubUpstreamText('the body must be application/json', up), 'the body must be application/json');
});

test('a header secret without a digit is a secret too; a media type is not', () => {
  const noDigit = { config: providerSchema.parse({ id: 'p', kind: 'openai', base_url: 'http://127.0.0.1:40123/v1', api_key: '', headers: { 'x-proxy-auth': 'proxytokenABCDEFGHIJKLMNOPQRSTUVWX', accept: 'application/vnd.api+json' } }) };
  assert.equal(scrubUpstreamText('header x-proxy-auth: proxytokenABCDEFGHIJKLMNOPQRSTUVWX', noDigit), 'header x-proxy-auth: [redacted]');
  assert.equal(scrubUpstreamText('send application/vnd.api+json', noDigit), 'send application/vnd.api+json');
});
