import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chatInputTokenBound, chatInputTokenFloor, countChatInputTokens, countTextTokens, estimateChatInputTokens, hasUnmeasuredParts, IMAGE_TOKENS, measureChatInput, measureEmbeddingInput, textTokenFloor } from '../../src/limits/token-count.ts';

// The cheap bounds that let most requests skip the tokenizer must really bound it:
// floor ≤ count ≤ bound, on every kind of text.

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ALPHABET = [' ', ' ', ' ', '  ', '\n', '\r\n', '\t', '/', '//', '\n/', '!', '?', '.', ',', "'s", '"', '(', ')', '{', '}', '-', '_', '=', '==', '<|endoftext|>', '0', '12', '1234567', 'a', 'the', 'The', 'HTTP', 'Résumé', 'é', 'naïve', '日本語', '中文', 'Привет', 'مرحبا', '🙂', '👨‍👩‍👧', '\u00a0', '\u3000', 'x/y', 'https://example.com/a/b', '\\n', '$', '€', '\u0301'];

function randomText(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)]!;
  return s;
}

test('floor ≤ count ≤ bound on random mixed text (ASCII, punctuation, slashes, newlines, CJK, emoji, special-token text)', () => {
  const r = rng(42);
  for (let i = 0; i < 400; i++) {
    const body = { messages: [{ role: 'user', content: randomText(r, 1 + Math.floor(r() * 300)) }, { role: 'assistant', content: randomText(r, Math.floor(r() * 50)) }] };
    const count = countChatInputTokens(body);
    const floor = chatInputTokenFloor(body);
    const bound = chatInputTokenBound(body);
    assert.ok(floor <= count, `floor ${floor} > count ${count} for ${JSON.stringify(body)}`);
    assert.ok(count <= bound, `count ${count} > bound ${bound}`);
  }
});

test('floor on prose is most of the count; stops early past the cap', () => {
  const prose = 'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. '.repeat(2000);
  const count = countChatInputTokens({ messages: [{ role: 'user', content: prose }] });
  const floor = textTokenFloor(prose);
  assert.ok(floor <= count);
  assert.ok(floor > count * 0.7, `${floor} vs ${count}`);
  assert.equal(textTokenFloor(prose, 100), 101);
});

test('measureChatInput: skips the tokenizer when small, proves "over" by the floor, counts in between', () => {
  const small = { messages: [{ role: 'user', content: 'hello there' }] };
  assert.deepEqual(measureChatInput(small, 1000), { tokens: chatInputTokenBound(small), counted: false, over: false });
  const big = { messages: [{ role: 'user', content: 'word '.repeat(5000) }] };
  const m = measureChatInput(big, 1000);
  assert.equal(m.over, true);
  assert.equal(m.counted, false);
  // CJK has no spaces: the floor proves nothing, so the tokenizer decides
  const cjk = { messages: [{ role: 'user', content: '日本語のテキスト'.repeat(400) }] };
  const c = measureChatInput(cjk, 1000);
  assert.equal(c.counted, true);
  assert.equal(c.over, true);
  const within = measureChatInput(cjk, 100_000);
  assert.equal(within.over, false);
  assert.ok(within.tokens >= countChatInputTokens(cjk));
  const exact = measureChatInput({ messages: [{ role: 'user', content: '日本語'.repeat(300) }] }, 1000);
  assert.equal(exact.counted, true);
  assert.equal(exact.tokens, countChatInputTokens({ messages: [{ role: 'user', content: '日本語'.repeat(300) }] }));
});

test('estimate of a huge input is close to its count', () => {
  const body = { messages: [{ role: 'user', content: 'the quick brown fox jumps over the lazy dog '.repeat(20_000) }] };
  const count = countChatInputTokens(body);
  const est = estimateChatInputTokens(body);
  assert.ok(Math.abs(est - count) / count < 0.02, `${est} vs ${count}`);
});

test('embeddings are measured per input', () => {
  assert.deepEqual(measureEmbeddingInput({ input: 'hello' }, 100), { tokens: 5, counted: false, over: false, index: -1 });
  assert.equal(measureEmbeddingInput({ input: [1, 2, 3] }, 100).tokens, 3);
  assert.equal(measureEmbeddingInput({ input: [[1, 2], [3]] }, 100).tokens, 3);
  const over = measureEmbeddingInput({ input: ['ok', 'word '.repeat(500)] }, 100);
  assert.equal(over.over, true);
  assert.equal(over.index, 1);
  assert.equal(measureEmbeddingInput({ input: Array.from({ length: 200 }, () => 1) }, 100).over, true);
  // One input past the cap in bytes is tokenized; its short neighbours are only bounded by
  // their bytes, so the total is not a count (billing must count them if it needs one).
  const long = 'word '.repeat(150);
  const alone = measureEmbeddingInput({ input: [long] }, 200);
  assert.deepEqual(alone, { tokens: countTextTokens(long), counted: true, over: false, index: -1 });
  const mixed = measureEmbeddingInput({ input: [long, 'a short sentence here', 'another one'] }, 200);
  assert.equal(mixed.counted, false);
  assert.equal(mixed.tokens, countTextTokens(long) + 'a short sentence here'.length + 'another one'.length);
});

test('long runs without whitespace are counted in linear time, close to the exact count; other text exactly', async () => {
  const { countTokens: exact } = await import('gpt-tokenizer');
  const plain = { disallowedSpecial: new Set<string>() };
  const r = rng(7);
  // Text whose runs are all short is counted exactly as the tokenizer counts it whole.
  for (let i = 0; i < 50; i++) {
    const text = randomText(r, 2000);
    assert.equal(countTextTokens(text), exact(text, plain));
  }
  // Long runs: base64 and Chinese without spaces, close to exact (within 0.5%).
  let b64 = '';
  while (b64.length < 100_000) b64 += Math.floor(r() * 2 ** 32).toString(36) + (r() < 0.1 ? '+/' : '');
  const zh = '我们今天讨论的是一个非常重要的问题，'.repeat(2000);
  for (const text of [b64, zh]) {
    const n = countTextTokens(text);
    const e = exact(text, plain);
    assert.ok(n >= e * 0.995 && n <= e * 1.005, `${n} against exact ${e}`);
  }
  // The case that made it necessary: 200 KB of letters in one run (exact: seconds).
  let word = '';
  for (let i = 0; i < 200_000; i++) word += String.fromCharCode(97 + ((i * 7919) % 26));
  const t0 = performance.now();
  const n = countTextTokens(word);
  const ms = performance.now() - t0;
  assert.ok(n > 50_000, `counted ${n}`);
  assert.ok(ms < 1_000, `took ${ms.toFixed(0)} ms`);
  // And runs one short of the cut, where finding the runs is the work (a regex for them
  // took 0.8 s over this 1 MB).
  let runs = '';
  for (let i = 0; runs.length < 1_000_000; i++) runs += `${word.slice(i % 1000, (i % 1000) + 511)} `;
  const t1 = performance.now();
  assert.ok(countTextTokens(runs) > 100_000);
  const ms1 = performance.now() - t1;
  assert.ok(ms1 < 1_500, `took ${ms1.toFixed(0)} ms`);
});

test('every field that reaches the model as context is counted: reasoning sent back, a refusal, a predicted output', () => {
  const text = 'word '.repeat(300);
  const base = countChatInputTokens({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok' }] });
  for (const extra of [{ reasoning_content: text }, { reasoning: text }, { refusal: text }]) {
    const body = { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok', ...extra }] };
    assert.equal(countChatInputTokens(body), base + countTextTokens(text), JSON.stringify(Object.keys(extra)));
    assert.ok(chatInputTokenBound(body) >= countChatInputTokens(body));
    assert.ok(chatInputTokenFloor(body) <= countChatInputTokens(body));
  }
  // Both reasoning fields (some upstreams answer with both, the same text): counted once.
  const both = { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok', reasoning_content: text, reasoning: text }] };
  assert.equal(countChatInputTokens(both), base + countTextTokens(text));
  const predicted = { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok' }], prediction: { type: 'content', content: text } };
  assert.equal(countChatInputTokens(predicted), base + countTextTokens(text));
  const parts = { ...predicted, prediction: { type: 'content', content: [{ type: 'text', text }] } };
  assert.equal(countChatInputTokens(parts), base + countTextTokens(text));
});

test('attachments: text is counted as text, images at a fixed cost, and what only the upstream can measure is marked so', () => {
  const text = 'the quick brown fox '.repeat(200);
  const b64 = Buffer.from(text).toString('base64');
  const ask = (part: object) => ({ messages: [{ role: 'user', content: [{ type: 'text', text: 'read this' }, part] }] });
  const base = countChatInputTokens(ask({ type: 'text', text: '' }));
  // Text attached as a file or as an "image" data URI: decoded and counted as the text.
  for (const part of [
    { type: 'file', file: { filename: 'a.txt', file_data: `data:text/plain;base64,${b64}` } },
    { type: 'image_url', image_url: { url: `data:text/plain;base64,${b64}` } },
    { type: 'file', file: { file_data: `data:application/json,${encodeURIComponent(text)}` } },
  ]) {
    assert.equal(countChatInputTokens(ask(part)), base + countTextTokens(text), JSON.stringify(part).slice(0, 80));
    assert.equal(hasUnmeasuredParts(ask(part)), false);
    assert.ok(chatInputTokenBound(ask(part)) >= countChatInputTokens(ask(part)));
  }
  // Images: a fixed cost, and nothing unmeasured.
  for (const url of ['data:image/png;base64,iVBORw0KGgo=', 'https://example.com/cat.jpg', 'https://cdn.example.com/img/12345?w=800']) {
    const body = ask({ type: 'image_url', image_url: { url } });
    assert.equal(countChatInputTokens(body), base + IMAGE_TOKENS, url);
    assert.equal(hasUnmeasuredParts(body), false, url);
  }
  // What only the upstream can measure: PDFs, audio, video, a document sent as an image.
  for (const part of [
    { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } },
    { type: 'file', file: { file_id: 'file-abc' } },
    { type: 'input_audio', input_audio: { data: 'UklGR', format: 'wav' } },
    { type: 'image_url', image_url: { url: 'https://example.com/book.pdf' } },
    { type: 'image_url', image_url: { url: 'https://example.com/movie.mp4' } },
    { type: 'image_url', image_url: 'data:application/pdf;base64,JVBERi0xLjQK' },
  ]) assert.equal(hasUnmeasuredParts(ask(part)), true, JSON.stringify(part));
});

test('long runs of whitespace (spaces, newlines, tabs, U+00A0, U+3000) are counted in linear time, close to the exact count', async () => {
  const { countTokens: exact } = await import('gpt-tokenizer');
  const plain = { disallowedSpecial: new Set<string>() };
  // Whole, 100 KB of spaces took 7.7 s and of U+3000 48 s; a prompt of 130 KB of
  // newlines held the event loop 25 s before its answer.
  for (const ch of [' ', '\n', '\t', '\u00a0', '\u3000']) {
    const text = `start${ch.repeat(100_000)}end`;
    const t0 = performance.now();
    const n = countTextTokens(text);
    const ms = performance.now() - t0;
    assert.ok(ms < 1_000, `${JSON.stringify(ch)}: took ${ms.toFixed(0)} ms`);
    assert.ok(n > 2, `${JSON.stringify(ch)}: counted ${n}`);
    assert.ok(countChatInputTokens({ messages: [{ role: 'user', content: text }] }, 10) > 10, 'a cap is still enforced');
  }
  // Short whitespace runs between words: exactly as counted whole.
  const prose = 'word   \n\n\t  other '.repeat(500);
  assert.equal(countTextTokens(prose), exact(prose, plain));
  // A cut run is close to exact where exact is affordable.
  const mid = `a${' '.repeat(3000)}b`;
  const e = exact(mid, plain);
  const n = countTextTokens(mid);
  assert.ok(Math.abs(n - e) <= 6, `${n} against exact ${e}`);
});
