import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { assertNoLeaks, upstreamSecrets } from '../helpers/http.ts';

// Streaming chat completions: byte-exact native OpenAI streams, the usage frame, tool
// call deltas, and relaying without buffering.

/** Splits an SSE body into its `data:` payloads. */
function dataFrames(text: string): string[] {
  return text
    .split('\n\n')
    .filter((f) => f.length > 0)
    .map((f) => {
      assert.ok(f.startsWith('data: '), `frame is a data line: ${JSON.stringify(f)}`);
      return f.slice(6);
    });
}

describe('chat completions (streaming)', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let client: OpenAI;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key } = await tg.customer());
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const streamRaw = async (body: Record<string, unknown>) => {
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  /** What the upstream itself sends for this request when the client did not ask for usage. */
  const nativeStream = async (body: Record<string, unknown>) => {
    const res = await fetch(`${up.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, model: 'upstream-flash' }),
    });
    return res.text();
  };

  for (const variant of ['no stream_options', 'stream_options.include_usage false'] as const) {
    test(`without include_usage the client gets exactly the native OpenAI stream (${variant})`, async () => {
      up.behave({ text: 'one two three four', cacheStyle: 'deepseek', promptTokens: 20, completionTokens: 4 });
      const body: Record<string, unknown> = { model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'count' }] };
      if (variant !== 'no stream_options') body.stream_options = { include_usage: false };
      const n = up.requests.length;
      const got = await streamRaw(body);
      assert.equal(got.status, 200, got.text);
      assert.match(got.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.match(got.headers.get('x-request-id') ?? '', /^req_/);
      // The upstream was asked for usage anyway (so the stream is metered).
      const sent = up.requests[n]!.body;
      assert.equal(sent.model, 'upstream-flash');
      assert.equal(sent.stream, true);
      assert.equal(sent.stream_options?.include_usage, true);

      const native = await nativeStream({ model: 'x', stream: true, messages: [{ role: 'user', content: 'count' }] });
      assert.ok(!native.includes('"usage"'), 'sanity: the native stream has no usage');
      const expected = native.replaceAll('"model":"upstream-flash"', '"model":"deepseek-v4-flash"');
      assert.notEqual(expected, native);
      assert.equal(got.text, expected);
      assert.ok(got.text.endsWith('data: [DONE]\n\n'));
      assert.ok(!got.text.includes('"usage"'));
      assert.ok(!got.text.includes('upstream-flash'));
      assertNoLeaks(got, [...upstreamSecrets(up), key]);
    });
  }

  test('the model is rewritten in every chunk when the upstream reports a dated snapshot name', async () => {
    up.behave({ text: 'a b', reportModel: 'upstream-flash-2025-01-01' });
    const got = await streamRaw({ model: 'deepseek/deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(got.status, 200);
    assert.ok(!got.text.includes('upstream-flash'), got.text);
    const chunks = dataFrames(got.text).slice(0, -1).map((f) => JSON.parse(f));
    assert.equal(chunks.length, 5); // role, a, b, finish, usage
    for (const c of chunks) assert.equal(c.model, 'deepseek/deepseek-v4-flash');
  });

  test('the model is rewritten, and "usage": null dropped, in frames written with spaces, as Python json.dumps and pydantic v1 write them', async () => {
    // FastChat and other Python servers send `{"id": "c1", "model": "upstream-flash", ...}`;
    // the rewrite looked for `"model":"` only, so their upstream model name reached the client.
    const spaced = (o: unknown) => `data: ${JSON.stringify(o).replace(/":/g, '": ').replace(/,"/g, ', "')}\n\n`;
    const base = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash' };
    up.behave({
      contentType: 'text/event-stream',
      rawBody: [
        spaced({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }], usage: null }),
        spaced({ ...base, usage: null, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
        spaced({ ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } }),
        'data: [DONE]\n\n',
      ].join(''),
    });
    try {
      const got = await streamRaw({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'x' }] });
      assert.equal(got.status, 200, got.text);
      assert.ok(!got.text.includes('upstream-flash'), got.text);
      const chunks = dataFrames(got.text).slice(0, -1);
      assert.equal(chunks.length, 2); // Hi, finish: the usage was not asked for
      for (const c of chunks) assert.equal(JSON.parse(c).model, 'deepseek-v4-flash');
      // Only the model's value changes; the upstream's spacing is kept. The `"usage": null`
      // an upstream writes into every chunk once asked for usage goes, as unspaced it does.
      assert.ok(chunks[0]!.startsWith('{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-v4-flash", "choices"'), chunks[0]);
      for (const c of chunks) assert.ok(!c.includes('usage'), c);
      assert.ok(chunks[1]!.startsWith('{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-v4-flash", "choices": [{'), chunks[1]);
    } finally {
      up.behave({});
    }
  });

  test('an upstream media type in capitals (TEXT/EVENT-STREAM) is still a stream', async () => {
    const frame = JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: { content: 'caps' }, finish_reason: null }] });
    up.behave({ contentType: 'TEXT/EVENT-STREAM; Charset=UTF-8', rawBody: `data: ${frame}\n\ndata: [DONE]\n\n` });
    try {
      const got = await streamRaw({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'x' }] });
      assert.equal(got.status, 200, got.text);
      assert.equal(JSON.parse(dataFrames(got.text)[0]!).choices[0].delta.content, 'caps');
      assert.ok(got.text.endsWith('data: [DONE]\n\n'));
    } finally {
      up.behave({});
    }
  });

  test('with include_usage the final frame carries usage in both cache styles and the cost', async () => {
    up.behave({ text: 'alpha beta', cacheStyle: 'deepseek', promptTokens: 100, cachedTokens: 40, completionTokens: 10 });
    const got = await streamRaw({ model: 'deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'go' }] });
    assert.equal(got.status, 200, got.text);
    assert.ok(got.text.endsWith('\n\ndata: [DONE]\n\n'));
    const frames = dataFrames(got.text);
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f));
    for (const c of chunks) assert.equal(c.model, 'deepseek-v4-flash');
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.equal(last.object, 'chat.completion.chunk');
    assert.equal(last.id, 'chatcmpl-fake123');
    assert.equal(last.usage.prompt_tokens, 100);
    assert.equal(last.usage.completion_tokens, 10);
    assert.equal(last.usage.total_tokens, 110);
    assert.equal(last.usage.prompt_tokens_details.cached_tokens, 40);
    assert.equal(last.usage.prompt_cache_hit_tokens, 40);
    assert.equal(last.usage.prompt_cache_miss_tokens, 60);
    assert.equal(last.usage.cost, '0.00001276');
    // Only the last frame has usage; content frames have the SDK's "usage": null.
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'alpha beta');
  });

  test('with include_usage via the SDK (openai-style upstream cache counts)', async () => {
    up.behave({ text: 'x y z', cacheStyle: 'openai', promptTokens: 100, cachedTokens: 40, completionTokens: 10 });
    const stream = await client.chat.completions.create({ model: 'deepseek-v4-flash', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'go' }] });
    let text = '';
    let usage: any = null;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    assert.equal(text, 'x y z');
    assert.equal(usage.prompt_tokens_details.cached_tokens, 40);
    assert.equal(usage.prompt_cache_hit_tokens, 40);
    assert.equal(usage.prompt_cache_miss_tokens, 60);
    assert.equal(usage.cost, '0.00001276');
  });

  test('streamed tool calls arrive through the SDK with correct indices', async () => {
    up.behave({ toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' }, { id: 'call_2', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' }] });
    const stream = await client.chat.completions.create({
      model: 'deepseek-v4-flash',
      stream: true,
      messages: [{ role: 'user', content: 'weather and time' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } },
      ],
    });
    const calls: Array<{ id?: string; name?: string; arguments: string }> = [];
    const indices: number[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      assert.equal(c.model, 'deepseek-v4-flash');
      const choice = c.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      for (const t of choice.delta.tool_calls ?? []) {
        indices.push(t.index);
        const slot = (calls[t.index] ??= { arguments: '' });
        if (t.id) slot.id = t.id;
        if (t.function?.name) slot.name = t.function.name;
        slot.arguments += t.function?.arguments ?? '';
      }
    }
    assert.deepEqual(indices, [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(calls, [
      { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
      { id: 'call_2', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
    ]);
    assert.deepEqual(JSON.parse(calls[0]!.arguments), { city: 'Paris', unit: 'c' });
    assert.equal(finish, 'tool_calls');
  });

  test('frames are relayed as they arrive, not buffered', async () => {
    // 8 frames (role, 4 words, finish, usage, [DONE]) 200 ms apart: ~1.4 s upstream. A
    // buffering relay would deliver every word at the end; this one delivers each as sent.
    up.behave({ text: 'w1 w2 w3 w4', chunkDelayMs: 200 });
    const t0 = performance.now();
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'slow' }] }),
    });
    assert.equal(res.status, 200);
    const decoder = new TextDecoder();
    let buf = '';
    const contentAt: number[] = [];
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) !== -1) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (frame === 'data: [DONE]') continue;
        const j = JSON.parse(frame.slice(6));
        if (j.choices?.[0]?.delta?.content) contentAt.push(performance.now() - t0);
      }
    }
    const end = performance.now() - t0;
    assert.equal(contentAt.length, 4);
    assert.ok(end >= 1300, `the upstream took ~1.4 s (took ${end.toFixed(0)} ms)`);
    assert.ok(end - contentAt[0]! >= 800, `first content ${contentAt[0]!.toFixed(0)} ms vs end ${end.toFixed(0)} ms`);
    // Each word arrives on its own, roughly 200 ms after the one before.
    for (let k = 1; k < contentAt.length; k++) assert.ok(contentAt[k]! - contentAt[k - 1]! >= 100, `gaps: ${contentAt.map((x) => x.toFixed(0)).join(', ')}`);
  });
});
