import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capCount, readOpenAIUsage, reportedCount, sumCounts, writeOpenAIUsage } from '../../src/protocol/usage.ts';
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
  // A cache count above the prompt is capped at it.
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 99 } }), { prompt: 10, cached: 10, cacheWrite: 0, completion: 5, reasoning: 0 });
  // Absent counts are 0.
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: null, completion_tokens_details: { reasoning_tokens: null } }), { prompt: 10, cached: 0, cacheWrite: 0, completion: 5, reasoning: 0 });
  assert.equal(readOpenAIUsage(null), null);
  assert.equal(readOpenAIUsage(undefined), null);
});

test('counts that cannot be true are kept as they came (NaN when not numbers), for billing to reject, never turned into 0', () => {
  const read = (u: Record<string, unknown>) => readOpenAIUsage({ prompt_tokens: 100, completion_tokens: 10, ...u })!;
  assert.equal(read({ completion_tokens: -5 }).completion, -5);
  assert.equal(read({ completion_tokens: 10.5 }).completion, 10.5);
  assert.equal(read({ prompt_tokens: '500' }).prompt, NaN);
  assert.equal(read({ prompt_tokens: { n: 500 } }).prompt, NaN);
  assert.equal(readOpenAIUsage(JSON.parse('{"prompt_tokens":1e400,"completion_tokens":1}'))!.prompt, Infinity);
  assert.equal(read({ completion_tokens_details: { reasoning_tokens: '6' } }).reasoning, NaN);
  // Not hidden by the cap at the prompt, nor by a count of the same thing in another field.
  assert.equal(read({ prompt_tokens_details: { cached_tokens: Infinity } }).cached, Infinity);
  assert.equal(read({ prompt_tokens_details: { cached_tokens: '40' }, prompt_cache_hit_tokens: 40 }).cached, NaN);
  assert.equal(read({ prompt_tokens_details: { cached_tokens: 0 }, prompt_cache_hit_tokens: -40 }).cached, -40);
  assert.equal(read({ prompt_tokens_details: { cached_tokens: 10, cache_write_tokens: 2.5 } }).cacheWrite, 2.5);
  // A bad prompt count is not hidden behind a cache count capped at it.
  assert.equal(read({ prompt_tokens: -5, prompt_tokens_details: { cached_tokens: 3 } }).prompt, -5);
});

test('a report without the counts its format always carries is no report (null), to be billed by estimate', () => {
  assert.equal(readOpenAIUsage({}), null);
  assert.equal(readOpenAIUsage({ total_tokens: 50 }), null);
  assert.equal(readOpenAIUsage({ prompt_tokens: 10, total_tokens: 10 }), null, 'a chat report has a completion count');
  assert.equal(readOpenAIUsage({ prompt_tokens: null, completion_tokens: 3 }), null);
  assert.equal(readOpenAIUsage({ total_tokens: 9 }, 'embeddings'), null);
  // An embeddings report has no completion count.
  assert.deepEqual(readOpenAIUsage({ prompt_tokens: 9, total_tokens: 9 }, 'embeddings'), { prompt: 9, cached: 0, cacheWrite: 0, completion: 0, reasoning: 0 });
  // A count present but not a number is a report, an impossible one.
  assert.equal(readOpenAIUsage({ prompt_tokens: 'n/a', completion_tokens: 3 })!.prompt, NaN);
});

test('sumCounts and capCount keep a count that is not whole rather than hide it', () => {
  assert.equal(sumCounts(10, 20), 30);
  assert.equal(sumCounts(10, -5), -5);
  assert.equal(sumCounts(NaN, 5), NaN);
  assert.equal(sumCounts(1.5, 2.5), 1.5);
  assert.equal(capCount(99, 10), 10);
  assert.equal(capCount(Infinity, 10), Infinity);
  assert.equal(capCount(5, -1), -1);
  assert.equal(reportedCount(undefined), 0);
  assert.equal(reportedCount(null), 0);
  assert.equal(reportedCount('7'), NaN);
  assert.equal(reportedCount(true), NaN);
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
