import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestGateway } from '../helpers/gateway.ts';
import { MAX_EVENT_CHARS } from '../../src/gateway/sse-frames.ts';

// A streamed event is held until its blank line arrives. An upstream that starts an event
// and never ends it used to grow the gateway's heap until the process died; past
// MAX_EVENT_CHARS the stream now ends with an error frame and the connection is closed.

async function endlessEventUpstream(t: TestContext, lineEnd: string): Promise<{ url: string; sent: () => number; closed: Promise<void> }> {
  let sent = 0;
  let closed!: () => void;
  const sawClose = new Promise<void>((r) => (closed = r));
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.on('close', () => closed());
    sock.once('data', () => {
      const first = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' }, finish_reason: null }] })}${lineEnd}${lineEnd}`;
      sock.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${(first.length).toString(16)}\r\n${first}\r\n`);
      // Then one event that never ends: a data line without its line end.
      const opening = 'data: {"id":"c1","choices":[{"delta":{"content":"';
      sock.write(`${opening.length.toString(16)}\r\n${opening}\r\n`);
      const piece = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
      const pump = () => {
        while (!sock.destroyed && sock.write(piece)) sent += 0x10000;
      };
      sock.on('drain', pump);
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1`, sent: () => sent, closed: sawClose };
}

for (const [name, lineEnd] of [
  ['LF frames (the relay\'s shortcut)', '\n'],
  ['CRLF frames (the full SSE parser)', '\r\n'],
] as const) {
  test(`an upstream event that never ends is cut at its limit: ${name}`, async (t) => {
    const up = await endlessEventUpstream(t, lineEnd);
    const tg = await startTestGateway({ upstream: up.url });
    t.after(() => tg.close());
    const { key } = await tg.customer();
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /"content":"hi"/, 'the frames before the endless event were relayed');
    const last = text.trim().split('\n\n').at(-1)!;
    const err = JSON.parse(last.slice('data: '.length)) as { error: { code: string; message: string; request_id: string } };
    assert.equal(err.error.code, 'upstream_error');
    assert.match(err.error.message, /too large/);
    assert.ok(err.error.request_id);
    await Promise.race([up.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the upstream connection stayed open')), 5_000))]);
    assert.ok(up.sent() < 4 * MAX_EVENT_CHARS, `the gateway stopped reading soon after the limit (${up.sent()} bytes sent)`);
    // Recorded as the upstream's failure.
    await new Promise((r) => setTimeout(r, 100));
    const log = await tg.admin('GET', '/requests?limit=5');
    assert.equal(log.body.data[0].error_code, 'upstream_error');
  });
}
