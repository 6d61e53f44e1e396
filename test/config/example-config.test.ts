import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'tollgate.example.yaml');

test('the shipped example reproduces lincorelink: models, prices and plans', () => {
  const c = loadConfig(EXAMPLE, { DEEPSEEK_API_KEY: 'sk-test' });
  assert.equal(c.admin_token, undefined, 'an empty ${VAR:-} means not set');
  assert.equal(c.providers[0]!.api_key, 'sk-test');
  const prices = Object.fromEntries(c.models.map((m) => [m.id, m.pricing]));
  assert.deepEqual(prices['deepseek-v4-flash'], { input: '0.16', cached_input: '0.004', output: '0.30' });
  assert.deepEqual(prices['deepseek-v4-pro'], { input: '0.60', cached_input: '0.005', output: '1.20' });
  const plans = Object.fromEntries(c.plans.map((p) => [p.id, p]));
  assert.deepEqual([plans.basic!.context_tokens, plans.basic!.max_output_tokens, plans.basic!.concurrency, plans.basic!.daily_tokens], [128_000, 32_000, 10, 100_000_000]);
  assert.deepEqual([plans.pro!.context_tokens, plans.pro!.max_output_tokens, plans.pro!.concurrency, plans.pro!.daily_tokens], [256_000, 32_000, 20, undefined]);
  assert.deepEqual([plans.max!.context_tokens, plans.max!.max_output_tokens, plans.max!.concurrency, plans.max!.daily_tokens], [1_000_000, 64_000, 20, undefined]);
  assert.deepEqual(plans.basic!.models, ['deepseek-v4-flash']);
  assert.equal(c.default_plan, 'basic');
});

test('the example needs its provider key: the error names the variable and the path', () => {
  assert.throws(() => loadConfig(EXAMPLE, {}), /providers\[0\]\.api_key: environment variable DEEPSEEK_API_KEY is not set/);
});
