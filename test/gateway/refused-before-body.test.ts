import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';
import { rawExchange } from '../helpers/http.ts';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';

// The key is checked before the body is read. The body used to be read and parsed first:
// anyone, with no key at all, could make the gateway buffer and JSON-parse up to
// max_body_bytes per request (10 MiB took the event loop ~300 ms, stalling every other
// client). A request whose key is refused is now answered 401 at once; its body is
// discarded as it arrives, never kept or parsed.

/** Sends a request head (and whatever of the body is given), never the rest, and reads one whole answer. */
async function headOnly(url: string, head: string): Promise<{ text: string }> {
  return { text: await rawExchange(url, head) };
}

describe('a refused key is answered before the body is read', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let keyId: string;
  onFakeOpenAI((s) => ({ up, tg, key } = s));

  const head = (auth: string | null, framing = 'Content-Length: 10000000', bodyStart = '{"model":') =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${auth === null ? '' : `Authorization: ${auth}\r\n`}${framing}\r\n\r\n${bodyStart}`;

  const cases: Array<[string, () => string]> = [
    ['no key', () => head(null)],
    ['a malformed key', () => head('Bearer not-a-tollgate-key')],
    ['an unknown key (looked up in the store)', () => head(`Bearer sk-tg-${'Z'.repeat(43)}`)],
    ['a revoked key', () => head(`Bearer ${revokedKey}`)],
    ['no key, chunked', () => head(null, 'Transfer-Encoding: chunked', '9\r\n{"model":\r\n')],
  ];
  let revokedKey = '';

  for (const [name, make] of cases) {
    test(`${name}: 401 invalid_api_key at once, the upstream not called`, async () => {
      if (!revokedKey) {
        const c = await tg.customer({ name: 'revoked' });
        assert.equal((await tg.admin('DELETE', `/keys/${c.keyId}`)).status, 200);
        revokedKey = c.key;
        keyId = c.keyId;
      }
      const before = up.requests.length;
      const { text } = await headOnly(tg.url, make());
      assert.match(text, /^HTTP\/1\.1 401 /);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
      assert.equal(body.error.code, 'invalid_api_key');
      assert.match(text, new RegExp(`x-request-id: ${body.error.request_id}`));
      assert.equal(up.requests.length, before);
    });
  }

  test('a good key still has its body read and answered', async () => {
    assert.ok(keyId);
    const res = await fetch(`${tg.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    // And a bad body with a good key is still the body's error.
    const bad = await fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).error.code, 'invalid_json');
  });
});

// Fastify read and parsed the body of a request to an endpoint that does not exist before
// answering 404: the same 10 MiB parse, open to anyone, on any path.
describe('an unknown endpoint is answered before the body is read', () => {
  let tg: TestGateway;
  onFakeOpenAI((s) => ({ tg } = s));

  for (const [method, path, status, code] of [
    ['POST', '/v1/nothing', 404, 'not_found'],
    ['POST', '/admin/v1/nothing', 404, 'not_found'],
    ['PUT', '/v1/chat/completions', 405, 'method_not_allowed'],
    ['POST', '/v1/models', 405, 'method_not_allowed'],
    ['POST', '/healthz', 405, 'method_not_allowed'],
  ] as const) {
    test(`${method} ${path}: ${status} ${code} with the body withheld`, async () => {
      const { text } = await headOnly(tg.url, `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"x":`);
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `));
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
      assert.equal(body.error.code, code);
      assert.match(text, new RegExp(`x-request-id: ${body.error.request_id}`));
    });
  }

  test('the connection serves the next request once the refused body has been sent', async () => {
    const res = await fetch(`${tg.url}/v1/nothing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(100_000) }) });
    assert.equal(res.status, 404);
    await res.text();
    assert.equal((await fetch(`${tg.url}/healthz`)).status, 200);
  });
});

// A body declared over max_body_bytes was answered 413 and its connection closed before
// the key was looked at. Checked after the key, a refused key's answer kept the connection
// open and read the whole declared body (gigabytes, from someone with no key) to discard it.
describe('a refused key with a body declared over max_body_bytes', () => {
  let tg: TestGateway;
  onFakeOpenAI((s) => ({ tg } = s));

  for (const [name, auth] of [
    ['no key', ''],
    ['an unknown key', `Authorization: Bearer sk-tg-${'Y'.repeat(43)}\r\n`],
  ] as const) {
    test(`${name}: answered, and the connection closed without reading the body`, async () => {
      const { hostname, port } = new URL(tg.url);
      const { text, closed } = await new Promise<{ text: string; closed: boolean }>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () =>
          socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${auth}Content-Length: 20000000000\r\n\r\n{"model":`),
        );
        let got = '';
        socket.setEncoding('latin1');
        socket.on('data', (c: string) => (got += c));
        socket.on('end', () => resolve({ text: got, closed: true }));
        socket.on('error', reject);
        socket.setTimeout(3_000, () => {
          socket.destroy();
          resolve({ text: got, closed: false });
        });
      });
      assert.match(text, /^HTTP\/1\.1 4\d\d /);
      assert.match(text, /\r\nconnection: close\r\n/i);
      assert.ok(closed, `the connection was left open to read the body; got ${JSON.stringify(text)}`);
    });
  }
});
