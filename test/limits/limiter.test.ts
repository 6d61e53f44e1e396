import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryPeriodCounter, MemoryRateLimiter } from '../../src/limits/limiter.ts';
import { formatDuration, requestHeaders, retryAfterSeconds } from '../../src/limits/headers.ts';
import { compileAllowlist } from '../../src/limits/plans.ts';
import type { ModelEntry } from '../../src/gateway/catalog.ts';

// The in-process limiter, driven by a fake clock: exact at the window's boundary.

const W = 60_000;

test('sliding window: exactly N pass in any window, the N+1st is refused until the oldest expires', () => {
  let now = 1_000_000;
  const rl = new MemoryRateLimiter(() => now);
  for (let i = 0; i < 3; i++) {
    const d = rl.consume('k', 3, W, 1);
    assert.equal(d.allowed, true);
    assert.equal(d.remaining, 2 - i);
    now += 10_000; // requests at 0 s, 10 s, 20 s
  }
  // at 30 s: refused; the first request leaves the window at 60 s
  let d = rl.consume('k', 3, W, 1);
  assert.equal(d.allowed, false);
  assert.equal(d.retryAfterMs, 30_000);
  assert.equal(d.remaining, 0);
  assert.equal(d.resetMs, 50_000); // the last (20 s) leaves at 80 s
  now = 1_000_000 + W - 1; // 1 ms before the first expires
  assert.equal(rl.consume('k', 3, W, 1).allowed, false);
  now = 1_000_000 + W; // exactly when it expires
  d = rl.consume('k', 3, W, 1);
  assert.equal(d.allowed, true);
  assert.equal(d.remaining, 0);
  // A fixed window would now let 3 more through at the minute's edge; this refuses.
  assert.equal(rl.consume('k', 3, W, 1).allowed, false);
});

test('no 2× at a minute edge: a burst at 59.9 s and another at 60.1 s', () => {
  let now = 59_900;
  const rl = new MemoryRateLimiter(() => now);
  for (let i = 0; i < 5; i++) assert.equal(rl.consume('k', 5, W, 1).allowed, true);
  now = 60_100;
  assert.equal(rl.consume('k', 5, W, 1).allowed, false);
  now = 59_900 + W;
  assert.equal(rl.consume('k', 5, W, 1).allowed, true);
});

test('costs, check without recording, unconditional record (token limits)', () => {
  let now = 0;
  const rl = new MemoryRateLimiter(() => now);
  assert.equal(rl.check('t', 1000, W, 1).allowed, true);
  rl.record('t', W, 600);
  now = 5_000;
  rl.record('t', W, 600); // usage known after the fact may pass the limit
  const d = rl.check('t', 1000, W, 1);
  assert.equal(d.allowed, false);
  assert.equal(d.used, 1200);
  assert.equal(d.remaining, 0);
  // 1200 + 1 − 1000: the first 600 must expire, at 60 s (55 s from now)
  assert.equal(d.retryAfterMs, 55_000);
  now = 60_000;
  const e = rl.check('t', 1000, W, 1);
  assert.equal(e.allowed, true);
  assert.equal(e.used, 600);
  assert.equal(e.resetMs, 5_000);
  // consume with a cost that does not fit records nothing
  assert.equal(rl.consume('t', 1000, W, 500).allowed, false);
  assert.equal(rl.check('t', 1000, W, 0).used, 600);
});

test('memory stays bounded: entries within 1/1000 of the window merge, and never undercount', () => {
  let now = 0;
  const rl = new MemoryRateLimiter(() => now);
  let allowed = 0;
  for (let i = 0; i < 100_000; i++) {
    now = i; // one attempt per ms for 100 s
    if (rl.consume('k', 1000, W, 1).allowed) allowed++;
    // never more than the limit in the trailing window
  }
  // the first 60 s admit 1000, then the log refills as they expire: at most 1000 per
  // rolling minute, so at most 2000 over 100 s (at most ~1/1000 of the window early)
  assert.ok(allowed <= 2000, `${allowed}`);
  assert.ok(allowed >= 1990, `${allowed}`);
});

test('idle keys are dropped', () => {
  let now = 0;
  const rl = new MemoryRateLimiter(() => now);
  for (let i = 0; i < 100; i++) rl.consume(`k${i}`, 10, W, 1);
  assert.equal(rl.size, 100);
  now = 2 * W;
  rl.consume('other', 10, W, 1);
  assert.equal(rl.size, 1);
});

test('period counters reset when the period changes', () => {
  const c = new MemoryPeriodCounter();
  c.add('a', 10, 5);
  c.add('a', 10, 7);
  assert.equal(c.used('a', 10), 12);
  assert.equal(c.used('a', 11), 0);
  c.add('a', 11, 1);
  assert.equal(c.used('a', 11), 1);
  assert.equal(c.used('a', 10), 0);
});

test('durations in OpenAI (Go) format, Retry-After in whole seconds rounded up', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(17), '17ms');
  assert.equal(formatDuration(999.2), '1s');
  assert.equal(formatDuration(1000), '1s');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(59_980), '59.98s');
  assert.equal(formatDuration(360_000), '6m0s');
  assert.equal(formatDuration(90_500), '1m30.5s');
  assert.equal(formatDuration(3_600_000), '1h0m0s');
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1000), 1);
  assert.equal(retryAfterSeconds(1001), 2);
  assert.equal(retryAfterSeconds(0), 1);
});

test('X-RateLimit-Reset is the ISO 8601 time of the reset, to the millisecond, however the times fall', () => {
  // Consecutive requests reuse what they can of the last value: each must still be exact,
  // across milliseconds, seconds, days and years, and with a clock that is not whole ms.
  const starts = [Date.UTC(2026, 11, 31, 23, 58, 59, 990), Date.UTC(2024, 1, 28, 23, 58, 0, 0), 1_765_000_000_000.75, 0];
  for (const start of starts) {
    for (let step = 0; step < 3_000; step += 7) {
      for (const resetMs of [60_000, 59_999.2, 1, 0]) {
        const now = start + step;
        const h: Record<string, string> = {};
        requestHeaders(h, 10, { allowed: true, used: 1, remaining: 9, resetMs, retryAfterMs: 0 }, now);
        assert.equal(h['X-RateLimit-Reset'], new Date(now + Math.ceil(resetMs)).toISOString(), `now ${now}, reset in ${resetMs} ms`);
      }
    }
  }
});

test('allowlists: exact ids, globs, owner/id forms', () => {
  const m = (id: string, ownedBy = 'deepseek') => ({ id, ownedBy }) as ModelEntry;
  const a = compileAllowlist(['deepseek-*', 'gpt-4o', 'anthropic/*', 'x?z']);
  assert.equal(a(m('deepseek-v4-flash')), true);
  assert.equal(a(m('deepseek')), false);
  assert.equal(a(m('gpt-4o', 'openai')), true);
  assert.equal(a(m('gpt-4o-mini', 'openai')), false);
  assert.equal(a(m('claude-sonnet', 'anthropic')), true);
  assert.equal(a(m('xyz', 'o')), true);
  assert.equal(a(m('x.z', 'o')), true);
  assert.equal(compileAllowlist(['a.b'])(m('axb')), false, 'dots are literal');
  assert.equal(compileAllowlist([])(m('deepseek-v4-flash')), false);
});

test('refund takes back what was just consumed, never below zero', () => {
  let now = 1_000_000;
  const r = new MemoryRateLimiter(() => now);
  for (let i = 0; i < 3; i++) assert.equal(r.consume('k', 3, 60_000, 1).allowed, true);
  assert.equal(r.consume('k', 3, 60_000, 1).allowed, false);
  r.refund('k', 1);
  assert.equal(r.check('k', 3, 60_000, 1).used, 2);
  assert.equal(r.consume('k', 3, 60_000, 1).allowed, true);
  now += 30_000;
  r.refund('k', 5);
  assert.equal(r.check('k', 3, 60_000, 1).used, 0, 'the newest entry held all three, merged');
  r.refund('nobody', 1);
  assert.equal(r.check('nobody', 3, 60_000, 1).used, 0);
});
