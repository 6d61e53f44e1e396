import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { countTextTokens } from '../../src/limits/token-count.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { sleep, UPSTREAM_SECRET } from '../helpers/http.ts';

// OpenAI-wire streams are relayed as bytes, never decoded (protocol/byte-strings.ts).
// These drive that path with what an ASCII stream never shows: Chinese text and emoji,
// characters and the model name split between two upstream reads, bytes that are not
// UTF-8, a byte order mark, an error message in Chinese, and a stream cut short whose
// text has to be decoded to be counted.

/** An upstream that answers every request with these pieces, each in its own write, 15 ms apart. */
async function scriptedUpstream(pieces: Buffer[]): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      for (const p of pieces) {
        await sleep(15);
        res.write(p);
      }
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const frame = (content: string, model = 'upstream-flash') =>
  `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"${model}","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
const usageFrame = 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"upstream-flash","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}\n\n';
const DONE = 'data: [DONE]\n\n';

/** `bytes` cut at each of the offsets. */
function cut(bytes: Buffer, ...at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const a of at) {
    out.push(bytes.subarray(from, a));
    from = a;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('streams relayed as bytes', () => {
  let key: string;
  const closers: Array<{ close(): Promise<void> }> = [];

  /** A gateway whose model `m` streams from an upstream sending `pieces`. */
  const gatewayFor = async (pieces: Buffer[], ownedBy?: string) => {
    const up = await scriptedUpstream(pieces);
    closers.push(up);
    const gw = await startTestGateway({
      config: {
        providers: [{ id: 'p', kind: 'openai', base_url: up.baseUrl, api_key: UPSTREAM_SECRET }],
        models: [{ id: 'm', ...(ownedBy ? { owned_by: ownedBy } : {}), upstreams: [{ provider: 'p', model: 'upstream-flash' }], pricing: { input: '0.16', output: '0.30' } }],
      },
    });
    closers.push(gw);
    return gw;
  };
  const streamBytes = async (gw: TestGateway, k: string, extra: Record<string, unknown> = {}) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra }),
    });
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
  };

  after(async () => {
    for (const c of closers.reverse()) await c.close();
  });

  test('Chinese text and emoji split inside characters and inside the model name come back as the same bytes', async () => {
    const text = frame('你好，世界') + frame('👍🏽 好的') + frame('é') + usageFrame + DONE;
    const bytes = Buffer.from(text);
    // Cut inside 你 (3 bytes), inside 👍 (4 bytes), inside é (2 bytes), and inside "upstream-flash".
    const ni = bytes.indexOf(Buffer.from('你'));
    const thumb = bytes.indexOf(Buffer.from('👍'));
    const e = bytes.indexOf(Buffer.from('é'));
    const model = bytes.indexOf(Buffer.from('upstream-flash'), thumb);
    const pieces = cut(bytes, ni + 1, ni + 2, thumb + 3, model + 5, e + 1);
    assert.equal(Buffer.concat(pieces).equals(bytes), true);
    const gw = await gatewayFor(pieces);
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key);
    assert.equal(got.status, 200);
    const expected = Buffer.from((frame('你好，世界', 'm') + frame('👍🏽 好的', 'm') + frame('é', 'm') + DONE));
    assert.equal(got.bytes.toString('utf8'), expected.toString('utf8'));
    assert.equal(got.bytes.equals(expected), true);
  });

  test('with include_usage, the usage frame joins a Chinese stream as valid UTF-8', async () => {
    const gw = await gatewayFor([Buffer.from(frame('你好') + usageFrame + DONE)]);
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key, { stream_options: { include_usage: true } });
    const frames = got.bytes.toString('utf8').split('\n\n').filter(Boolean);
    assert.equal(frames.length, 3, got.bytes.toString('utf8'));
    assert.equal(JSON.parse(frames[0]!.slice(6)).choices[0].delta.content, '你好');
    const usage = JSON.parse(frames[1]!.slice(6));
    assert.equal(usage.model, 'm');
    assert.equal(usage.usage.total_tokens, 12);
    assert.equal(frames[2], 'data: [DONE]');
  });

  test('a public model id that is not ASCII is written into every frame as UTF-8, the usage frame too', async () => {
    const gw = await gatewayFor([Buffer.from(frame('好') + frame('的') + usageFrame + DONE)], '深度求索');
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key, { model: '深度求索/m', stream_options: { include_usage: true } });
    assert.equal(got.status, 200, got.bytes.toString('utf8'));
    const frames = got.bytes.toString('utf8').split('\n\n').filter(Boolean);
    assert.equal(frames.pop(), 'data: [DONE]');
    assert.equal(frames.length, 3);
    for (const f of frames) assert.equal(JSON.parse(f.slice(6)).model, '深度求索/m');
  });

  test('bytes that are not UTF-8 are relayed as they came, not replaced', async () => {
    // 0xff never occurs in UTF-8; 0xe4 0xbd starts a 3-byte character that never ends.
    const bad = Buffer.concat([Buffer.from(frame('ok').slice(0, -4)), Buffer.from([0xff, 0xe4, 0xbd]), Buffer.from('"}}]}\n\n'), Buffer.from(usageFrame + DONE)]);
    const gw = await gatewayFor([bad]);
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key);
    const i = got.bytes.indexOf(Buffer.from([0xff, 0xe4, 0xbd]));
    assert.ok(i > 0, 'the bytes are still there');
    assert.equal(got.bytes.indexOf(Buffer.from('\ufffd')), -1, 'no replacement characters');
    assert.ok(got.bytes.toString('latin1').includes('"model":"m"'));
  });

  test('a UTF-8 byte order mark before the first frame is dropped, even split between two reads', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const gw = await gatewayFor([bom.subarray(0, 2), Buffer.concat([bom.subarray(2), Buffer.from(frame('first') + usageFrame + DONE)])]);
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key);
    assert.equal(got.bytes.toString('utf8'), frame('first', 'm') + DONE);
  });

  test('an error message escaped as \\u sequences (as Python writes JSON) reaches the client as that message', async () => {
    const message = '服务器过载';
    const escaped = JSON.stringify({ error: { message, type: 'server_error' } }).replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    assert.ok(escaped.includes('\\u670d'));
    const gw = await gatewayFor([Buffer.from(frame('部分') + `data: ${escaped}\n\n`)]);
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key);
    const frames = got.bytes.toString('utf8').split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice(6)));
    assert.equal(frames[1].error.message, message);
  });

  for (const style of ['raw', 'escaped'] as const) {
    test(`a content frame that also carries usage (Moonshot style) keeps its Chinese content (${style})`, async () => {
      let both = JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'upstream-flash', choices: [{ index: 0, delta: { content: '完成' }, finish_reason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }] });
      if (style === 'escaped') both = both.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      const gw = await gatewayFor([Buffer.from(frame('你好') + `data: ${both}\n\n` + DONE)]);
      ({ key } = await gw.customer());
      const got = await streamBytes(gw, key, { stream_options: { include_usage: true } });
      const frames = got.bytes.toString('utf8').split('\n\n').filter(Boolean);
      assert.equal(frames.pop(), 'data: [DONE]');
      const parsed = frames.map((f) => JSON.parse(f.slice(6)));
      assert.deepEqual(parsed.map((f) => f.choices[0]?.delta?.content ?? null), ['你好', '完成', null]);
      assert.equal(parsed[2].usage.total_tokens, 5);
      for (const f of parsed) assert.equal(f.model, 'm');
    });
  }

  test('an event whose data spans several lines reaches the client as the same data lines, and its usage is read', async () => {
    // SSE lets one event's data run over several `data:` lines, joined with line feeds;
    // JSON reads those as whitespace. No provider we know sends this, but the spec allows it.
    const lines = (model: string) =>
      `data: {"id":"c1","object":"chat.completion.chunk",\ndata: "created":1,"model":"${model}",\ndata: "choices":[{"index":0,"delta":{"content":"two lines"},"finish_reason":null}]}\n\n`;
    const usage = 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"upstream-flash","choices":[],"usage":\ndata: {"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}\n\n';
    const gw = await gatewayFor([Buffer.from(frame('one') + lines('upstream-flash') + usage + DONE)]);
    const c = await gw.customer();
    const got = await streamBytes(gw, c.key);
    assert.equal(got.status, 200);
    assert.equal(got.bytes.toString('utf8'), frame('one', 'm') + lines('m') + DONE);

    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: c.key, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const contents: string[] = [];
    let reported: number | undefined;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) contents.push(chunk.choices[0].delta.content);
      if (chunk.usage) reported = chunk.usage.completion_tokens;
    }
    assert.deepEqual(contents, ['one', 'two lines']);
    assert.equal(reported, 5, 'the usage spread over two lines was read, not estimated');
    await gw.gw.rt.journal.flush();
    const ledger = await gw.admin('GET', `/accounts/${c.accountId}/ledger?limit=10`);
    const charges = (ledger.body.data as any[]).filter((e) => e.kind === 'charge');
    assert.equal(charges.length, 2);
    for (const ch of charges) {
      assert.equal(ch.detail.completion_tokens, 5);
      assert.notEqual(ch.detail.usage_estimated, true);
    }
  });

  test('an error event with a Chinese message reaches the client as that message', async () => {
    const message = '服务器过载，请稍后再试';
    const gw = await gatewayFor([Buffer.from(frame('部分') + `data: ${JSON.stringify({ error: { message, type: 'server_error' } })}\n\n`)]);
    ({ key } = await gw.customer());
    const got = await streamBytes(gw, key);
    const frames = got.bytes.toString('utf8').split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice(6)));
    assert.equal(frames[0].choices[0].delta.content, '部分');
    assert.equal(frames[1].error.message, message);
    assert.equal(frames[1].error.code, 'upstream_error');
  });
});

describe('a cut stream of Chinese text', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  test('is charged for the text it streamed, counted as text', async () => {
    up.behave({ text: '今天 天气 很好 我们 去 公园', dieAfterChunks: 3, chunkDelayMs: 5 });
    const { accountId, key } = await tg.customer();
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    const id = res.headers.get('x-request-id')!;
    let streamed = '';
    for (const f of text.split('\n\n').filter(Boolean)) streamed += JSON.parse(f.slice(6)).choices?.[0]?.delta?.content ?? '';
    assert.equal(streamed, '今天 天气 很好');
    let charge: any;
    for (let i = 0; i < 50 && !charge; i++) {
      const r = await tg.admin('GET', `/accounts/${accountId}/ledger?limit=100`);
      charge = (r.body.data as any[]).find((e) => e.kind === 'charge' && e.request_id === id);
      if (!charge) await sleep(20);
    }
    assert.ok(charge, 'the cut stream was charged');
    assert.equal(charge.detail.usage_estimated, true);
    // Counted from the decoded text: the same bytes read as latin1 would count otherwise.
    assert.equal(charge.detail.completion_tokens, countTextTokens(streamed));
    assert.notEqual(countTextTokens(streamed), countTextTokens(Buffer.from(streamed).toString('latin1')));
  });
});
