import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

// Requests node:http cannot parse get the same OpenAI-shaped errors as everything else,
// with a request id, and their connection is closed.

/** Writes raw bytes to the gateway and reads until the server closes the connection. */
function raw(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => reject(new Error(`no close within 5 s; got ${JSON.stringify(got)}`)));
  });
}

function parse(response: string): { status: number; headers: Record<string, string>; body: any } {
  const [head, body] = response.split('\r\n\r\n', 2) as [string, string];
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body) };
}

describe('requests that are not valid HTTP', () => {
  let tg: TestGateway;
  before(async () => {
    tg = await startTestGateway();
  });
  after(() => tg.close());

  for (const [name, bytes, status, code] of [
    ['headers over the size limit', `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'request_too_large'],
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400, 'invalid_request'],
    ['a Content-Length that is not a number', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'invalid_request'],
    // node:http's own answer to these was a bare 400 with no body and no request id.
    ['an HTTP/1.1 request with no Host header', 'GET /v1/models HTTP/1.1\r\n\r\n', 400, 'invalid_request'],
    ['a data-plane POST with no Host header', 'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}', 400, 'invalid_request'],
    ['two different Content-Lengths', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400, 'invalid_request'],
    // RFC 9112 §3.2: a request with two Host headers, or one that is not a host, is a 400.
    ['two Host headers', 'GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'invalid_request'],
    ['a Host header that is not a host', 'POST /v1/chat/completions HTTP/1.1\r\nHost: a b\r\nContent-Length: 2\r\n\r\n{}', 400, 'invalid_request'],
    // node:http's own answers: a bare 417, and for CONNECT no answer at all.
    ['an Expect header other than 100-continue', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}', 417, 'invalid_request'],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'method_not_allowed'],
  ] as const) {
    test(`${name}: ${status} ${code}, OpenAI-shaped, and the connection closed`, async () => {
      const res = parse(await raw(tg.url, bytes));
      assert.equal(res.status, status);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(res.headers.connection, 'close');
      assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message', 'param', 'request_id', 'type']);
      assert.equal(res.body.error.code, code);
      assert.equal(res.body.error.type, 'invalid_request_error');
      assert.match(res.body.error.request_id, /^req_/);
      assert.equal(res.headers['x-request-id'], res.body.error.request_id);
    });
  }

  test('a data-plane POST with no Host header is recorded, under its key\'s account', async () => {
    const { accountId, key } = await tg.customer();
    // The key is cached by a first request, so the refusal knows its account at once.
    assert.equal((await fetch(`${tg.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status, 200);
    const res = parse(await raw(tg.url, `POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer ${key}\r\nContent-Length: 2\r\n\r\n{}`));
    assert.equal(res.status, 400);
    await tg.gw.rt.journal.flush();
    const store = new BetterSqlite3(join(tg.dir, 'tollgate.db'), { readonly: true });
    try {
      const row = store.prepare('SELECT status, error_code, account_id, endpoint FROM requests WHERE id = ?').get(res.body.error.request_id) as any;
      assert.deepEqual({ ...row }, { status: 400, error_code: 'invalid_request', account_id: accountId, endpoint: 'chat.completions' });
    } finally {
      store.close();
    }
  });

  test('the gateway goes on serving', async () => {
    assert.equal((await fetch(`${tg.url}/healthz`)).status, 200);
  });
});
