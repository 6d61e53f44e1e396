import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { readChatStream } from '../helpers/http.ts';
import { ClientPool } from '../../src/http1/client-pool.ts';
import { dispatchUpstream } from '../../src/gateway/upstream-call.ts';

// Some CDN-fronted OpenAI-compatible hosts compress their answers whether or not the
// client asked. The gateway says `accept-encoding: identity`, and decodes what arrives
// compressed anyway (gzip, deflate, br), streams included; the body limits count the
// decoded bytes, so a small bomb is cut at the limit. It used to read the compressed
// bytes as the answer: a 502 "the body is not JSON", or a stream with no frames.

type Mode = 'gzip' | 'deflate' | 'deflate-raw' | 'br' | 'zstd' | 'zstd-429' | 'corrupt' | 'bomb-500';

let mode: Mode = 'gzip';
/** 64 MiB of spaces, 64 KiB on the wire: an error body far past the 1 MiB read of one. */
const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
const seen: Array<{ acceptEncoding: string | undefined }> = [];
let upstream: ReturnType<typeof createServer>;
let tg: TestGateway;
let client: OpenAI;

const usage = { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 };

function compressor(m: Mode): zlib.Gzip | zlib.Deflate | zlib.DeflateRaw | zlib.BrotliCompress {
  if (m === 'br') return zlib.createBrotliCompress();
  if (m === 'deflate') return zlib.createDeflate();
  if (m === 'deflate-raw') return zlib.createDeflateRaw();
  return zlib.createGzip();
}

function encodingName(m: Mode): string {
  return m === 'deflate-raw' ? 'deflate' : m === 'corrupt' || m === 'bomb-500' ? 'gzip' : m;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let raw = '';
  for await (const c of req) raw += c;
  const body = JSON.parse(raw);
  seen.push({ acceptEncoding: req.headers['accept-encoding'] });
  if (mode === 'bomb-500') {
    res.writeHead(500, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(bomb);
    return;
  }
  if (mode === 'zstd') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'zstd' });
    res.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    return;
  }
  if (mode === 'zstd-429') {
    res.writeHead(429, { 'content-type': 'application/json', 'content-encoding': 'zstd', 'retry-after': '7' });
    res.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    return;
  }
  if (mode === 'corrupt') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(Buffer.concat([zlib.gzipSync('{"id":"x"}').subarray(0, 10), Buffer.from('not deflate at all, not at all')]));
    return;
  }
  const created = Math.floor(Date.now() / 1000);
  if (!body.stream) {
    const json = JSON.stringify({ id: 'chatcmpl-z', object: 'chat.completion', created, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'Über compressed — 你好' }, finish_reason: 'stop' }], usage });
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encodingName(mode) });
    const z = compressor(mode);
    z.pipe(res);
    z.end(json);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': encodingName(mode) });
  const z = compressor(mode);
  z.pipe(res);
  const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const chunk = (delta: unknown, finish: string | null) => frame({ id: 'chatcmpl-z', object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }], usage: null });
  const frames = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'streamed' }, null), chunk({ content: ' and squeezed' }, null), chunk({}, 'stop'), frame({ id: 'chatcmpl-z', object: 'chat.completion.chunk', created, model: body.model, choices: [], usage }), 'data: [DONE]\n\n'];
  for (const f of frames) {
    z.write(f);
    // Each event leaves at once, as a streaming server's compressor is flushed per event.
    await new Promise<void>((resolve) => z.flush(() => resolve()));
    await new Promise((r) => setTimeout(r, 2));
  }
  z.end();
}

before(async () => {
  upstream = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.destroy(e as Error);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  tg = await startTestGateway({ upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` });
  client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
});

after(async () => {
  await tg.close();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('the gateway asks its upstream for an uncompressed answer', async () => {
  mode = 'gzip';
  seen.length = 0;
  await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(seen[0]?.acceptEncoding, 'identity');
});

for (const m of ['gzip', 'deflate', 'deflate-raw', 'br'] as const) {
  test(`a ${m} answer is decoded, read and charged`, async () => {
    mode = m;
    const { data, response } = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(data.choices[0]!.message.content, 'Über compressed — 你好');
    assert.equal(data.usage?.total_tokens, 13);
    assert.ok(Number(response.headers.get('x-tollgate-cost')) > 0);
    // The client gets plain JSON: nothing says it is compressed.
    assert.equal(response.headers.get('content-encoding'), null);
  });

  test(`a ${m} stream is decoded event by event`, async () => {
    mode = m;
    const stream = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    const { text, total } = await readChatStream(stream);
    assert.equal(text, 'streamed and squeezed');
    assert.equal(total, 13);
  });
}

test('an answer in a coding the gateway does not decode is a 502 that says so', async () => {
  mode = 'zstd';
  const err = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  assert.equal(err.status, 502);
  assert.match(err.message, /compressed as "zstd"/);
});

test('an error status whose body is in a coding the gateway does not decode still counts as that status', async () => {
  mode = 'zstd-429';
  const err = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  assert.equal(err.status, 429);
  assert.equal(err.headers?.get('retry-after'), '7');
});

test('a corrupt gzip answer is a 502 that says it could not be decoded', async () => {
  mode = 'corrupt';
  const err = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  assert.equal(err.status, 502);
  assert.match(err.message, /gzip body could not be decoded/);
});

test('a compressed error body that inflates far past its limit is cut, and the status still answers', async () => {
  mode = 'bomb-500';
  const err = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  assert.equal(err.status, 502);
  assert.match(err.message, /HTTP 500/);
});

/** The response of a call through the upstream client to a server that answers `body` as given, compressed as `coding`. */
async function compressedAnswer(t: TestContext, status: number, contentType: string, coding: string, body: Buffer) {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': contentType, 'content-encoding': coding });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const pool = new ClientPool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1, keepAliveTimeoutMs: 5_000, timeoutMs: 5_000, connectTimeoutMs: 3_000 });
  t.after(() => pool.destroy());
  return dispatchUpstream(pool, { method: 'POST', path: '/', headers: {}, body: '{}' }).response;
}

test('a compressed body piped and destroyed at a limit decodes no further', async (t) => {
  const res = await compressedAnswer(t, 500, 'application/json', 'gzip', bomb);
  let decoded = 0;
  await res.body
    .pipe((chunk) => {
      decoded += chunk.length;
      if (decoded > 1024 * 1024) res.body.destroy();
    })
    .then(
      () => assert.fail('the bomb was read to its end'),
      () => {},
    );
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(decoded > 1024 * 1024 && decoded < 2 * 1024 * 1024, `decoding stopped at the cut (${decoded} bytes)`);
});

test('a body read whole counts decoded bytes against its limit: a gzip bomb fails at the limit', async (t) => {
  const res = await compressedAnswer(t, 200, 'application/json', 'gzip', zlib.gzipSync(Buffer.alloc(128 * 1024 * 1024)));
  const err = await res.body.text('latin1', 1024 * 1024).then(
    () => assert.fail('the bomb was read whole'),
    (e: unknown) => e as { code?: string },
  );
  assert.equal(err.code, 'UPSTREAM_TOO_LARGE');
});

test('a compressed stream that inflates a thousandfold is stopped, however it is read', async (t) => {
  const res = await compressedAnswer(t, 200, 'text/event-stream', 'gzip', bomb);
  let decoded = 0;
  // A relay that keeps what has no frame end yet would hold all 64 MiB.
  const err = await res.body.pipe((chunk) => (decoded += chunk.length)).then(
    () => assert.fail('the bomb was read to its end'),
    (e: unknown) => e as { code?: string; message: string },
  );
  assert.equal(err.code, 'UPSTREAM_BAD_ENCODING');
  assert.match(err.message, /inflates/);
  assert.ok(decoded < 32 * 1024 * 1024, `stopped early (${decoded} bytes)`);
});

test('a consumer that throws on a decoded chunk fails its call, as on a plain one, and the process goes on', async (t) => {
  const res = await compressedAnswer(t, 200, 'text/event-stream', 'br', zlib.brotliCompressSync('data: {}\n\n'));
  const err = await res.body
    .pipe(() => {
      throw new RangeError('Invalid string length');
    })
    .then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e as Error,
    );
  assert.equal(err.message, 'Invalid string length');
});
