import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startGatewayOnFakeOpenAI } from '../helpers/gateway.ts';

// What happens to a client connection around a response: a pipelined request that is not
// valid HTTP, sent while an earlier request on the same connection is still being
// answered, gets its 400 once that answer has ended (written at once, it landed inside a
// stream's chunked body, or was read as the answer to the first request, whose upstream
// call was then aborted); and a client's Connection: close is honoured after a stream.

/** Sends `first`, then `second` after `gapMs`; reads until the server closes. */
function pipelined(url: string, first: string, second: string, gapMs: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(first);
      setTimeout(() => socket.write(second), gapMs);
    });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error(`no close within 10 s; got ${JSON.stringify(got)}`)));
  });
}

test('a malformed pipelined request is answered after the response in flight, which is left whole', async (t) => {
  const { up, tg } = await startGatewayOnFakeOpenAI(t);
  const { key } = await tg.customer();
  const post = (body: object) => {
    const text = JSON.stringify(body);
    return `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\n\r\n${text}`;
  };
  const chat = { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] };
  const garbage = 'GARBAGE / HTTP/1.1\r\n\r\n';

  // A stream in progress: its chunked body ends properly ([DONE], then the last chunk),
  // and only then comes the 400, and the close.
  up.behave({ chunkDelayMs: 100, text: 'one two three four five' });
  const streamed = await pipelined(tg.url, post({ ...chat, stream: true }), garbage, 250);
  assert.match(streamed, /^HTTP\/1\.1 200 /);
  const end = streamed.indexOf('data: [DONE]\n\n\r\n0\r\n\r\n');
  assert.ok(end > 0, `the stream ends whole: ${JSON.stringify(streamed)}`);
  const after = streamed.slice(end + 'data: [DONE]\n\n\r\n0\r\n\r\n'.length);
  assert.match(after, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(streamed.indexOf('HTTP/1.1 400'), end + 'data: [DONE]\n\n\r\n0\r\n\r\n'.length, 'nothing of the 400 inside the stream');
  assert.match(after, /"code":"invalid_request"/);

  // A request waiting on its upstream gets its own answer first.
  up.behave({ delayMs: 300 });
  const answered = await pipelined(tg.url, post(chat), garbage, 50);
  assert.match(answered, /^HTTP\/1\.1 200 /);
  const second = answered.indexOf('HTTP/1.1 400');
  assert.ok(second > 0, answered);
  const firstBody = answered.slice(answered.indexOf('\r\n\r\n') + 4, second);
  assert.equal(JSON.parse(firstBody).object, 'chat.completion');

  // Both first requests were answered and logged as such (not as a client that left).
  await tg.gw.rt.journal.flush();
  const log = (await tg.admin('GET', '/requests?limit=2')).body.data;
  assert.deepEqual(log.map((r: any) => [r.status, r.error_code]), [[200, null], [200, null]]);
});

test('a stream asked for with Connection: close says so and closes the connection when it ends; a keep-alive one stays open', async (t) => {
  const { tg } = await startGatewayOnFakeOpenAI(t);
  const { key } = await tg.customer();
  const text = JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const request = (connection: string) =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nConnection: ${connection}\r\nContent-Length: ${text.length}\r\n\r\n${text}`;
  const closed = await pipelined(tg.url, request('close'), '', 0);
  assert.match(closed, /^HTTP\/1\.1 200 /);
  assert.match(closed, /\r\nconnection: close\r\n/i);
  assert.ok(closed.includes('data: [DONE]'));
  // Kept alive: the same connection carries a second request after the stream.
  const kept = await pipelined(tg.url, request('keep-alive'), request('close'), 300);
  assert.match(kept, /\r\nconnection: keep-alive\r\n/i);
  assert.equal(kept.split('data: [DONE]').length - 1, 2, 'both streams answered on one connection');
});

test('an absolute-form request target reaches the data plane as its path does (RFC 9112 §3.2.2)', async (t) => {
  const { tg } = await startGatewayOnFakeOpenAI(t);
  const { key } = await tg.customer();
  const text = JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
  const { port } = new URL(tg.url);
  const got = await pipelined(
    tg.url,
    `POST http://127.0.0.1:${port}/v1/chat/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${text.length}\r\n\r\n${text}`,
    '',
    0,
  );
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.equal(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).object, 'chat.completion');
  // Refusals read the same path: a wrong method is a 405, and a path in the query routes nothing.
  const get = await pipelined(tg.url, `GET http://127.0.0.1:${port}/v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, '', 0);
  assert.match(get, /^HTTP\/1\.1 405 /);
  assert.match(get, /\r\nallow: POST\r\n/i);
  const query = await pipelined(
    tg.url,
    `POST http://127.0.0.1:${port}?x=/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${text.length}\r\n\r\n${text}`,
    '',
    0,
  );
  assert.match(query, /^HTTP\/1\.1 404 /);
});

test('Expect: 100-continue gets its 100 only when the body will be read: a bad key or an oversized body is refused at once', async (t) => {
  const { tg } = await startGatewayOnFakeOpenAI(t);
  const { key } = await tg.customer();
  const text = JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
  const head = (auth: string, length: number) =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${auth}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: ${length}\r\n\r\n`;
  // The body follows only after a pause, as a client waiting for its 100 would send it.
  const good = await pipelined(tg.url, head(key, text.length), text, 300);
  assert.match(good, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  for (const [auth, length, status] of [
    ['sk-tg-not-a-key', text.length, 401],
    [key, 50 * 1024 * 1024, 413],
  ] as const) {
    // No body is ever sent: the answer and the close come without it.
    const refused = await pipelined(tg.url, head(auth, length), '', 0);
    assert.match(refused, new RegExp(`^HTTP/1\\.1 ${status} `), refused);
    assert.match(refused, /\r\nconnection: close\r\n/i);
  }
});
