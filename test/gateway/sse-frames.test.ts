import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createParser } from 'eventsource-parser';
import { KEEP_ALIVE, MAX_EVENT_CHARS, SseFrames } from '../../src/gateway/sse-frames.ts';
import { openaiAdapter } from '../../src/providers/openai/adapter.ts';
import { anthropicAdapter } from '../../src/providers/anthropic/adapter.ts';
import type { ChatCall, StreamItem, StreamTranslator } from '../../src/providers/types.ts';

// SseFrames must give the relay exactly what eventsource-parser + the wire's translator
// give, however the body is cut into reads: runs of plain frames are only a shortcut.

const CALL: ChatCall = { body: { model: 'm', messages: [] }, upstreamModel: 'up', stream: true, maxOutputTokens: undefined };

/** Items with runs of frames expanded into one chunk per frame, for comparison. */
function normalise(items: StreamItem[]): unknown[] {
  const out: unknown[] = [];
  for (const it of items) {
    if (it.kind !== 'frames' || it.text === KEEP_ALIVE) {
      out.push(it);
      continue;
    }
    assert.ok(it.text.endsWith('\n\n'), 'a run holds whole frames');
    // The relay searches a run for "usage":null only when the run says it mentions "usage":
    // a false "no" would leak usage:null to the client, a false "yes" costs a search.
    assert.equal(it.mentionsUsage, it.text.includes('"usage"'), 'a run says exactly whether it mentions "usage"');
    for (const f of it.text.slice(0, -2).split('\n\n')) {
      assert.ok(f.startsWith('data: '), `a run holds only data frames: ${JSON.stringify(f)}`);
      out.push({ kind: 'chunk', json: f.slice(6) });
    }
  }
  return out;
}

function reference(translator: StreamTranslator, body: string): unknown[] {
  const items: StreamItem[] = [];
  const p = createParser({ onEvent: (e) => translator.push({ event: e.event, data: e.data }, items), onComment: () => items.push({ kind: 'frames', text: KEEP_ALIVE, mentionsUsage: false }) });
  p.feed(body);
  translator.end(items);
  return items;
}

function viaFrames(translator: StreamTranslator, reads: string[]): { items: unknown[]; runs: number } {
  const items: StreamItem[] = [];
  const f = new SseFrames(translator, items);
  for (const r of reads) f.feed(r);
  f.end();
  translator.end(items);
  return { items: normalise(items), runs: items.filter((i) => i.kind === 'frames').length };
}

const chunk = (content: string, extra = '') => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-2025","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]${extra}}\n\n`;
const usageFrame = 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-2025","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}\n\n';
const errorFrame = 'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n';

const BODIES: Record<string, string> = {
  plain: chunk('Hel') + chunk('lo') + chunk(' "usage" is a word') + usageFrame + 'data: [DONE]\n\n',
  'usage null in every chunk (OpenAI with include_usage)': chunk('a', ',"usage":null') + chunk('b', ',"usage":null') + usageFrame + 'data: [DONE]\n\n',
  'comments and a keep-alive': ': OPENROUTER PROCESSING\n\n' + chunk('x') + ': ping\n\n' + chunk('y') + 'data: [DONE]\n\n',
  'an error mid-stream': chunk('partial') + errorFrame,
  'CRLF line ends': (chunk('one') + chunk('two') + usageFrame + 'data: [DONE]\n\n').replaceAll('\n', '\r\n'),
  'multi-line data and event fields': chunk('first') + 'event: message\ndata: {"id":"c1","choices":[{"index":0,"delta":{"content":"second"}}]}\n\n' + chunk('third') + 'data: [DONE]\n\n',
  'data without a space': chunk('a') + 'data:{"id":"c1","choices":[{"index":0,"delta":{"content":"b"}}]}\n\n' + 'data: [DONE]\n\n',
  'ends without [DONE]': chunk('a') + chunk('b'),
  'ends mid-frame': chunk('a') + 'data: {"id":"c1","choi',
  'non-ASCII content': chunk('héllo wörld ✓ 日本語') + chunk('🙂') + 'data: [DONE]\n\n',
};

for (const [name, body] of Object.entries(BODIES)) {
  test(`SseFrames matches eventsource-parser + translator: ${name}`, () => {
    const expected = reference(openaiAdapter.createStreamTranslator(CALL), body);
    // One read, then every split into two reads, then one character per read.
    assert.deepEqual(viaFrames(openaiAdapter.createStreamTranslator(CALL), [body]).items, expected);
    for (let cut = 1; cut < body.length; cut++) {
      assert.deepEqual(viaFrames(openaiAdapter.createStreamTranslator(CALL), [body.slice(0, cut), body.slice(cut)]).items, expected, `cut at ${cut}`);
    }
    assert.deepEqual(viaFrames(openaiAdapter.createStreamTranslator(CALL), [...body]).items, expected);
  });
}

test('plain frames read at once become one run, not one event each', () => {
  const body = chunk('a') + chunk('b') + chunk('c') + usageFrame + 'data: [DONE]\n\n';
  const items: StreamItem[] = [];
  const f = new SseFrames(openaiAdapter.createStreamTranslator(CALL), items);
  f.feed(body);
  assert.deepEqual(
    items.map((i) => i.kind),
    ['frames', 'usage', 'done'],
  );
  assert.equal((items[0] as { text: string }).text, chunk('a') + chunk('b') + chunk('c'));
});

test('a wire whose translator does not pass OpenAI frames always goes through the parser', () => {
  const body = 'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"claude","usage":{"input_tokens":3,"output_tokens":0}}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
  const got = viaFrames(anthropicAdapter.createStreamTranslator(CALL), [body]);
  assert.equal(got.runs, 0);
  assert.deepEqual(got.items, reference(anthropicAdapter.createStreamTranslator(CALL), body));
});

test('a frame is given to the relay as soon as its blank line arrives, wherever the reads cut it', () => {
  const body = chunk('a') + chunk('b');
  for (let cut = 1; cut < body.length; cut++) {
    const items: StreamItem[] = [];
    const f = new SseFrames(openaiAdapter.createStreamTranslator(CALL), items);
    f.feed(body.slice(0, cut));
    f.feed(body.slice(cut));
    // Both frames are complete after the second read: nothing may wait for the end.
    assert.deepEqual(normalise(items), [{ kind: 'chunk', json: chunk('a').slice(6, -2) }, { kind: 'chunk', json: chunk('b').slice(6, -2) }], `cut at ${cut}`);
  }
});

test('an event that never ends is refused past MAX_EVENT_CHARS, without searching what came before again', () => {
  for (const lineEnd of ['\n', '\r\n']) {
    const items: StreamItem[] = [];
    const f = new SseFrames(openaiAdapter.createStreamTranslator(CALL), items);
    f.feed(chunk('a').replace('\n\n', lineEnd + lineEnd) + 'data: {"id":"c1","choices":[{"delta":{"content":"');
    const piece = 'x'.repeat(64 * 1024);
    const started = performance.now();
    let fed = 0;
    assert.throws(() => {
      while (fed <= MAX_EVENT_CHARS + piece.length) {
        f.feed(piece);
        fed += piece.length;
      }
    }, (err: Error & { code?: string }) => err.code === 'UPSTREAM_TOO_LARGE');
    assert.ok(fed <= MAX_EVENT_CHARS, `refused by the limit (${fed} fed)`);
    // 512 reads of one event: linear, tens of ms; searching it all on each read took ~45 s.
    assert.ok(performance.now() - started < 5_000, `took ${Math.round(performance.now() - started)} ms`);
  }
});
