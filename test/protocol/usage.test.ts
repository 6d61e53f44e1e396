import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readOpenAIUsage, writeOpenAIUsage } from '../../src/protocol/usage.ts';
import { openaiAdapter } from '../../src/providers/openai/adapter.ts';

// Usage is read from any OpenAI-compatible style and written back in both cache styles.

test('readOpenAIUsage understands OpenAI, DeepSeek and Moonshot cache fields', () => {
  const base = { prompt: 100, cached: 40, cacheWrite: 0, completion: 10, reasoning: 0 };
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, prompt_tokens_details: { cached_tokens: 40 } }), base);
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 100, completion_tokens: 10, prompt_cache_hit_tokens: 40, prompt_cache_miss_tokens: 60 }), base);
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 100, completion_tokens: 10, cached_tokens: 40 }), base);
  assert.deepEqual(readOpenAIUsage({ input_tokens: 100, output_tokens: 10, input_tokens_details: { cached_tokens: 40 } }), base);
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 100, completion_tokens: 10, completion_tokens_details: { reasoning_tokens: 6 } }), { ...base, cached: 0, reasoning: 6 });
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 100, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 30, cache_write_tokens: 50 } }), { ...base, cached: 30, cacheWrite: 50, completion: 0 });
  // Nonsense is clamped, never negative or more cached than prompt.
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 10, completion_tokens: -5, prompt_tokens_details: { cached_tokens: 99 } }), { prompt: 10, cached: 10, cacheWrite: 0, completion: 0, reasoning: 0 });
  assert.equal(readOpenAIUsage(null), null);
  assert.equal(readOpenAIUsage(undefined), null);
});

test('writeOpenAIUsage fills both cache styles and keeps other fields', () => {
  const out = writeOpenAIUsage({ prompt_tokens: 1, extra: 'kept', prompt_tokens_details: { audio_tokens: 0 } }, { prompt: 100, cached: 40, cacheWrite: 0, completion: 10, reasoning: 3 });
  assert.deepEqual(out, {
    prompt_tokens: 100,
    completion_tokens: 10,
    total_tokens: 110,
    extra: 'kept',
    prompt_tokens_details: { audio_tokens: 0, cached_tokens: 40 },
    completion_tokens_details: { reasoning_tokens: 3 },
    prompt_cache_hit_tokens: 40,
    prompt_cache_miss_tokens: 60,
  });
});

test('the OpenAI adapter reads every upstream error shape', () => {
  assert.deepEqual(openaiAdapter.parseError(400, JSON.stringify({ error: { message: 'm', type: 't', param: 'p', code: 'c' } })), { message: 'm', type: 't', param: 'p', code: 'c' });
  assert.deepEqual(openaiAdapter.parseError(400, JSON.stringify({ code: 1001, msg: 'bad thing', request_id: 'x' })), { message: 'bad thing', type: undefined, code: '1001', param: undefined });
  assert.deepEqual(openaiAdapter.parseError(400, JSON.stringify({ error: 'plain string' })), { message: 'plain string' });
  assert.deepEqual(openaiAdapter.parseError(502, '<html>Bad gateway</html>'), { message: '<html>Bad gateway</html>' });
  assert.deepEqual(openaiAdapter.parseError(500, ''), { message: 'upstream error' });
  assert.equal(openaiAdapter.parseError(500, 'x'.repeat(1000)).message.length, 300);
});
