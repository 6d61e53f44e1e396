import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway } from '../helpers/gateway.ts';
import { StreamedText } from '../../src/gateway/streamed-text.ts';

// A streaming client cut for reading nothing (send_timeout_ms) is charged for what was
// sent. What the gateway had written but still held in its own buffer never left the
// process: it was charged as if the client had it (~0.8% more output tokens here). It
// is now taken back, erring only in the client's favour (by the write in progress).

test('a client cut by send_timeout_ms is charged for no more than the frames that reached it, not for those left in the gateway', async (t) => {
  const up = await startFakeOpenAI();
  const tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), send_timeout_ms: 400 } });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const { key, accountId } = await tg.customer({ creditUsd: '10' });
  up.behave({ text: Array.from({ length: 4_000 }, (_, i) => `w${i}é${'x.'.repeat(1_000)}`).join(' '), usage: null });
  const body = JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'long' }], stream: true });
  const socket = net.connect(Number(new URL(tg.url).port), '127.0.0.1');
  t.after(() => socket.destroy());
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // The head, then nothing read until the gateway has cut the stream.
  let got = Buffer.alloc(0);
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (!got.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve();
    };
    socket.on('data', onData);
  });
  const head = got.toString('latin1');
  const id = /x-request-id: (\S+)/i.exec(head)![1]!;
  // The cut is known from the request's record, not from the upstream seeing an abort:
  // with loopback buffers grown large enough, the upstream had sent all of its 8 MB
  // before the cut, saw no abort, and the test waited in vain.
  let rec: any;
  for (let i = 0; i < 500 && !rec; i++) {
    rec = (await tg.admin('GET', `/requests?account_id=${accountId}`)).body.data.find((x: any) => x.id === id);
    if (!rec) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(rec, 'the request was recorded');
  // Now everything that reached this side of the connection.
  socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
  socket.resume();
  await new Promise((r) => socket.once('close', r));
  assert.equal(rec.error_code, 'client_send_timeout');
  // The whole frames received (a write is whole frames, so chunk-size lines fall between them).
  const text = got.subarray(got.indexOf('\r\n\r\n') + 4).toString('utf8');
  const received = new StreamedText();
  for (const f of text.split('\n\n').slice(0, -1)) received.push(`${f.slice(f.indexOf('data: '))}\n\n`);
  const receivedTokens = received.completionTokens();
  assert.ok(receivedTokens > 10_000, 'the client got part of the stream');
  assert.ok(receivedTokens < 4_000_000, 'and not all of it');
  assert.ok(rec.completion_tokens <= receivedTokens, `charged ${rec.completion_tokens} output tokens, no more than the ${receivedTokens} the client received`);
  // Short, if at all, by what the response's buffer held at the cut (its high-water mark
  // and the write that passed it): 0.4% on an idle machine, 1.1% under the full suite.
  assert.ok(rec.completion_tokens >= receivedTokens * 0.95, `charged ${rec.completion_tokens}: short of the ${receivedTokens} received by more than the buffer at the cut`);
});
