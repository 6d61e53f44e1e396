import { test } from 'node:test';
import assert from 'node:assert/strict';
import { costOf, maxCostOf, pricesFromConfig } from '../../src/billing/prices.ts';
import { picoToUsd } from '../../src/billing/money.ts';

const flash = pricesFromConfig({ input: '0.16', cached_input: '0.004', output: '0.30' });

test('one cached token at $0.004 per 1M is 4,000 pUSD, not rounded away', () => {
  assert.equal(flash.cachedInput, 4_000n);
  assert.equal(costOf({ prompt: 1, cached: 1, cacheWrite: 0, completion: 0, reasoning: 0 }, flash), 4_000n);
  assert.equal(picoToUsd(4_000n), '0.000000004');
});

test('each token is billed once at its price: fresh, cached, cache-write, output (reasoning included)', () => {
  const p = pricesFromConfig({ input: '3', cached_input: '0.3', output: '15', cache_write: '3.75' });
  // 1000 prompt = 600 fresh + 300 cached + 100 cache writes; 500 completion of which 200 reasoning
  const cost = costOf({ prompt: 1000, cached: 300, cacheWrite: 100, completion: 500, reasoning: 200 }, p);
  const expected = 600n * 3_000_000n + 300n * 300_000n + 100n * 3_750_000n + 500n * 15_000_000n;
  assert.equal(cost, expected);
  assert.equal(picoToUsd(cost), '0.009765');
});

test('defaults: cached input and cache writes cost the input price when not set', () => {
  const p = pricesFromConfig({ input: '1', output: '2' });
  assert.equal(p.cachedInput, p.input);
  assert.equal(p.cacheWrite, p.input);
});

test('the reservation bound uses the dearer input rate and the output cap', () => {
  const p = pricesFromConfig({ input: '3', output: '15', cache_write: '3.75' });
  assert.equal(maxCostOf(100, 10, p), 100n * 3_750_000n + 10n * 15_000_000n);
});

test('a million requests of one cached token sum exactly (no float drift)', () => {
  let total = 0n;
  for (let i = 0; i < 1_000_000; i++) total += costOf({ prompt: 1, cached: 1, cacheWrite: 0, completion: 0, reasoning: 0 }, flash);
  assert.equal(picoToUsd(total), '0.004');
});

test('a priced model reserves at least one token at its dearest rate; a free one reserves nothing', () => {
  const embed = pricesFromConfig({ input: '0.02', output: '0' });
  assert.equal(maxCostOf(0, 0, embed), 20_000n);
  assert.equal(maxCostOf(3, 0, embed), 60_000n);
  const outputOnly = pricesFromConfig({ input: '0', output: '2' });
  assert.equal(maxCostOf(0, 0, outputOnly), 2_000_000n);
  assert.equal(maxCostOf(0, 0, pricesFromConfig({ input: '0', output: '0' })), 0n);
  assert.equal(maxCostOf(0, 0, pricesFromConfig(undefined)), 0n);
});

test('a cached input rate dearer than the input rate is the one reserved', () => {
  const p = pricesFromConfig({ input: '1', cached_input: '2', output: '0' });
  assert.equal(maxCostOf(10, 0, p), 10n * 2_000_000n);
});
