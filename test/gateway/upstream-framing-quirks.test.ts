import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import { startTestGateway } from '../helpers/gateway.ts';
import { readChatStream } from '../helpers/http.ts';

// Upstream answers that are well-formed HTTP/1.1 but less common, end to end through the
// gateway with the SDK: interim 100 and 103 heads before the answer, a chunked stream
// ending in trailers, `connection: close` on each answer (the next request opens a new
// connection), and an answer framed by the close alone.

const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };

function chunked(frames: string[], trailers: string): string {
  return frames.map((f) => `${Buffer.byteLength(f).toString(16)}\r\n${f}\r\n`).join('') + `0\r\n${trailers}\r\n`;
}

async function quirkyUpstream(t: TestContext): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sock.on('error', () => {});
    let text = '';
    sock.on('data', (c) => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(text)![1]);
      if (text.length < end + 4 + length) return;
      const body = JSON.parse(text.slice(end + 4, end + 4 + length));
      const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n';
      const created = 1_734_220_000;
      if (body.stream) {
        const chunk = (delta: unknown, finish: string | null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        const frames = [chunk({ role: 'assistant', content: 'with' }, null), chunk({ content: ' trailers' }, null), chunk({}, 'stop'), `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created, model: body.model, choices: [], usage })}\n\n`, 'data: [DONE]\n\n'];
        sock.end(`${interim}HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\ntrailer: x-upstream-status\r\n\r\n${chunked(frames, 'x-upstream-status: done\r\n')}`);
      } else {
        // No length, no chunks: the answer ends with the connection.
        const json = JSON.stringify({ id: 'c2', object: 'chat.completion', created, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'until close' }, finish_reason: 'stop' }], usage });
        sock.end(`${interim}HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${json}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1`, connections: () => connections };
}

test('interim heads, trailers, connection: close and close-delimited answers reach the client whole', async (t) => {
  const up = await quirkyUpstream(t);
  const tg = await startTestGateway({ upstream: up.url });
  t.after(() => tg.close());
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });

  for (let i = 0; i < 2; i++) {
    const stream = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    const { text, total } = await readChatStream(stream);
    assert.equal(text, 'with trailers');
    assert.equal(total, 7);
    const answer = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.choices[0]!.message.content, 'until close');
    assert.equal(answer.usage?.total_tokens, 7);
  }
  assert.equal(up.connections(), 4, 'a connection the upstream closed is never reused');
});
