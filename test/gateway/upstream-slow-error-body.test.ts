import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { UPSTREAM_SECRET } from '../helpers/http.ts';

// An upstream's error body that trickles in (a byte at a time, each well within the
// pool's silence timeout) used to hold the client for as long as the upstream liked:
// reading an error body had no total bound. It now has one (a few seconds), then the
// status alone answers: a failover, or a 502.

/** An upstream that answers 500 and sends its 200-byte body one byte every 100 ms (20 s). */
async function tricklingUpstream(t: TestContext): Promise<{ url: string; closed: Promise<void> }> {
  let onClosed!: () => void;
  const closed = new Promise<void>((r) => (onClosed = r));
  const timers = new Set<NodeJS.Timeout>();
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => {
      sock.write('HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n');
      let sent = 0;
      const timer = setInterval(() => {
        if (sock.destroyed || sent === 200) return clearInterval(timer);
        sock.write(sent === 0 ? '{' : ' ');
        sent++;
      }, 100);
      timers.add(timer);
    });
    sock.on('close', () => onClosed());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const timer of timers) clearInterval(timer);
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1`, closed };
}

async function gateway(t: TestContext, providers: Array<{ id: string; url: string }>) {
  const tg = await startTestGateway({
    config: {
      providers: providers.map((p) => ({ id: p.id, kind: 'openai', base_url: p.url, api_key: UPSTREAM_SECRET, timeout_ms: 60_000, breaker: { failures: 1000, cooldown_ms: 10_000 } })),
      models: [{ id: 'm', upstreams: providers.map((p, i) => ({ provider: p.id, model: `${p.id}-model`, priority: providers.length - i })), pricing: { input: '1', output: '2' } }],
    },
  });
  t.after(() => tg.close());
  return new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
}

test('an error body that trickles in is read for a few seconds at most, then the status answers (502)', async (t) => {
  const slow = await tricklingUpstream(t);
  const client = await gateway(t, [{ id: 'slow', url: slow.url }]);
  const started = Date.now();
  const err = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  const elapsed = Date.now() - started;
  assert.equal(err.status, 502);
  assert.match(err.message, /HTTP 500/);
  assert.ok(elapsed < 10_000, `answered in ${elapsed} ms, not after the whole 20 s body`);
  // The half-read connection is not kept for another request.
  await Promise.race([slow.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the trickling connection stayed open')), 3_000))]);
});

test('an error body that trickles in fails over to the next route within the bound', async (t) => {
  const slow = await tricklingUpstream(t);
  const good = await startFakeOpenAI({ text: 'from the second route' });
  t.after(() => good.close());
  const client = await gateway(t, [
    { id: 'slow', url: slow.url },
    { id: 'good', url: good.baseUrl },
  ]);
  const started = Date.now();
  const answer = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  const elapsed = Date.now() - started;
  assert.equal(answer.choices[0]!.message.content, 'from the second route');
  assert.ok(elapsed >= 1_000, `the first route was tried first (${elapsed} ms)`);
  assert.ok(elapsed < 10_000, `answered in ${elapsed} ms`);
});
