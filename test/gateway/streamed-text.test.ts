import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamedText } from '../../src/gateway/streamed-text.ts';
import { toByteString } from '../../src/protocol/byte-strings.ts';
import { countTextTokens } from '../../src/limits/token-count.ts';

// What a stream keeps to bill itself if it is cut: bounded memory, the same count.

const frame = (delta: Record<string, unknown>) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;

test('a long stream keeps at most ~320 KB of frames plus their text, and counts exactly what it sent', () => {
  const s = new StreamedText();
  assert.equal(s.empty, true);
  let text = '';
  let maxKept = 0;
  for (let i = 0; i < 20_000; i++) {
    const piece = ` word${i}`;
    text += piece;
    s.push(frame({ content: piece }));
    maxKept = Math.max(maxKept, s.keptChars);
  }
  assert.equal(s.empty, false);
  // ~2.4 MB of frames went through; kept whole they would all still be held. Now: at
  // most 320 KB of frames (the newest 192 KB stay whole for unsend), plus their text.
  assert.ok(maxKept <= 320 * 1024 + 200 + text.length, `kept up to ${maxKept} characters`);
  assert.ok(maxKept < 600_000, `kept up to ${maxKept} characters`);
  assert.equal(s.completionTokens(), countTextTokens(text));
  assert.equal(s.keptChars, text.length);
});

test('unsend takes back the newest frames, to the frame, even right after a fold', () => {
  const s = new StreamedText();
  let text = '';
  const pieces: string[] = [];
  // Frames of one length (4-digit words), pushed until the first fold has just happened.
  for (let i = 1000, kept = 0; ; i++) {
    const piece = ` word${i}`;
    text += piece;
    pieces.push(piece);
    s.push(frame({ content: piece }));
    if (s.keptChars < kept) break;
    kept = s.keptChars;
  }
  // Take back the last 100 KB of frames: what a cut client's buffer may hold.
  const f = frame({ content: pieces.at(-1)! }).length;
  const n = Math.floor((100 * 1024) / f);
  s.unsend(n * f + Math.floor(f / 2));
  assert.equal(s.completionTokens(), countTextTokens(pieces.slice(0, pieces.length - n - 1).join('')));
});

test('byte-string frames (Chinese, emoji), reasoning and tool-call text are all counted; unreadable frames add nothing', () => {
  const s = new StreamedText();
  s.asBytes = true;
  let text = '';
  for (let i = 0; i < 3_000; i++) {
    const content = `你好，世界 🙂 ${i}`;
    text += content;
    s.push(toByteString(frame({ content })));
  }
  s.push(toByteString(frame({ reasoning_content: ' 思考中' })));
  s.push(toByteString(frame({ tool_calls: [{ index: 0, function: { name: 'get_weather', arguments: '{"city":"巴黎"}' } }] })));
  s.push(toByteString('data: {not json\n\n: a comment\n\n'));
  text += ' 思考中' + 'get_weather' + '{"city":"巴黎"}';
  assert.equal(s.completionTokens(), countTextTokens(text));
});

test('a frame whose data spans several data lines is counted as one chunk', () => {
  const s = new StreamedText();
  const json = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: ' spread over lines' }, finish_reason: null }] });
  const cut = json.indexOf('"choices"');
  s.push(frame({ content: 'one' }) + `data: ${json.slice(0, cut)}\ndata: ${json.slice(cut)}\n\n`);
  assert.equal(s.completionTokens(), countTextTokens('one spread over lines'));
});
