import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

// What a load balancer and a client see from a gateway that is draining (SIGTERM, or
// close()): the listener is closed at once, but a connection busy with a long stream
// stays open, and a request sent behind that stream (pipelined, or a health check on a
// pooled connection) is answered only once the stream is done. It must say the gateway
// is draining, in the gateway's own shapes, and close the connection.

let up: FakeOpenAI;
let tg: TestGateway;
let key: string;
let accountId: string;

before(async () => {
  up = await startFakeOpenAI({ text: Array.from({ length: 8 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 100 });
  tg = await startTestGateway({ config: defaultConfig(up.baseUrl) });
  ({ key, accountId } = await tg.customer());
});
after(async () => {
  await tg.close();
  await up.close();
});

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The responses on one connection, in order (bodies de-chunked). */
function parseResponses(raw: string): Parsed[] {
  const out: Parsed[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    rest = rest.slice(headEnd + 4);
    let body = '';
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const nl = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, nl), 16);
        body += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      const n = Number(headers['content-length'] ?? 0);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    }
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
  }
  return out;
}

test('a request behind an in-flight stream during the drain: /healthz says draining, the rest an OpenAI-shaped 503, and the connection closes', async () => {
  const u = new URL(tg.url);
  const body = JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const streamRequest = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const open = async () => {
    const sock = net.connect(Number(u.port), u.hostname);
    let raw = '';
    sock.setEncoding('latin1').on('data', (d: string) => (raw += d));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write(streamRequest);
    while (!raw.includes('w0')) await new Promise((r) => setTimeout(r, 10));
    return { sock, closed, raw: () => raw };
  };
  const health = await fetch(`${tg.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });

  const a = await open();
  const b = await open();
  const c = await open();
  const closing = tg.gw.close();
  await new Promise((r) => setTimeout(r, 100));
  a.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  b.sock.write(`GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`);
  c.sock.write(streamRequest);
  await Promise.all([a.closed, b.closed, c.closed]);
  await closing;

  const [streamA, healthz] = parseResponses(a.raw());
  const [streamB, models] = parseResponses(b.raw());
  for (const s of [streamA, streamB]) {
    assert.equal(s!.status, 200);
    assert.ok(s!.body.endsWith('data: [DONE]\n\n'), 'the in-flight stream was finished');
  }
  assert.equal(healthz?.status, 503, a.raw());
  assert.equal(healthz.headers.connection, 'close');
  assert.deepEqual(JSON.parse(healthz.body), { status: 'draining' });

  assert.equal(models?.status, 503, b.raw());
  assert.equal(models.headers.connection, 'close');
  assert.match(models.headers['content-type'] ?? '', /^application\/json/);
  assert.ok(Number(models.headers['retry-after']) >= 1);
  const err = JSON.parse(models.body).error;
  assert.equal(err.code, 'shutting_down');
  assert.equal(err.type, 'api_error');
  assert.equal(err.request_id, models.headers['x-request-id']);
  assert.match(err.request_id, /^req_/);

  // A chat request refused by the drain is answered the same way, and recorded: one
  // request-log row under its key's account, as every other refusal is.
  const [, chat] = parseResponses(c.raw());
  assert.equal(chat?.status, 503, c.raw());
  assert.equal(chat.headers.connection, 'close');
  const chatErr = JSON.parse(chat.body).error;
  assert.equal(chatErr.code, 'shutting_down');
  const store = new BetterSqlite3(join(tg.dir, 'tollgate.db'), { readonly: true });
  try {
    const row = store.prepare('SELECT status, error_code, account_id FROM requests WHERE id = ?').get(chatErr.request_id) as any;
    assert.deepEqual({ ...row }, { status: 503, error_code: 'shutting_down', account_id: accountId });
  } finally {
    store.close();
  }
});
