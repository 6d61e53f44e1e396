import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryAfterFromUpstream } from '../../src/gateway/upstream-retry-after.ts';

// An upstream's Retry-After reaches the client only as whole seconds: anything else in
// the header (a key, a host, prose) is dropped for what the body said or the default.

const NOW = Date.parse('2026-03-01T12:00:00Z');

test('whole seconds pass, normalised', () => {
  assert.equal(retryAfterFromUpstream('7', undefined, NOW), '7');
  assert.equal(retryAfterFromUpstream(' 007 ', undefined, NOW), '7');
  assert.equal(retryAfterFromUpstream('0', undefined, NOW), '0');
});

test('an IMF-fixdate becomes the seconds left until it; a past one, 0', () => {
  assert.equal(retryAfterFromUpstream('Sun, 01 Mar 2026 12:00:30 GMT', undefined, NOW), '30');
  assert.equal(retryAfterFromUpstream('Sun, 01 Mar 2026 11:00:00 GMT', undefined, NOW), '0');
});

test('anything else is dropped for the body’s seconds, or 1', () => {
  for (const bad of ['5 sk-UPSTREAM-SECRET-123', 'sk-UPSTREAM-SECRET-123', '-5', '1.5', '1e3', '', '1234567890', 'soon', 'Sun, 01 Mar 2026 12:00:30 GMT sk-UPSTREAM-SECRET-123', 'Sunday, 01-Mar-26 12:00:30 GMT']) {
    assert.equal(retryAfterFromUpstream(bad, undefined, NOW), '1', bad);
    assert.equal(retryAfterFromUpstream(bad, 37, NOW), '37', bad);
  }
  assert.equal(retryAfterFromUpstream(undefined, 37, NOW), '37');
  assert.equal(retryAfterFromUpstream(undefined, 1e30, NOW), '1');
  assert.equal(retryAfterFromUpstream(undefined, undefined, NOW), '1');
});

test('a wait past a day is a day: no provider limit lasts longer, and a client told 31 years stops for good', () => {
  assert.equal(retryAfterFromUpstream('999999999', undefined, NOW), '86400');
  assert.equal(retryAfterFromUpstream('86400', undefined, NOW), '86400');
  assert.equal(retryAfterFromUpstream('Sun, 01 Mar 2099 12:00:00 GMT', undefined, NOW), '86400');
  assert.equal(retryAfterFromUpstream(undefined, 10_000_000, NOW), '86400');
});
