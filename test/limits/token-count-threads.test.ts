import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TokenCountThreads } from '../../src/limits/token-count-threads.ts';
import { countChatInputTokens, countEmbeddingInputTokens, countJob, fullCountJob, measureChatInput, measureEmbeddingInput, runCountJob, COUNT_JOB_MIN_CHARS, estimateChatInputTokens } from '../../src/limits/token-count.ts';
import { textOfTokens } from './helpers.ts';

const chatBody = (content: string) => ({ model: 'm', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content }] });

test('a long chat input is measured on a thread exactly as in place: within the cap, and over it with its estimate', async (t) => {
  const pool = new TokenCountThreads({ size: 2 });
  t.after(() => pool.close());
  const within = chatBody(textOfTokens(40_000)); // ~200 KB: more bytes than the 128K cap, fewer tokens
  // Chinese: its whitespace floor is 0, so only counting can show it over the cap.
  const over = chatBody('我们的网关把请求转发给上游模型，并按照实际用量结算费用。'.repeat(8_000));
  assert.equal(measureChatInput(over, 128_000).over, true);
  for (const [body, cap] of [[within, 128_000], [over, 128_000], [over, 500_000]] as const) {
    const job = countJob('chat', body, cap);
    assert.ok(job, 'a job: the bytes alone cannot decide');
    const got = await pool.measure(job);
    const want = measureChatInput(body, cap);
    assert.deepEqual({ tokens: got.tokens, counted: got.counted, over: got.over }, want);
    assert.equal(got.cap, cap);
    if (want.over) assert.equal(got.estimate, estimateChatInputTokens(body));
    else assert.equal(got.estimate, undefined);
  }
  assert.equal(pool.done, 3);
  assert.equal(pool.inPlace, 0);
});

test('no job when the bytes decide, or when the text is short enough to count in place', () => {
  assert.equal(countJob('chat', chatBody(textOfTokens(1_000)), 128_000), null); // bytes within the cap
  assert.equal(countJob('chat', chatBody(textOfTokens(1_000)), 2_000), null); // tokenized, but short
  assert.equal(countJob('chat', chatBody(textOfTokens(1_000_000)), 128_000), null); // the whitespace floor is over
  assert.equal(countJob('chat', chatBody(textOfTokens(50_000)), Infinity), null); // no cap
  assert.ok(countJob('chat', chatBody(textOfTokens(50_000)), 128_000));
  const short = 'word '.repeat(Math.floor(COUNT_JOB_MIN_CHARS / 5) - 10);
  assert.ok(countJob('embeddings', { input: [short] }, 2_000) === null, 'one input under the threshold');
  assert.ok(countJob('embeddings', { input: [short, short] }, 2_000) !== null, 'two that add up past it');
});

test('embeddings inputs are measured on a thread as in place, including which input is over', async (t) => {
  const pool = new TokenCountThreads({ size: 1 });
  t.after(() => pool.close());
  const long = textOfTokens(6_000); // ~30 KB: tokenized against an 8,191 cap
  for (const input of [[long, 'short', long], ['short', textOfTokens(9_000), long], long]) {
    const job = countJob('embeddings', { input }, 8_191);
    assert.ok(job);
    const got = await pool.measure(job);
    const want = measureEmbeddingInput({ input }, 8_191);
    assert.deepEqual({ tokens: got.tokens, counted: got.counted, over: got.over, index: got.index }, want);
  }
  assert.equal(pool.done, 3);
});

test('jobs beyond the threads wait their turn and all get their own answers', async (t) => {
  const pool = new TokenCountThreads({ size: 2 });
  t.after(() => pool.close());
  const bodies = Array.from({ length: 7 }, (_, i) => chatBody(textOfTokens(30_000 + i * 1_000)));
  const got = await Promise.all(bodies.map((b) => pool.measure(countJob('chat', b, 128_000)!)));
  got.forEach((g, i) => assert.equal(g.tokens, measureChatInput(bodies[i]!, 128_000).tokens, `job ${i}`));
  assert.equal(pool.done, 7);
});

test('the event loop keeps running while a thread counts', async (t) => {
  const pool = new TokenCountThreads({ size: 1 });
  t.after(() => pool.close());
  const body = chatBody(textOfTokens(900_000));
  const job = countJob('chat', body, 1_000_000)!;
  await pool.measure(countJob('chat', chatBody(textOfTokens(30_000)), 128_000)!); // the thread has loaded
  const t0 = performance.now();
  runCountJob(job);
  const inPlaceMs = performance.now() - t0;
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t1 = performance.now();
  const r = await pool.measure(job);
  const threadMs = performance.now() - t1;
  h.disable();
  assert.equal(r.over, false);
  const maxDelayMs = h.max / 1e6;
  // In place the loop stops for the whole count (hundreds of ms); here only for copying the text over.
  assert.ok(inPlaceMs > 50, `counting in place took ${inPlaceMs.toFixed(0)} ms`);
  assert.ok(maxDelayMs < inPlaceMs / 3, `the loop was held up to ${maxDelayMs.toFixed(0)} ms during a ${threadMs.toFixed(0)} ms count (in place: ${inPlaceMs.toFixed(0)} ms)`);
});

test('a thread that dies: its job is measured in place, and the next job gets a new thread', async (t) => {
  const pool = new TokenCountThreads({ size: 1, workerUrl: new URL('../fixtures/token-count-thread-dies.ts', import.meta.url) });
  t.after(() => pool.close());
  const body = chatBody(textOfTokens(40_000));
  const want = measureChatInput(body, 128_000).tokens;
  assert.equal((await pool.measure(countJob('chat', body, 128_000)!)).tokens, want);
  assert.equal((await pool.measure(countJob('chat', body, 128_000)!)).tokens, want);
  assert.equal(pool.inPlace, 2);
  assert.equal(pool.done, 0);
});

test('closing answers the jobs still waiting, in place, and later jobs too', async () => {
  const pool = new TokenCountThreads({ size: 1 });
  const bodies = Array.from({ length: 3 }, (_, i) => chatBody(textOfTokens(40_000 + i)));
  const pending = bodies.map((b) => pool.measure(countJob('chat', b, 128_000)!));
  await pool.close();
  const got = await Promise.all(pending);
  got.forEach((g, i) => assert.equal(g.tokens, measureChatInput(bodies[i]!, 128_000).tokens));
  assert.equal((await pool.measure(countJob('chat', bodies[0]!, 128_000)!)).tokens, got[0]!.tokens);
  assert.ok(pool.inPlace >= 3);
});

test('a thread left without work ends (each holds ~95 MB), but the last one stays warm', async (t) => {
  const pool = new TokenCountThreads({ size: 2, idleMs: 100 });
  t.after(() => pool.close());
  const body = chatBody(textOfTokens(40_000));
  const want = measureChatInput(body, 128_000).tokens;
  const both = Promise.all([pool.measure(countJob('chat', body, 128_000)!), pool.measure(countJob('chat', body, 128_000)!)]);
  assert.equal(pool.threads, 2, 'one thread each');
  await both;
  const until = Date.now() + 5_000;
  while (pool.threads > 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(pool.threads, 1, 'one ended');
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(pool.threads, 1, 'the last one stays: a long prompt after a quiet spell does not wait for a load');
  assert.equal((await pool.measure(countJob('chat', body, 128_000)!)).tokens, want);
  assert.equal(pool.done, 3);
  assert.equal(pool.inPlace, 0);
});

test('a job whose client left is dropped from the queue, or its thread stopped, and the next job is answered', async (t) => {
  const pool = new TokenCountThreads({ size: 1 });
  t.after(() => pool.close());
  const long = countJob('chat', chatBody(textOfTokens(900_000)), 1_000_000)!;
  const short = chatBody(textOfTokens(30_000));
  const running = new AbortController();
  const queued = new AbortController();
  const first = pool.measure(long, { signal: running.signal });
  const second = pool.measure(long, { signal: queued.signal });
  const third = pool.measure(countJob('chat', short, 128_000)!);
  assert.equal(pool.pending, 3);
  queued.abort();
  await assert.rejects(second, { name: 'AbortError' });
  assert.equal(pool.pending, 2, 'dropped from the queue');
  const t0 = performance.now();
  running.abort();
  await assert.rejects(first, { name: 'AbortError' });
  assert.equal((await third).tokens, measureChatInput(short, 128_000).tokens);
  assert.ok(performance.now() - t0 < 2_000, 'the next job did not wait for the abandoned count');
  assert.equal(pool.dropped, 2);
  assert.equal(pool.inPlace, 0);
  await assert.rejects(pool.measure(long, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('owners take turns: one owner\'s queued jobs do not go before another\'s first', async (t) => {
  const pool = new TokenCountThreads({ size: 1 });
  t.after(() => pool.close());
  const job = countJob('chat', chatBody(textOfTokens(60_000)), 128_000)!;
  const order: string[] = [];
  const run = (owner: string, n: number) => pool.measure(job, { owner }).then(() => order.push(`${owner}${n}`));
  await Promise.all([run('a', 1), run('a', 2), run('a', 3), run('b', 1)]);
  assert.deepEqual(order, ['a1', 'b1', 'a2', 'a3']);
});

test('a thread that cannot be started: the job is measured in place, and nothing stays queued', async (t) => {
  const pool = new TokenCountThreads({ size: 1, workerUrl: new URL('http://127.0.0.1/not-a-module.js') });
  t.after(() => pool.close());
  const body = chatBody(textOfTokens(40_000));
  for (let i = 0; i < 3; i++) assert.equal((await pool.measure(countJob('chat', body, 128_000)!)).tokens, measureChatInput(body, 128_000).tokens);
  assert.equal(pool.pending, 0);
  assert.equal(pool.inPlace, 3);
});

test('full counts (for an answer without usage) on a thread equal those in place, for chat and embeddings', async (t) => {
  const pool = new TokenCountThreads({ size: 1 });
  t.after(() => pool.close());
  const chat = chatBody(textOfTokens(20_000));
  const job = fullCountJob('chat', chat)!;
  assert.equal((await pool.measure(job)).tokens, countChatInputTokens(chat));
  const emb = { input: [textOfTokens(5_000), 'short', textOfTokens(3_000)] };
  assert.equal((await pool.measure(fullCountJob('embeddings', emb)!)).tokens, countEmbeddingInputTokens(emb));
  assert.equal(fullCountJob('chat', chatBody('hello')), null, 'short: counted in place');
  assert.equal(fullCountJob('embeddings', { input: 'hello' }), null);
  assert.equal(pool.done, 2);
});
